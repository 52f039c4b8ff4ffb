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
//! The check is conservative: anything it is unsure of (any `null`, an `Int64` given as a
//! string, an input object that is not an object) is not accepted, and the request is
//! validated in full by async-graphql, which reports the error exactly as without this
//! shortcut. Accepting a value async-graphql would refuse is the one thing it must never do.

use async_graphql::Variables;
use async_graphql::parser::types::{BaseType, OperationDefinition, Type};
use async_graphql_value::ConstValue;
use schema_gen::catalog::{Catalog, TypeKind, TypeRef};

/// True when every given variable's value fits its declared type (absent ones are left to
/// their defaults; a missing required variable is reported before this).
pub fn acceptable(op: &OperationDefinition, variables: &Variables, catalog: &Catalog) -> bool {
    op.variable_definitions.iter().all(|def| {
        variables
            .get(&def.node.name.node)
            .is_none_or(|value| fits(value, &type_ref(&def.node.var_type.node), catalog))
    })
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
        // Nulls are allowed by nullable types but not always where the variable is used
        // (a nullable variable with a default at a non-null argument): left to async-graphql.
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
        ("Int64", ConstValue::Number(n)) => n.is_i64() || n.is_u64(),
        ("Int" | "Float" | "String" | "Boolean" | "ID" | "Int64", _) => false,
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
type Query { q(a: Int, f: Filter, ids: [ID!], s: Status, big: Int64, j: JSON): Int @rest(source: "s", path: "/q") }
input Filter { tag: String!, limit: Int = 10, nested: Filter }
enum Status { OPEN CLOSED }
"#;

    fn check(declarations: &str, variables: serde_json::Value) -> bool {
        let catalog = parse_files(&[SdlFile::new("t.graphql", SDL)])
            .catalog
            .unwrap();
        let doc =
            async_graphql::parser::parse_query(format!("query Q({declarations}) {{ q }}")).unwrap();
        let op = doc.operations.iter().next().unwrap().1;
        acceptable(&op.node, &Variables::from_json(variables), &catalog)
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
            "nulls are never accepted here"
        );
        assert!(!check("$ids: [ID!]", json!({"ids": ["x", null]})));
        assert!(!check("$s: Status", json!({"s": "MAYBE"})));
        assert!(
            !check("$f: Filter", json!({"f": {"limit": 1}})),
            "required tag missing"
        );
        assert!(!check("$f: Filter", json!({"f": {"tag": "t", "extra": 1}})));
        assert!(!check("$f: Filter", json!({"f": "t"})));
        assert!(
            !check("$big: Int64", json!({"big": "12"})),
            "decimal strings: full check"
        );
        assert!(!check("$x: Unknown", json!({"x": 1})));
    }
}
