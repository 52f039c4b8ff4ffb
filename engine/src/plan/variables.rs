//! Accepting a request's variable values without validating its document again.
//!
//! async-graphql validates a document with its variables, and of its rules only
//! ArgumentsOfCorrectType (and the `@skip`/`@include` parameters) read the values. So a
//! document is validated once with placeholder variables (every `@skip`/`@include` variable
//! `false`, the rest absent: their arguments are then not checked) and the result cached; a
//! request's values are accepted by [`acceptable`] when each fits its declared type — which
//! VariablesInAllowedPosition (checked with the document) makes at least as strict as every
//! argument the variable reaches.
//!
//! The check is conservative: anything it is unsure of (a `null` inside a list or an input
//! object, an input object that is not an object) is not
//! accepted, and the request is validated in full by async-graphql, which reports the error
//! exactly as without this shortcut. Accepting a value async-graphql would refuse is the one
//! thing it must never do.
//!
//! A variable given as `null` (clients often send `"after": null`) is accepted when its
//! declared type is nullable and every use of it in the document is a field argument of a
//! nullable type: VariablesInAllowedPosition lets a nullable variable with a default reach a
//! non-null argument, or any nullable variable reach a non-null argument that has a default,
//! and an explicit `null` there is an error. Any other use (in a directive, inside a list or
//! an object, an argument of a field the catalog does not know) leaves it to full validation.

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationDefinition, Selection, SelectionSet, Type,
};
use async_graphql::{Name, Variables};
use async_graphql_value::{ConstValue, Value};
use schema_gen::catalog::{Catalog, TypeKind, TypeRef};

/// True when every given variable's value fits its declared type (absent ones are left to
/// their defaults; a missing required variable is reported before this). A `null` is
/// accepted for the variables `nulls_accepted` lists ([`nulls_accepted`], computed once per
/// document).
pub fn acceptable(
    op: &OperationDefinition,
    variables: &Variables,
    catalog: &Catalog,
    nulls_accepted: &[Name],
) -> bool {
    op.variable_definitions.iter().all(|def| {
        let name = &def.node.name.node;
        match variables.get(name) {
            None => true,
            Some(ConstValue::Null) => nulls_accepted.contains(name),
            Some(value) => fits(value, &type_ref(&def.node.var_type.node), catalog),
        }
    })
}

/// The variables of `op` for which an explicit `null` is valid whatever the document does
/// with them: nullable ones used only as whole nullable field arguments. A property of the
/// document, not of a request's values.
pub fn nulls_accepted(
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    catalog: &Catalog,
) -> Vec<Name> {
    op.variable_definitions
        .iter()
        .map(|def| &def.node)
        .filter(|def| def.var_type.node.nullable && null_allowed(doc, op, &def.name.node, catalog))
        .map(|def| def.name.node.clone())
        .collect()
}

/// Whether `$name` is used only as whole field arguments of nullable types (and at least
/// once): then an explicit `null` for it is valid wherever it goes.
fn null_allowed(
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    name: &str,
    catalog: &Catalog,
) -> bool {
    let root = match op.ty {
        async_graphql::parser::types::OperationType::Query => Some(catalog.roots.query.as_str()),
        async_graphql::parser::types::OperationType::Mutation => catalog.roots.mutation.as_deref(),
        async_graphql::parser::types::OperationType::Subscription => {
            catalog.roots.subscription.as_deref()
        }
    };
    let Some(root) = root else {
        return false;
    };
    let mut uses = Uses { name, found: 0 };
    let in_op_directives = op.directives.iter().any(|d| uses.in_directive(&d.node));
    let ok = !in_op_directives
        && uses.selection_set(&op.selection_set.node, root, catalog)
        && doc.fragments.values().all(|fragment| {
            let fragment = &fragment.node;
            !fragment
                .directives
                .iter()
                .any(|d| uses.in_directive(&d.node))
                && uses.selection_set(
                    &fragment.selection_set.node,
                    &fragment.type_condition.node.on.node,
                    catalog,
                )
        });
    ok && uses.found > 0
}

/// Walks a document for the uses of one variable.
struct Uses<'a> {
    name: &'a str,
    /// Uses seen as nullable field arguments.
    found: usize,
}

impl Uses<'_> {
    /// False when the variable is used anywhere but as a whole nullable field argument.
    fn selection_set(&mut self, set: &SelectionSet, on: &str, catalog: &Catalog) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                if field.directives.iter().any(|d| self.in_directive(&d.node)) {
                    return false;
                }
                let def = catalog
                    .object(on)
                    .and_then(|o| o.fields.get(field.name.node.as_str()));
                for (arg, value) in &field.arguments {
                    match &value.node {
                        Value::Variable(v) if v.as_str() == self.name => {
                            let nullable = def
                                .and_then(|d| d.args.get(arg.node.as_str()))
                                .is_some_and(|a| !a.ty.is_non_null());
                            if !nullable {
                                return false;
                            }
                            self.found += 1;
                        }
                        other if self.mentions(other) => return false,
                        _ => {}
                    }
                }
                match def {
                    Some(def) => {
                        self.selection_set(&field.selection_set.node, def.ty.base(), catalog)
                    }
                    // `__typename`, introspection: no variable may hide below.
                    None => !self.set_mentions(&field.selection_set.node),
                }
            }
            Selection::FragmentSpread(spread) => {
                // The fragment itself is walked once, from its definition.
                !spread
                    .node
                    .directives
                    .iter()
                    .any(|d| self.in_directive(&d.node))
            }
            Selection::InlineFragment(inline) => {
                let inline = &inline.node;
                let on = inline
                    .type_condition
                    .as_ref()
                    .map_or(on, |t| t.node.on.node.as_str());
                !inline.directives.iter().any(|d| self.in_directive(&d.node))
                    && self.selection_set(&inline.selection_set.node, on, catalog)
            }
        })
    }

    fn in_directive(&self, directive: &async_graphql::parser::types::Directive) -> bool {
        directive
            .arguments
            .iter()
            .any(|(_, value)| self.mentions(&value.node))
    }

    fn mentions(&self, value: &Value) -> bool {
        match value {
            Value::Variable(v) => v.as_str() == self.name,
            Value::List(items) => items.iter().any(|v| self.mentions(v)),
            Value::Object(fields) => fields.values().any(|v| self.mentions(v)),
            _ => false,
        }
    }

    /// Whether the variable appears anywhere in `set` (arguments or directives).
    fn set_mentions(&self, set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                field.arguments.iter().any(|(_, v)| self.mentions(&v.node))
                    || field.directives.iter().any(|d| self.in_directive(&d.node))
                    || self.set_mentions(&field.selection_set.node)
            }
            Selection::FragmentSpread(spread) => spread
                .node
                .directives
                .iter()
                .any(|d| self.in_directive(&d.node)),
            Selection::InlineFragment(inline) => {
                inline
                    .node
                    .directives
                    .iter()
                    .any(|d| self.in_directive(&d.node))
                    || self.set_mentions(&inline.node.selection_set.node)
            }
        })
    }
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        base
    } else {
        TypeRef::NonNull(Box::new(base))
    }
}

fn fits(value: &ConstValue, ty: &TypeRef, catalog: &Catalog) -> bool {
    match (ty, value) {
        // A null inside a list or an input object: its position is not traced (a variable's
        // own null is decided by `null_allowed`), so left to async-graphql.
        (_, ConstValue::Null) => false,
        (TypeRef::NonNull(inner), _) => fits(value, inner, catalog),
        (TypeRef::List(inner), ConstValue::List(items)) => {
            items.iter().all(|item| fits(item, inner, catalog))
        }
        // Input coercion: a single value where a list is expected is a list of one.
        (TypeRef::List(inner), _) => fits(value, inner, catalog),
        (TypeRef::Named(name), _) => named_fits(value, name, catalog),
    }
}

fn named_fits(value: &ConstValue, name: &str, catalog: &Catalog) -> bool {
    match (name, value) {
        ("Int", ConstValue::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ("Float", ConstValue::Number(_)) => true,
        ("String", ConstValue::String(_)) => true,
        ("Boolean", ConstValue::Boolean(_)) => true,
        ("ID", ConstValue::String(_)) => true,
        ("ID", ConstValue::Number(n)) => n.is_i64() || n.is_u64(),
        // The scalar's own validator: numbers and decimal strings within 64 bits.
        ("Int64", v) => crate::resolve::int64_input_valid(v),
        ("Int" | "Float" | "String" | "Boolean" | "ID", _) => false,
        ("JSON", _) => true,
        _ => match catalog.types.get(name).map(|t| &t.kind) {
            // `JSON` and other custom scalars take any value.
            Some(TypeKind::Scalar) => true,
            Some(TypeKind::Enum(e)) => match value {
                ConstValue::String(s) => e.values.contains_key(s.as_str()),
                ConstValue::Enum(n) => e.values.contains_key(n.as_str()),
                _ => false,
            },
            Some(TypeKind::Input(input)) => match value {
                ConstValue::Object(fields) => {
                    fields.keys().all(|k| input.fields.contains_key(k.as_str()))
                        && input.fields.values().all(|field| {
                            match fields.get(field.name.as_str()) {
                                Some(v) => fits(v, &field.ty, catalog),
                                None => !field.ty.is_non_null() || field.default.is_some(),
                            }
                        })
                }
                _ => false,
            },
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use schema_gen::parse::{SdlFile, parse_files};
    use serde_json::json;

    use super::*;

    const SDL: &str = r#"
schema @source(name: "s", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query }
type Query {
  q(a: Int, f: Filter, ids: [ID!], s: Status, big: Int64, j: JSON): Int @rest(source: "s", path: "/q")
  r(n: Int!): Int @rest(source: "s", path: "/r")
  d(n: Int! = 3): Int @rest(source: "s", path: "/d")
  t: T @rest(source: "s", path: "/t")
}
type T { u(a: Int): Int }
input Filter { tag: String!, limit: Int = 10, nested: Filter }
enum Status { OPEN CLOSED }
"#;

    fn check(declarations: &str, variables: serde_json::Value) -> bool {
        check_doc(&format!("query Q({declarations}) {{ q }}"), variables)
    }

    fn check_doc(document: &str, variables: serde_json::Value) -> bool {
        let catalog = parse_files(&[SdlFile::new("t.graphql", SDL)])
            .catalog
            .unwrap();
        let doc = async_graphql::parser::parse_query(document).unwrap();
        let op = doc.operations.iter().next().unwrap().1;
        let nulls = nulls_accepted(&doc, &op.node, &catalog);
        acceptable(&op.node, &Variables::from_json(variables), &catalog, &nulls)
    }

    #[test]
    fn a_null_is_accepted_only_where_every_use_takes_null() {
        let null = || json!({"a": null});
        // Whole nullable arguments, directly, in an inline fragment or in a fragment.
        assert!(check_doc("query Q($a: Int) { q(a: $a) }", null()));
        assert!(check_doc(
            "query Q($a: Int = 2) { q(a: $a) t { u(a: $a) } }",
            null()
        ));
        assert!(check_doc(
            "query Q($a: Int) { ... on Query { q(a: $a) } ...F } fragment F on Query { t { u(a: $a) } }",
            null()
        ));
        // A non-null variable; a non-null argument (reached through a default, of the
        // variable or of the argument); a use in a directive or inside a list; a field the
        // catalog does not know.
        assert!(!check_doc("query Q($a: Int!) { q(a: $a) }", null()));
        assert!(!check_doc("query Q($a: Int = 1) { r(n: $a) }", null()));
        assert!(!check_doc("query Q($a: Int) { d(n: $a) }", null()));
        assert!(!check_doc(
            "query Q($a: Int) { q(a: $a) t { u(a: $a) } r(n: $a) }",
            null()
        ));
        assert!(!check_doc(
            "query Q($a: Boolean) { q @include(if: $a) }",
            json!({"a": null})
        ));
        assert!(!check_doc("query Q($a: ID) { q(ids: [$a]) }", null()));
        assert!(!check_doc(
            "query Q($a: String) { q __type(name: $a) { name } }",
            null()
        ));
        assert!(!check_doc(
            "query Q($a: Int) { ...F } fragment F on Query { r(n: $a) }",
            null()
        ));
    }

    #[test]
    fn values_of_the_declared_types_are_accepted() {
        assert!(check("$a: Int!", json!({"a": 5})));
        assert!(check("$a: Float", json!({"a": 5})));
        assert!(check("$ids: [ID!]", json!({"ids": ["x", 2]})));
        assert!(
            check("$ids: [ID!]", json!({"ids": "x"})),
            "a single value is a list of one"
        );
        assert!(check("$s: Status", json!({"s": "OPEN"})));
        assert!(check(
            "$f: Filter!",
            json!({"f": {"tag": "t", "nested": {"tag": "u"}}})
        ));
        assert!(check("$big: Int64", json!({"big": 9007199254740993i64})));
        assert!(
            check("$big: Int64", json!({"big": "-12"})),
            "a decimal string, as the scalar accepts"
        );
        assert!(check("$j: JSON", json!({"j": {"any": [1, null]}})));
        assert!(
            check("$a: Int", json!({})),
            "absent: its default or nothing"
        );
        assert!(check("$a: Int", json!({"undeclared": "ignored", "a": 1})));
    }

    #[test]
    fn anything_else_is_left_to_full_validation() {
        assert!(!check("$a: Int", json!({"a": "5"})));
        assert!(!check("$a: Int", json!({"a": 3_000_000_000i64})));
        assert!(!check("$a: Int", json!({"a": 1.5})));
        assert!(
            !check("$a: Int", json!({"a": null})),
            "a null for a variable the document does not use"
        );
        assert!(!check("$ids: [ID!]", json!({"ids": ["x", null]})));
        assert!(!check("$s: Status", json!({"s": "MAYBE"})));
        assert!(
            !check("$f: Filter", json!({"f": {"limit": 1}})),
            "required tag missing"
        );
        assert!(!check("$f: Filter", json!({"f": {"tag": "t", "extra": 1}})));
        assert!(!check("$f: Filter", json!({"f": "t"})));
        assert!(!check("$big: Int64", json!({"big": "twelve"})));
        assert!(!check(
            "$big: Int64",
            json!({"big": "99999999999999999999"})
        ));
        assert!(!check("$x: Unknown", json!({"x": 1})));
    }
}
