//! Generic resolution for every transport, free of async-graphql types: arguments to wire
//! JSON, one upstream call with its deadline and budget, and upstream JSON back to GraphQL
//! spelling (enum values, union members).
//!
//! `build.rs` adapts these to async-graphql's dynamic resolvers; the plan executor
//! (issue 6) will call them directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use schema_gen::catalog::{Catalog, Discriminator, TypeKind, TypeRef};
use serde_json::{Map, Number, Value};

use crate::loader::{Loaded, Loader};
use crate::upstream::{self, CallInput, Invoke, SendContext};

/// Everything one request's resolvers share.
#[derive(Debug)]
pub struct RequestState {
    /// The client's headers (transports forward only their allowlist).
    pub headers: HeaderMap,
    pub request_id: Arc<str>,
    pub loader: Loader,
}

impl RequestState {
    pub fn new(headers: HeaderMap, request_id: &str, max_upstream_calls: usize) -> Self {
        RequestState {
            headers,
            request_id: Arc::from(request_id),
            loader: Loader::new(max_upstream_calls),
        }
    }
}

/// One upstream-backed field, prepared when the gateway is built.
#[derive(Debug, Clone)]
pub struct FieldCall {
    pub invoke: Arc<dyn Invoke>,
    /// Field timeout, else the source's, else the gateway default.
    pub timeout: Duration,
    /// Identical in-flight calls of this field may share one upstream call.
    pub shareable: bool,
    /// (GraphQL name, wire name) of arguments renamed with `@map`.
    pub renamed_args: Vec<(String, String)>,
}

impl FieldCall {
    /// Calls the upstream for one field. `args` are already in wire spelling (see
    /// [`Wire::input`]) and keyed by GraphQL argument names.
    pub async fn call(
        &self,
        state: &RequestState,
        args: &Map<String, Value>,
        parent: Option<&Value>,
    ) -> Loaded {
        let wire_args = upstream::wire_args(args, &self.renamed_args);
        let input = CallInput {
            args,
            wire_args: &wire_args,
            parent: parent.map(crate::decoded::Val::Json),
            headers: &state.headers,
            // async-graphql's resolvers read whole values.
            projection: None,
        };
        let request = self.invoke.render(&input)?;
        let cx = SendContext {
            deadline: tokio::time::Instant::now() + self.timeout,
            request_id: Arc::clone(&state.request_id),
        };
        state
            .loader
            .load(
                request,
                cx,
                self.shareable && self.invoke.is_read(),
                self.invoke.source_name(),
            )
            .await
    }
}

/// An input object's field, as the wire needs it.
#[derive(Debug, Clone)]
struct InputField {
    name: String,
    wire: String,
    ty: TypeRef,
    default: Option<Value>,
}

/// A union's way of telling members apart.
#[derive(Debug, Clone)]
struct UnionShape {
    /// Members in declaration order with the JSON properties their fields read, and those of
    /// their non-null fields (required to match structurally).
    members: Vec<(String, Vec<String>, Vec<String>)>,
    discriminator: Option<Discriminator>,
}

/// What kind of thing a named type is, for shaping values.
#[derive(Debug, Clone)]
enum Shape {
    Object,
    Input(Vec<InputField>),
    /// GraphQL name → wire value, and wire value → GraphQL name.
    Enum(HashMap<String, String>, HashMap<String, String>),
    Union(UnionShape),
    Scalar,
}

/// The catalog's knowledge of wire spellings, indexed for resolvers.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    shapes: HashMap<String, Shape>,
}

/// Why an upstream value does not fit the schema's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl Wire {
    pub fn new(catalog: &Catalog) -> Self {
        let mut shapes = HashMap::new();
        for (name, def) in &catalog.types {
            let shape = match &def.kind {
                TypeKind::Object(_) => Shape::Object,
                TypeKind::Scalar => Shape::Scalar,
                TypeKind::Input(input) => Shape::Input(
                    input
                        .fields
                        .values()
                        .map(|f| InputField {
                            name: f.name.clone(),
                            wire: f.wire().to_string(),
                            ty: f.ty.clone(),
                            default: f.default.clone(),
                        })
                        .collect(),
                ),
                TypeKind::Enum(e) => {
                    let to_wire = e
                        .values
                        .values()
                        .map(|v| (v.name.clone(), v.wire().to_string()))
                        .collect();
                    let from_wire = e
                        .values
                        .values()
                        .map(|v| (v.wire().to_string(), v.name.clone()))
                        .collect();
                    Shape::Enum(to_wire, from_wire)
                }
                TypeKind::Union(u) => Shape::Union(UnionShape {
                    members: u
                        .members
                        .iter()
                        .map(|member| {
                            let fields = catalog
                                .object(member)
                                .map(|o| o.fields.values().collect::<Vec<_>>())
                                .unwrap_or_default();
                            let all = fields
                                .iter()
                                .filter(|f| f.resolver.is_none())
                                .map(|f| f.wire().to_string())
                                .collect();
                            let required = fields
                                .iter()
                                .filter(|f| f.resolver.is_none() && f.ty.is_non_null())
                                .map(|f| f.wire().to_string())
                                .collect();
                            (member.clone(), all, required)
                        })
                        .collect(),
                    discriminator: u.discriminator.clone(),
                }),
            };
            shapes.insert(name.clone(), shape);
        }
        Wire { shapes }
    }

    /// A GraphQL input value (as JSON) in wire spelling: input-object fields under their
    /// `@map` names (with defaults applied), enum values as the upstream spells them, `Int64`
    /// strings as numbers.
    pub fn input(&self, value: Value, ty: &TypeRef) -> Value {
        match ty {
            TypeRef::NonNull(inner) => self.input(value, inner),
            TypeRef::List(inner) => match value {
                Value::Null => Value::Null,
                Value::Array(items) => {
                    Value::Array(items.into_iter().map(|v| self.input(v, inner)).collect())
                }
                // Input coercion: a single value where a list is expected is a list of one.
                single => Value::Array(vec![self.input(single, inner)]),
            },
            TypeRef::Named(name) => match (self.shapes.get(name.as_str()), value) {
                (_, Value::Null) => Value::Null,
                (Some(Shape::Enum(to_wire, _)), Value::String(s)) => {
                    Value::String(to_wire.get(&s).cloned().unwrap_or(s))
                }
                (Some(Shape::Input(fields)), Value::Object(mut given)) => {
                    let mut out = Map::with_capacity(given.len());
                    for field in fields {
                        if let Some(v) = given.remove(&field.name).or_else(|| field.default.clone())
                        {
                            out.insert(field.wire.clone(), self.input(v, &field.ty));
                        }
                    }
                    Value::Object(out)
                }
                (_, Value::String(s)) if name == "Int64" => {
                    int64_from_str(&s).unwrap_or(Value::String(s))
                }
                (_, other) => other,
            },
        }
    }

    /// The GraphQL enum value name of an upstream value of enum `name`.
    pub fn enum_name<'a>(&'a self, name: &str, wire: &'a str) -> Result<&'a str, ShapeError> {
        match self.shapes.get(name) {
            Some(Shape::Enum(_, from_wire)) => {
                from_wire.get(wire).map(String::as_str).ok_or_else(|| {
                    ShapeError(format!(
                        "the upstream value `{wire}` is not a value of enum {name}"
                    ))
                })
            }
            _ => Ok(wire),
        }
    }

    /// True when `name` is an enum.
    pub fn is_enum(&self, name: &str) -> bool {
        matches!(self.shapes.get(name), Some(Shape::Enum(..)))
    }

    /// True when `name` is an object type.
    pub fn is_object(&self, name: &str) -> bool {
        matches!(self.shapes.get(name), Some(Shape::Object))
    }

    /// True when `name` is a union.
    pub fn is_union(&self, name: &str) -> bool {
        matches!(self.shapes.get(name), Some(Shape::Union(_)))
    }

    /// Which member of union `name` an upstream value is: by its discriminator property when
    /// the union has one and the value carries it; else by `__typename`; else structurally
    /// (the member whose required properties are all present and that shares the most
    /// properties with the value; the first declared wins ties).
    pub fn union_member<'a>(&'a self, name: &str, value: &Value) -> Result<&'a str, ShapeError> {
        let Some(Shape::Union(shape)) = self.shapes.get(name) else {
            return Err(ShapeError(format!("{name} is not a union")));
        };
        let Value::Object(object) = value else {
            return Err(ShapeError(format!(
                "the upstream value for union {name} is not an object"
            )));
        };
        let member_named = |candidate: &str| {
            shape
                .members
                .iter()
                .map(|(m, ..)| m.as_str())
                .find(|m| *m == candidate)
        };
        if let Some(discriminator) = &shape.discriminator
            && let Some(found) = object.get(&discriminator.property)
        {
            let text = match found {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mapped = discriminator
                .mapping
                .iter()
                .find(|(v, _)| *v == text)
                .map(|(_, t)| t.as_str());
            return mapped.or_else(|| member_named(&text)).and_then(member_named).ok_or_else(|| {
                    ShapeError(format!(
                        "the upstream value's `{}` is `{text}`, which names no member of union {name}",
                        discriminator.property
                    ))
                });
        }
        if let Some(member) = object
            .get("__typename")
            .and_then(Value::as_str)
            .and_then(member_named)
        {
            return Ok(member);
        }
        let mut best: Option<(&str, bool, usize)> = None;
        for (member, all, required) in &shape.members {
            let complete = required
                .iter()
                .all(|r| object.get(r).is_some_and(|v| !v.is_null()));
            let shared = all
                .iter()
                .filter(|p| object.contains_key(p.as_str()))
                .count();
            let better = match best {
                None => true,
                Some((_, best_complete, best_shared)) => {
                    (complete, shared) > (best_complete, best_shared)
                }
            };
            if better {
                best = Some((member, complete, shared));
            }
        }
        best.map(|(m, ..)| m)
            .ok_or_else(|| ShapeError(format!("union {name} has no members")))
    }
}

/// `Int64` input given as a decimal string.
pub fn int64_from_str(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(Value::Number(Number::from(n)));
    }
    s.parse::<u64>()
        .ok()
        .map(|n| Value::Number(Number::from(n)))
}

/// An input value that is a valid `Int64`: an integral number within 64 bits, or a decimal
/// string of one. The scalar's validator, and the variables shortcut's rule, so the two
/// cannot disagree.
pub fn int64_input_valid(value: &async_graphql::Value) -> bool {
    match value {
        async_graphql::Value::Number(n) => n.is_i64() || n.is_u64(),
        async_graphql::Value::String(s) => int64_from_str(s).is_some(),
        _ => false,
    }
}

/// A value that is a valid `Int64`: an integral JSON number within 64 bits (signed or not).
pub fn is_int64(value: &Value) -> bool {
    matches!(value, Value::Number(n) if n.is_i64() || n.is_u64())
}

/// What a JSON value is, for "expected X, got Y" messages of both executors.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_gen::catalog::{EnumType, EnumValue, InputObjectType, InputValue, TypeDef};
    use serde_json::json;

    fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        let mut values = indexmap::IndexMap::new();
        for (name, wire) in [("IN_STOCK", Some("in-stock")), ("SOLD", None)] {
            values.insert(
                name.to_string(),
                EnumValue {
                    name: name.into(),
                    description: None,
                    deprecation: None,
                    wire_name: wire.map(str::to_string),
                },
            );
        }
        catalog.types.insert(
            "Status".into(),
            TypeDef {
                name: "Status".into(),
                description: None,
                kind: TypeKind::Enum(EnumType { values }),
            },
        );
        let mut fields = indexmap::IndexMap::new();
        let mut status = InputValue::new("status", TypeRef::named("Status"));
        status.wire_name = Some("pet_status".into());
        fields.insert("status".into(), status);
        let mut size = InputValue::new("size", TypeRef::named("Int64"));
        size.default = Some(json!(5));
        fields.insert("size".into(), size);
        catalog.types.insert(
            "Filter".into(),
            TypeDef {
                name: "Filter".into(),
                description: None,
                kind: TypeKind::Input(InputObjectType { fields }),
            },
        );
        catalog
    }

    #[test]
    fn input_objects_and_enums_take_their_wire_spelling() {
        let wire = Wire::new(&catalog());
        let given = json!({"status": "IN_STOCK"});
        assert_eq!(
            wire.input(given, &TypeRef::named("Filter")),
            json!({"pet_status": "in-stock", "size": 5})
        );
        let list = wire.input(json!("SOLD"), &TypeRef::list(TypeRef::named("Status")));
        assert_eq!(list, json!(["SOLD"]));
        assert_eq!(wire.enum_name("Status", "in-stock").unwrap(), "IN_STOCK");
        assert!(wire.enum_name("Status", "gone").is_err());
    }

    fn union_catalog(discriminator: Option<Discriminator>) -> Catalog {
        use schema_gen::catalog::{Field, ObjectType, UnionType};
        let mut catalog = Catalog::default();
        for (name, fields) in [
            ("Circle", ["radius", "label"]),
            ("Square", ["side", "label"]),
        ] {
            let mut object = ObjectType::default();
            for field in fields {
                let ty = if field == "label" {
                    TypeRef::named("String")
                } else {
                    TypeRef::named("Float").non_null()
                };
                object.fields.insert(field.into(), Field::new(field, ty));
            }
            catalog.types.insert(
                name.into(),
                TypeDef {
                    name: name.into(),
                    description: None,
                    kind: TypeKind::Object(object),
                },
            );
        }
        let union = UnionType {
            members: vec!["Circle".into(), "Square".into()],
            discriminator,
        };
        catalog.types.insert(
            "Shape".into(),
            TypeDef {
                name: "Shape".into(),
                description: None,
                kind: TypeKind::Union(union),
            },
        );
        catalog
    }

    #[test]
    fn structural_union_resolution_prefers_complete_then_closest_members() {
        let wire = Wire::new(&union_catalog(None));
        assert_eq!(
            wire.union_member("Shape", &json!({"side": 1})).unwrap(),
            "Square"
        );
        assert_eq!(
            wire.union_member("Shape", &json!({"label": "x", "radius": 2}))
                .unwrap(),
            "Circle"
        );
        // Neither member is complete: the first declared wins the tie.
        assert_eq!(
            wire.union_member("Shape", &json!({"label": "x"})).unwrap(),
            "Circle"
        );
        assert_eq!(
            wire.union_member("Shape", &json!({"__typename": "Square"}))
                .unwrap(),
            "Square"
        );
        assert!(wire.union_member("Shape", &json!([1])).is_err());
    }

    #[test]
    fn a_discriminator_value_naming_no_member_is_an_error_not_a_guess() {
        let discriminator = Discriminator {
            property: "type".into(),
            mapping: vec![("sq".into(), "Square".into())],
        };
        let wire = Wire::new(&union_catalog(Some(discriminator)));
        assert_eq!(
            wire.union_member("Shape", &json!({"type": "sq", "radius": 1}))
                .unwrap(),
            "Square"
        );
        assert_eq!(
            wire.union_member("Shape", &json!({"type": "Circle"}))
                .unwrap(),
            "Circle"
        );
        let error = wire
            .union_member("Shape", &json!({"type": "triangle"}))
            .unwrap_err();
        assert!(error.0.contains("triangle"), "{error}");
        // Without the property, the structure decides.
        assert_eq!(
            wire.union_member("Shape", &json!({"side": 1})).unwrap(),
            "Square"
        );
    }

    #[test]
    fn int64_strings_become_exact_numbers() {
        let wire = Wire::new(&catalog());
        assert_eq!(
            wire.input(json!("9007199254740993"), &TypeRef::named("Int64")),
            json!(9007199254740993u64)
        );
        assert_eq!(
            wire.input(json!("18446744073709551615"), &TypeRef::named("Int64")),
            json!(u64::MAX)
        );
        assert!(is_int64(&json!(-9007199254740993i64)));
        assert!(!is_int64(&json!(1.5)));
    }
}
