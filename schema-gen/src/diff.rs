//! Diff: what clients of one graph may find broken in the next (hot reload reports these).
//!
//! Pure: two catalogs in, a list of changes out. Additions that cannot break a valid query
//! are not reported; removals, incompatible type changes and new required inputs are.

use std::fmt;

use indexmap::IndexMap;

use crate::catalog::{Catalog, InputValue, TypeKind, TypeRef};

/// A change from one served graph to the next that can break a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakingChange {
    /// Stable kind, the metric label: type_removed, type_kind_changed, field_removed,
    /// field_type_changed, argument_removed, argument_type_changed, required_argument_added,
    /// input_field_removed, input_field_type_changed, required_input_field_added,
    /// enum_value_removed, union_member_removed.
    pub kind: &'static str,
    /// Schema coordinate (`Query.pets(status:)`).
    pub at: String,
    pub detail: String,
}

impl fmt::Display for BreakingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.detail)
    }
}

/// The labels of one kind of input list (arguments or input-object fields).
struct InputKinds {
    removed: &'static str,
    type_changed: &'static str,
    required_added: &'static str,
    /// `argument` / `input field`, for details.
    noun: &'static str,
}

const ARGUMENTS: InputKinds = InputKinds {
    removed: "argument_removed",
    type_changed: "argument_type_changed",
    required_added: "required_argument_added",
    noun: "argument",
};

const INPUT_FIELDS: InputKinds = InputKinds {
    removed: "input_field_removed",
    type_changed: "input_field_type_changed",
    required_added: "required_input_field_added",
    noun: "input field",
};

/// What clients of `old` may find broken in `new`: removed or changed types, fields,
/// arguments, input fields, enum values and union members, and new required inputs.
pub fn breaking_changes(old: &Catalog, new: &Catalog) -> Vec<BreakingChange> {
    let mut changes = Vec::new();
    let mut push =
        |kind, at: String, detail: String| changes.push(BreakingChange { kind, at, detail });
    for (name, old_def) in &old.types {
        let Some(new_def) = new.types.get(name) else {
            push(
                "type_removed",
                name.clone(),
                format!("{} removed", old_def.kind.keyword()),
            );
            continue;
        };
        match (&old_def.kind, &new_def.kind) {
            (TypeKind::Object(a), TypeKind::Object(b)) => {
                for (field_name, old_field) in &a.fields {
                    let at = format!("{name}.{field_name}");
                    let Some(new_field) = b.fields.get(field_name) else {
                        push("field_removed", at, "field removed".into());
                        continue;
                    };
                    if !output_compatible(&old_field.ty, &new_field.ty) {
                        push(
                            "field_type_changed",
                            at.clone(),
                            format!("type changed from {} to {}", old_field.ty, new_field.ty),
                        );
                    }
                    inputs(
                        &old_field.args,
                        &new_field.args,
                        &ARGUMENTS,
                        |n| format!("{at}({n}:)"),
                        &mut push,
                    );
                }
            }
            (TypeKind::Input(a), TypeKind::Input(b)) => {
                inputs(
                    &a.fields,
                    &b.fields,
                    &INPUT_FIELDS,
                    |n| format!("{name}.{n}"),
                    &mut push,
                );
            }
            (TypeKind::Enum(a), TypeKind::Enum(b)) => {
                for value in a.values.keys().filter(|v| !b.values.contains_key(*v)) {
                    push(
                        "enum_value_removed",
                        format!("{name}.{value}"),
                        "enum value removed".into(),
                    );
                }
            }
            (TypeKind::Union(a), TypeKind::Union(b)) => {
                for member in a.members.iter().filter(|m| !b.members.contains(m)) {
                    push(
                        "union_member_removed",
                        name.clone(),
                        format!("member {member} removed"),
                    );
                }
            }
            (TypeKind::Scalar, TypeKind::Scalar) => {}
            (a, b) => push(
                "type_kind_changed",
                name.clone(),
                format!("changed from {} to {}", a.keyword(), b.keyword()),
            ),
        }
    }
    changes
}

/// Arguments or input fields: removed, retyped incompatibly, or newly required.
fn inputs(
    old: &IndexMap<String, InputValue>,
    new: &IndexMap<String, InputValue>,
    kinds: &InputKinds,
    at: impl Fn(&str) -> String,
    push: &mut impl FnMut(&'static str, String, String),
) {
    for (name, old_value) in old {
        match new.get(name) {
            None => push(kinds.removed, at(name), format!("{} removed", kinds.noun)),
            Some(new_value) if !input_compatible(&old_value.ty, &new_value.ty) => push(
                kinds.type_changed,
                at(name),
                format!("type changed from {} to {}", old_value.ty, new_value.ty),
            ),
            Some(_) => {}
        }
    }
    for (name, new_value) in new {
        if !old.contains_key(name) && new_value.ty.is_non_null() && new_value.default.is_none() {
            push(
                kinds.required_added,
                at(name),
                format!("new required {} of type {}", kinds.noun, new_value.ty),
            );
        }
    }
}

/// An output type may become stricter (`String` → `String!`) without breaking a client.
fn output_compatible(old: &TypeRef, new: &TypeRef) -> bool {
    match (old, new) {
        (TypeRef::NonNull(a), TypeRef::NonNull(b)) => output_compatible(a, b),
        (a, TypeRef::NonNull(b)) => output_compatible(a, b),
        (TypeRef::List(a), TypeRef::List(b)) => output_compatible(a, b),
        (TypeRef::Named(a), TypeRef::Named(b)) => a == b,
        _ => false,
    }
}

/// An input type may become looser (`ID!` → `ID`) without breaking a client.
fn input_compatible(old: &TypeRef, new: &TypeRef) -> bool {
    match (old, new) {
        (TypeRef::NonNull(a), TypeRef::NonNull(b)) => input_compatible(a, b),
        (TypeRef::NonNull(a), b) => input_compatible(a, b),
        (TypeRef::List(a), TypeRef::List(b)) => input_compatible(a, b),
        (TypeRef::Named(a), TypeRef::Named(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{SdlFile, parse_files};

    fn catalog(sdl: &str) -> Catalog {
        let checked = parse_files(&[SdlFile::new("t.graphql", sdl)]);
        checked
            .catalog
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics))
    }

    const OLD: &str = r#"
schema @source(name: "s", rest: {baseUrl: "http://127.0.0.1:1"}) { query: Query }
type Query {
  pets(status: String, limit: Int!): [Pet] @rest(source: "s", path: "/pets")
  owner: Owner @rest(source: "s", path: "/owner")
  count: Int @rest(source: "s", path: "/count")
}
type Pet { id: ID name: String kind: Kind }
type Owner { id: ID }
enum Kind { CAT DOG }
"#;

    #[test]
    fn removed_and_changed_elements_are_breaking_and_additions_are_not() {
        let new = r#"
schema @source(name: "s", rest: {baseUrl: "http://127.0.0.1:1"}) { query: Query }
type Query {
  pets(limit: Int, species: String!): [Pet!] @rest(source: "s", path: "/pets")
  count: String @rest(source: "s", path: "/count")
  extra: Int @rest(source: "s", path: "/extra")
}
type Pet { id: ID! name: String kind: Kind born: String }
enum Kind { CAT }
"#;
        let changes: Vec<String> = breaking_changes(&catalog(OLD), &catalog(new))
            .iter()
            .map(|c| format!("{} {c}", c.kind))
            .collect();
        assert_eq!(
            changes,
            [
                "argument_removed Query.pets(status:): argument removed",
                "required_argument_added Query.pets(species:): new required argument of type String!",
                "field_removed Query.owner: field removed",
                "field_type_changed Query.count: type changed from Int to String",
                "type_removed Owner: type removed",
                "enum_value_removed Kind.DOG: enum value removed",
            ]
        );
    }

    #[test]
    fn the_same_graph_has_no_breaking_changes() {
        assert!(breaking_changes(&catalog(OLD), &catalog(OLD)).is_empty());
    }
}
