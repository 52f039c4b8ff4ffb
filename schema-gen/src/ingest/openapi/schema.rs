//! JSON Schemas (OpenAPI's dialects) into GraphQL types: shapes, names, memoization.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::Ctx;
use super::document::{Loc, RefError};
use crate::Code;
use crate::catalog::{
    Discriminator, EnumType, EnumValue, Field, InputObjectType, InputValue, ObjectType, TypeDef,
    TypeKind, TypeRef, UnionType,
};
use crate::naming::{self, Namespace};

/// Whether a schema is translated for a response (object types) or a request (input types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Mode {
    Output,
    Input,
}

/// A translated schema: its type (without an outer `!`) and whether it admits null.
#[derive(Debug, Clone)]
pub(super) struct Typed {
    pub ty: TypeRef,
    pub nullable: bool,
}

impl Typed {
    fn named(name: &str, nullable: bool) -> Self {
        Typed {
            ty: TypeRef::named(name),
            nullable,
        }
    }

    pub fn json() -> Self {
        Typed::named(JSON, true)
    }

    /// The reference to use where the value may be absent (`required == false`).
    pub fn at_use(self, required: bool) -> TypeRef {
        if required && !self.nullable {
            self.ty.non_null()
        } else {
            self.ty
        }
    }
}

const JSON: &str = "JSON";

/// A named object or union type whose members are translated after its name is claimed.
pub(super) struct Pending<'d> {
    name: String,
    /// Prefix for the names of inline schemas inside it (`Pet` for `PetOwner`, `PetOwnerInput`).
    base: String,
    mode: Mode,
    kind: PendingKind<'d>,
}

enum PendingKind<'d> {
    Object(Vec<Prop<'d>>),
    Union {
        members: Vec<(&'d Value, Loc)>,
        discriminator: Option<(&'d Value, Loc)>,
    },
}

/// One property of an object schema (own or merged from `allOf`).
struct Prop<'d> {
    name: &'d str,
    schema: &'d Value,
    loc: Loc,
    required: bool,
}

/// What a schema is, decided without translating its members.
enum Shape<'d> {
    Scalar(&'static str),
    Enum(&'d [Value]),
    Object(Vec<Prop<'d>>),
    Union(Vec<(&'d Value, Loc)>, Option<(&'d Value, Loc)>),
    List(Option<(&'d Value, Loc)>),
    /// The schema stands for another one (`allOf: [$ref]`, a `oneOf` with one non-null member).
    Alias(&'d Value, Loc),
}

/// Inline schemas and alias chains nested deeper than this are treated as `JSON`.
const MAX_NESTING: usize = 128;

/// Compositions nested deeper than this are treated as `JSON` (guards pathological specs).
const MAX_DEPTH: usize = 32;

fn object(schema: &Value) -> Option<&Map<String, Value>> {
    schema.as_object()
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The non-null types a schema declares (`type: x` or a 3.1 type array).
fn declared_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) if t != "null" => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the schema itself says null is allowed.
fn admits_null(schema: &Value) -> bool {
    flag(schema, "nullable")
        || flag(schema, "x-nullable")
        || match schema.get("type") {
            Some(Value::String(t)) => t == "null",
            Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some("null")),
            _ => false,
        }
        || schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|vs| vs.iter().any(Value::is_null))
}

/// A `oneOf`/`anyOf` member that only says "or null": `{type: null}`, or (Microsoft Graph's
/// 3.0 idiom) `{type: object, nullable: true}` with nothing else.
fn is_null_member(schema: &Value) -> bool {
    let Some(map) = object(schema) else {
        return false;
    };
    if schema.get("type").and_then(Value::as_str) == Some("null") {
        return true;
    }
    admits_null(schema)
        && ![
            "properties",
            "items",
            "enum",
            "allOf",
            "oneOf",
            "anyOf",
            "$ref",
            "additionalProperties",
        ]
        .iter()
        .any(|k| map.contains_key(*k))
        && declared_types(schema).iter().all(|t| *t == "object")
}

/// Whether a member carries type information (rather than only constraints like `required`).
fn is_typed(schema: &Value) -> bool {
    match schema {
        Value::Bool(_) => false,
        Value::Object(map) => [
            "type",
            "properties",
            "items",
            "enum",
            "allOf",
            "oneOf",
            "anyOf",
            "$ref",
            "const",
        ]
        .iter()
        .any(|k| map.contains_key(*k)),
        _ => false,
    }
}

/// `Int` for integers that provably fit 32 bits, `Int64` for the rest.
fn int_scalar(schema: &Value) -> &'static str {
    match schema.get("format").and_then(Value::as_str) {
        Some("int64" | "uint64" | "uint32" | "int") => return "Int64",
        Some("int32" | "int8" | "int16" | "uint8" | "uint16") => return "Int",
        _ => {}
    }
    // No 32-bit format: Int only when declared bounds prove the value fits, since real specs
    // (GitHub's ids) leave 64-bit integers unformatted and GraphQL's Int is 32-bit.
    let within = |key: &str| {
        schema
            .get(key)
            .and_then(Value::as_f64)
            .is_some_and(|v| v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX))
    };
    if within("minimum") && within("maximum") {
        "Int"
    } else {
        "Int64"
    }
}

/// The component name a pointer names (`components.schemas.Pet` → `Pet`), if it names one.
fn component_name(loc: &Loc, uri: &str) -> Option<String> {
    if loc.at.is_empty() {
        // A whole external document: its file stem.
        let file = uri.rsplit('/').next().unwrap_or(uri);
        let stem = file.split('.').next().unwrap_or(file);
        return (!stem.is_empty()).then(|| stem.to_string());
    }
    let (parent, last) = loc.at.rsplit_once('.').unwrap_or(("", loc.at.as_str()));
    let named = parent.ends_with("schemas") || parent == "definitions" || parent.is_empty();
    named.then(|| last.to_string())
}

impl<'d> Ctx<'d> {
    /// Follows a `$ref` chain to the schema it ends at; `None` (with a warning) when it breaks.
    pub(super) fn deref(&mut self, value: &'d Value, loc: &Loc) -> Option<(&'d Value, Loc)> {
        let mut current = (value, loc.clone());
        let mut seen: Vec<Loc> = Vec::new();
        let first = value
            .get("$ref")
            .and_then(Value::as_str)
            .unwrap_or_default();
        while let Some(reference) = current.0.get("$ref").and_then(Value::as_str) {
            if seen.contains(&current.1) || seen.len() > MAX_DEPTH {
                let why = format!(
                    "the `$ref` chain from `{first}` loops back on itself at `{reference}`"
                );
                self.warn(Code::RefCycle, loc, why);
                return None;
            }
            seen.push(current.1.clone());
            match self.docs.resolve(current.1.doc, reference) {
                Ok((_, node, target)) => current = (node, target),
                Err(RefError::Dangling(why)) => {
                    self.warn(
                        Code::RefDangling,
                        &current.1,
                        format!("`$ref: {reference}` does not resolve: {why}"),
                    );
                    return None;
                }
                Err(RefError::External(why)) => {
                    self.warn(
                        Code::RefExternal,
                        &current.1,
                        format!("`$ref: {reference}`: {why}"),
                    );
                    return None;
                }
            }
        }
        Some(current)
    }

    /// The GraphQL type of a schema in `mode`; `hint` names inline types.
    pub(super) fn schema_type(
        &mut self,
        schema: &'d Value,
        loc: &Loc,
        mode: Mode,
        hint: &str,
    ) -> Typed {
        let Some((target, tloc)) = self.deref(schema, loc) else {
            return Typed::json();
        };
        // 3.1 allows `nullable`-like siblings of `$ref`; 3.0 `nullable` next to a ref is common too.
        let use_nullable = admits_null(schema);
        let mut typed = self.translate(target, &tloc, mode, hint);
        typed.nullable |= use_nullable;
        typed
    }

    /// Translates with a bound on nesting (inline schemas and alias chains recurse; named
    /// objects do not), so a pathological spec is a warning, not a stack overflow.
    fn translate(&mut self, schema: &'d Value, loc: &Loc, mode: Mode, hint: &str) -> Typed {
        if self.nesting >= MAX_NESTING {
            self.warn(
                Code::SchemaSkipped,
                loc,
                "the schema nests too deeply; used JSON",
            );
            return Typed::json();
        }
        self.nesting += 1;
        let typed = self.translate_unbounded(schema, loc, mode, hint);
        self.nesting -= 1;
        typed
    }

    fn translate_unbounded(
        &mut self,
        schema: &'d Value,
        loc: &Loc,
        mode: Mode,
        hint: &str,
    ) -> Typed {
        let key = std::ptr::from_ref(schema) as usize;
        if let Some(done) = self.memo.get(&(key, mode)) {
            return done.clone();
        }
        let named = component_name(loc, self.docs.uri(loc.doc));
        let base = named.as_deref().unwrap_or(hint).to_string();
        let nullable = admits_null(schema) || self.has_null_member(schema, loc);
        let shape = self.shape(schema, loc, mode, 0);
        let typed = match shape {
            // Any JSON value includes null.
            Shape::Scalar(JSON) => Typed::json(),
            Shape::Scalar(name) => Typed::named(name, nullable),
            Shape::Enum(values) => {
                let name = self.claim_type(&base, "");
                let typed = Typed::named(&name, nullable);
                // An enum is the same type in inputs and outputs.
                self.memo.insert((key, Mode::Output), typed.clone());
                self.memo.insert((key, Mode::Input), typed.clone());
                let kind = TypeKind::Enum(enum_type(values));
                // An inline enum's description is its field's; only a named one describes the type.
                let description = named.as_ref().and_then(|_| description(schema));
                self.types.insert(
                    name.clone(),
                    TypeDef {
                        name,
                        description,
                        kind,
                    },
                );
                return typed;
            }
            Shape::Object(props) => {
                let kind = PendingKind::Object(props);
                self.defer(schema, key, mode, &base, kind, nullable)
            }
            Shape::Union(members, discriminator) => {
                let kind = PendingKind::Union {
                    members,
                    discriminator,
                };
                self.defer(schema, key, mode, &base, kind, nullable)
            }
            Shape::List(items) => {
                if !self.aliasing.insert(key) {
                    return self.alias_loop(loc);
                }
                let item = match items {
                    Some((items, iloc)) => {
                        self.schema_type(items, &iloc, mode, &format!("{base} item"))
                    }
                    None => Typed::json(),
                };
                self.aliasing.remove(&key);
                Typed {
                    ty: TypeRef::list(item.at_use(true)),
                    nullable,
                }
            }
            Shape::Alias(other, oloc) => {
                if !self.aliasing.insert(key) {
                    return self.alias_loop(loc);
                }
                let mut typed = self.schema_type(other, &oloc, mode, &base);
                self.aliasing.remove(&key);
                typed.nullable |= nullable;
                typed
            }
        };
        self.memo.insert((key, mode), typed.clone());
        typed
    }

    fn alias_loop(&mut self, loc: &Loc) -> Typed {
        self.warn(
            Code::RefCycle,
            loc,
            "the schema contains itself without an object in between; used JSON",
        );
        Typed::json()
    }

    /// Claims a name for an object or union type, registers it and queues its members.
    fn defer(
        &mut self,
        schema: &Value,
        key: usize,
        mode: Mode,
        base: &str,
        kind: PendingKind<'d>,
        nullable: bool,
    ) -> Typed {
        let suffix = if mode == Mode::Input { "Input" } else { "" };
        let name = self.claim_type(base, suffix);
        let typed = Typed::named(&name, nullable);
        self.memo.insert((key, mode), typed.clone());
        let placeholder = match (&kind, mode) {
            (PendingKind::Union { .. }, _) => TypeKind::Union(UnionType::default()),
            (PendingKind::Object(_), Mode::Output) => TypeKind::Object(ObjectType::default()),
            (PendingKind::Object(_), Mode::Input) => TypeKind::Input(InputObjectType::default()),
        };
        self.types.insert(
            name.clone(),
            TypeDef {
                name: name.clone(),
                description: description(schema),
                kind: placeholder,
            },
        );
        self.pending.push_back(Pending {
            name,
            base: base.to_string(),
            mode,
            kind,
        });
        typed
    }

    fn claim_type(&mut self, base: &str, suffix: &str) -> String {
        let wanted = naming::type_name(base) + suffix;
        self.type_names.claim(&wanted)
    }

    /// Translates the members of every queued object and union type.
    pub(super) fn drain_pending(&mut self) {
        while let Some(pending) = self.pending.pop_front() {
            let kind = match pending.kind {
                PendingKind::Object(props) => self.object_kind(&pending.base, pending.mode, props),
                PendingKind::Union {
                    members,
                    discriminator,
                } => self.union_kind(&pending.name, &pending.base, members, discriminator),
            };
            if let Some(def) = self.types.get_mut(&pending.name) {
                def.kind = kind;
            }
        }
    }

    fn object_kind(&mut self, base: &str, mode: Mode, props: Vec<Prop<'d>>) -> TypeKind {
        let mut names = Namespace::new();
        let mut fields = IndexMap::new();
        let mut inputs = IndexMap::new();
        for prop in props {
            let name = names.claim(&naming::field_name(prop.name));
            let wire_name = (name != prop.name).then(|| prop.name.to_string());
            let typed = self.schema_type(
                prop.schema,
                &prop.loc,
                mode,
                &format!("{base} {}", prop.name),
            );
            let description = description(prop.schema);
            let deprecation = deprecation(prop.schema);
            match mode {
                Mode::Output => {
                    let mut field = Field::new(name.clone(), typed.at_use(prop.required));
                    field.description = description;
                    field.deprecation = deprecation;
                    field.wire_name = wire_name;
                    fields.insert(name, field);
                }
                Mode::Input => {
                    let default = prop.schema.get("default");
                    let mut input = self.input_value(name.clone(), typed, prop.required, default);
                    input.description = description;
                    input.deprecation = deprecation;
                    input.wire_name = wire_name;
                    inputs.insert(name, input);
                }
            }
        }
        match mode {
            Mode::Output => TypeKind::Object(ObjectType { fields }),
            Mode::Input => TypeKind::Input(InputObjectType { fields: inputs }),
        }
    }

    /// An argument or input field: non-null when required without a default, and with the
    /// default kept only when it is a valid value of the type.
    pub(super) fn input_value(
        &self,
        name: String,
        typed: Typed,
        required: bool,
        default: Option<&Value>,
    ) -> InputValue {
        let default = default.and_then(|d| self.graphql_default(&typed.ty, d));
        let ty = typed.at_use(required && default.is_none());
        InputValue {
            default,
            ..InputValue::new(name, ty)
        }
    }

    /// The GraphQL spelling of an upstream default value, when it fits `ty`.
    fn graphql_default(&self, ty: &TypeRef, value: &Value) -> Option<Value> {
        match ty {
            TypeRef::NonNull(inner) => self.graphql_default(inner, value),
            TypeRef::List(item) => match value {
                Value::Array(items) => items
                    .iter()
                    .map(|v| self.graphql_default(item, v))
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Array),
                _ => None,
            },
            TypeRef::Named(name) => {
                let fits = match name.as_str() {
                    "String" => value.is_string(),
                    "Int" => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
                    "Int64" => value.is_i64() || value.is_u64(),
                    "Float" => value.is_number(),
                    "Boolean" => value.is_boolean(),
                    JSON => !value.is_null(),
                    _ => false,
                };
                if fits {
                    return Some(value.clone());
                }
                // An enum default is written as the GraphQL value name.
                let Some(TypeDef {
                    kind: TypeKind::Enum(e),
                    ..
                }) = self.types.get(name)
                else {
                    return None;
                };
                let wire = value.as_str()?;
                e.values
                    .values()
                    .find(|v| v.wire() == wire)
                    .map(|v| Value::String(v.name.clone()))
            }
        }
    }

    fn union_kind(
        &mut self,
        name: &str,
        base: &str,
        members: Vec<(&'d Value, Loc)>,
        discriminator: Option<(&'d Value, Loc)>,
    ) -> TypeKind {
        let mut names: Vec<String> = Vec::new();
        let mut by_component: Vec<(String, String)> = Vec::new();
        for (i, (member, loc)) in members.into_iter().enumerate() {
            let component = self
                .deref(member, &loc)
                .and_then(|(_, l)| component_name(&l, self.docs.uri(l.doc)));
            let typed = self.schema_type(member, &loc, Mode::Output, &format!("{base} {}", i + 1));
            let member_name = typed.ty.base().to_string();
            let is_object = matches!(
                self.types.get(&member_name).map(|t| &t.kind),
                Some(TypeKind::Object(_))
            );
            if !is_object {
                self.warn(
                    Code::SchemaSkipped,
                    &loc,
                    format!("union member `{member_name}` is not an object type; left out"),
                );
                continue;
            }
            if let Some(component) = component {
                by_component.push((component, member_name.clone()));
            }
            if !names.contains(&member_name) {
                names.push(member_name);
            }
        }
        if names.is_empty() {
            // Nothing to select from: values pass through as JSON under the union's name.
            return TypeKind::Scalar;
        }
        let discriminator = discriminator
            .and_then(|(d, loc)| self.discriminator(name, d, &loc, &names, &by_component));
        TypeKind::Union(UnionType {
            members: names,
            discriminator,
        })
    }

    fn discriminator(
        &mut self,
        union: &str,
        value: &'d Value,
        loc: &Loc,
        members: &[String],
        by_component: &[(String, String)],
    ) -> Option<Discriminator> {
        let property = value
            .get("propertyName")
            .and_then(Value::as_str)?
            .to_string();
        let mut mapping: Vec<(String, String)> = Vec::new();
        if let Some(explicit) = value.get("mapping").and_then(Value::as_object) {
            for (key, target) in explicit {
                let Some(target) = target.as_str() else {
                    continue;
                };
                let reference =
                    if target.contains('#') || target.contains('/') || target.contains('.') {
                        target.to_string()
                    } else if self.version == super::Version::Swagger2 {
                        format!("#/definitions/{target}")
                    } else {
                        format!("#/components/schemas/{target}")
                    };
                let mloc = loc.child("mapping").child(key);
                let Ok((_, node, tloc)) = self.docs.resolve(loc.doc, &reference) else {
                    self.warn(
                        Code::RefDangling,
                        &mloc,
                        format!("discriminator mapping `{target}` names no schema"),
                    );
                    continue;
                };
                let typed = self.translate(node, &tloc, Mode::Output, key);
                let member = typed.ty.base().to_string();
                if members.contains(&member) {
                    mapping.push((key.clone(), member));
                } else {
                    self.warn(
                        Code::SpecValueIgnored,
                        &mloc,
                        format!("`{target}` is not a member of union `{union}`"),
                    );
                }
            }
        }
        // OpenAPI's implicit mapping: a member's component name selects it too (listed only
        // when it differs from the GraphQL name, which selects a member on its own).
        for (component, member) in by_component {
            let mapped = mapping.iter().any(|(value, _)| value == component);
            if !mapped && component != member {
                mapping.push((component.clone(), member.clone()));
            }
        }
        Some(Discriminator { property, mapping })
    }

    /// Whether a `oneOf`/`anyOf` of the schema has a null member.
    fn has_null_member(&mut self, schema: &'d Value, loc: &Loc) -> bool {
        for key in ["oneOf", "anyOf"] {
            let Some(members) = schema.get(key).and_then(Value::as_array) else {
                continue;
            };
            for (i, member) in members.iter().enumerate() {
                let mloc = loc.child(key).index(i);
                if self
                    .deref(member, &mloc)
                    .is_some_and(|(m, _)| is_null_member(m))
                {
                    return true;
                }
            }
        }
        false
    }

    fn shape(&mut self, schema: &'d Value, loc: &Loc, mode: Mode, depth: usize) -> Shape<'d> {
        if depth > MAX_DEPTH {
            self.warn(
                Code::SchemaSkipped,
                loc,
                "the schema nests compositions too deeply; used JSON",
            );
            return Shape::Scalar(JSON);
        }
        let Some(map) = object(schema) else {
            if !schema.is_boolean() {
                self.warn(
                    Code::SchemaSkipped,
                    loc,
                    format!(
                        "a schema must be an object, not {}; used JSON",
                        super::kind_of(schema)
                    ),
                );
            }
            return Shape::Scalar(JSON);
        };
        if map.get("allOf").is_some_and(Value::is_array) {
            return self.all_of_shape(schema, loc, mode);
        }
        if map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        {
            let props = self.own_props(schema, loc, mode);
            return self.object_shape(props, mode);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(members) = map.get(key).and_then(Value::as_array) {
                return self.union_shape(schema, members, &loc.child(key), mode, depth);
            }
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            return enum_shape(schema, values);
        }
        let types = declared_types(schema);
        match types.as_slice() {
            [] => {
                if map.contains_key("items") {
                    self.list_shape(schema, loc)
                } else if let Some(value) = map.get("const") {
                    Shape::Scalar(scalar_of_value(value))
                } else {
                    Shape::Scalar(JSON)
                }
            }
            ["array"] => self.list_shape(schema, loc),
            ["object"] => Shape::Scalar(JSON),
            ["string"] => Shape::Scalar("String"),
            ["integer"] => Shape::Scalar(int_scalar(schema)),
            ["number"] => Shape::Scalar("Float"),
            ["boolean"] => Shape::Scalar("Boolean"),
            ["integer", "number"] | ["number", "integer"] => Shape::Scalar("Float"),
            [one] if !["file", "any"].contains(one) && types.len() == 1 => {
                let one = one.to_string();
                self.warn(
                    Code::SpecValueIgnored,
                    &loc.child("type"),
                    format!("unknown type `{one}`; used JSON"),
                );
                Shape::Scalar(JSON)
            }
            _ => Shape::Scalar(JSON),
        }
    }

    fn list_shape(&mut self, schema: &'d Value, loc: &Loc) -> Shape<'d> {
        match schema.get("items") {
            Some(items @ Value::Object(_)) => Shape::List(Some((items, loc.child("items")))),
            _ => Shape::List(None),
        }
    }

    /// The schema's own `properties`, with `required` applied.
    fn own_props(
        &mut self,
        schema: &'d Value,
        loc: &Loc,
        mode: Mode,
    ) -> IndexMap<&'d str, Prop<'d>> {
        let required: HashSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut props = IndexMap::new();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return props;
        };
        let ploc = loc.child("properties");
        for (name, prop) in properties {
            let prop_loc = ploc.child(name);
            if !self.visible(prop, &prop_loc, mode) {
                continue;
            }
            props.insert(
                name.as_str(),
                Prop {
                    name,
                    schema: prop,
                    loc: prop_loc,
                    required: required.contains(name.as_str()),
                },
            );
        }
        props
    }

    /// `readOnly` properties are not inputs and `writeOnly` ones are not outputs.
    fn visible(&mut self, prop: &'d Value, loc: &Loc, mode: Mode) -> bool {
        let key = match mode {
            Mode::Input => "readOnly",
            Mode::Output => "writeOnly",
        };
        if flag(prop, key) {
            return false;
        }
        // Look through a `$ref` without reporting: the property's translation reports.
        match prop.get("$ref").and_then(Value::as_str) {
            Some(reference) => match self.docs.resolve(loc.doc, reference) {
                Ok((_, target, _)) => !flag(target, key),
                Err(_) => true,
            },
            None => true,
        }
    }

    fn object_shape(&mut self, props: IndexMap<&'d str, Prop<'d>>, _mode: Mode) -> Shape<'d> {
        if props.is_empty() {
            return Shape::Scalar(JSON);
        }
        Shape::Object(props.into_values().collect())
    }

    /// `allOf`: properties merged from every member (later ones win), `required` united; a
    /// composition with no properties and one typed member stands for that member.
    fn all_of_shape(&mut self, schema: &'d Value, loc: &Loc, mode: Mode) -> Shape<'d> {
        let mut props: IndexMap<&'d str, Prop<'d>> = IndexMap::new();
        let mut required: HashSet<&'d str> = HashSet::new();
        let mut others: Vec<(&'d Value, Loc)> = Vec::new();
        let mut visited: HashSet<usize> = HashSet::new();
        self.collect_all_of(
            schema,
            loc,
            mode,
            &mut props,
            &mut required,
            &mut others,
            &mut visited,
            0,
        );
        if props.is_empty() {
            return match others.len() {
                1 => others
                    .pop()
                    .map_or(Shape::Scalar(JSON), |(m, l)| Shape::Alias(m, l)),
                _ => Shape::Scalar(JSON),
            };
        }
        for prop in props.values_mut() {
            prop.required |= required.contains(prop.name);
        }
        self.object_shape(props, mode)
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_all_of(
        &mut self,
        schema: &'d Value,
        loc: &Loc,
        mode: Mode,
        props: &mut IndexMap<&'d str, Prop<'d>>,
        required: &mut HashSet<&'d str>,
        others: &mut Vec<(&'d Value, Loc)>,
        visited: &mut HashSet<usize>,
        depth: usize,
    ) {
        if !visited.insert(std::ptr::from_ref(schema) as usize) {
            self.warn(
                Code::RefCycle,
                loc,
                "`allOf` includes itself; the repeated member is left out",
            );
            return;
        }
        if depth > MAX_DEPTH {
            self.warn(
                Code::SchemaSkipped,
                loc,
                "`allOf` nests too deeply; the deeper members are left out",
            );
            return;
        }
        for (name, prop) in self.own_props(schema, loc, mode) {
            props.insert(name, prop);
        }
        if let Some(names) = schema.get("required").and_then(Value::as_array) {
            required.extend(names.iter().filter_map(Value::as_str));
        }
        let Some(members) = schema.get("allOf").and_then(Value::as_array) else {
            return;
        };
        for (i, member) in members.iter().enumerate() {
            let mloc = loc.child("allOf").index(i);
            let Some((target, tloc)) = self.deref(member, &mloc) else {
                continue;
            };
            let composite = target.get("properties").is_some() || target.get("allOf").is_some();
            if composite {
                self.collect_all_of(
                    target,
                    &tloc,
                    mode,
                    props,
                    required,
                    others,
                    visited,
                    depth + 1,
                );
            } else if is_typed(target) && !is_null_member(target) {
                if declared_types(target) == ["object"]
                    && target.get("additionalProperties").is_none()
                {
                    // `{type: object}` adds nothing to a merge.
                    if let Some(names) = target.get("required").and_then(Value::as_array) {
                        required.extend(names.iter().filter_map(Value::as_str));
                    }
                    continue;
                }
                others.push((member, mloc));
            } else if let Some(names) = target.get("required").and_then(Value::as_array) {
                required.extend(names.iter().filter_map(Value::as_str));
            }
        }
    }

    /// `oneOf`/`anyOf`: null members only make it nullable; one remaining member stands for
    /// the whole; objects make a union (outputs only); one scalar kind makes that scalar.
    fn union_shape(
        &mut self,
        schema: &'d Value,
        members: &'d [Value],
        loc: &Loc,
        mode: Mode,
        depth: usize,
    ) -> Shape<'d> {
        let mut typed: Vec<(&'d Value, Loc)> = Vec::new();
        for (i, member) in members.iter().enumerate() {
            let mloc = loc.index(i);
            let Some((target, _)) = self.deref(member, &mloc) else {
                return Shape::Scalar(JSON);
            };
            if is_null_member(target) {
                continue;
            }
            if !is_typed(target) {
                if target.as_object().is_some_and(Map::is_empty) || target == &Value::Bool(true) {
                    return Shape::Scalar(JSON);
                }
                continue;
            }
            typed.push((member, mloc));
        }
        match typed.len() {
            0 => return Shape::Scalar(JSON),
            1 => {
                return typed
                    .pop()
                    .map_or(Shape::Scalar(JSON), |(m, l)| Shape::Alias(m, l));
            }
            _ => {}
        }
        let mut scalar: Option<&'static str> = None;
        let mut all_objects = true;
        for (member, mloc) in &typed {
            let kind = self.member_kind(member, mloc, mode, depth + 1);
            match kind {
                MemberKind::Object => {
                    if scalar.is_some() {
                        return Shape::Scalar(JSON);
                    }
                }
                MemberKind::Scalar(name) => {
                    all_objects = false;
                    match scalar {
                        None => scalar = Some(name),
                        Some(seen) if seen == name => {}
                        Some(_) => return Shape::Scalar(JSON),
                    }
                }
                MemberKind::Other => return Shape::Scalar(JSON),
            }
        }
        if !all_objects {
            return Shape::Scalar(scalar.unwrap_or(JSON));
        }
        if mode == Mode::Input {
            return Shape::Scalar(JSON);
        }
        let discriminator = schema
            .get("discriminator")
            .filter(|d| d.is_object())
            .map(|d| (d, loc_parent(loc).child("discriminator")));
        Shape::Union(typed, discriminator)
    }

    fn member_kind(
        &mut self,
        member: &'d Value,
        loc: &Loc,
        mode: Mode,
        depth: usize,
    ) -> MemberKind {
        let Some((target, tloc)) = self.deref(member, loc) else {
            return MemberKind::Other;
        };
        match self.shape(target, &tloc, mode, depth) {
            Shape::Object(_) => MemberKind::Object,
            Shape::Scalar(JSON) => MemberKind::Other,
            Shape::Scalar(name) => MemberKind::Scalar(name),
            Shape::Enum(values) => match enum_shape(target, values) {
                Shape::Scalar(name) => MemberKind::Scalar(name),
                _ => MemberKind::Scalar("String"),
            },
            Shape::Alias(other, oloc) => self.member_kind(other, &oloc, mode, depth + 1),
            Shape::Union(..) | Shape::List(_) => MemberKind::Other,
        }
    }
}

enum MemberKind {
    Object,
    Scalar(&'static str),
    Other,
}

fn loc_parent(loc: &Loc) -> Loc {
    let at = loc
        .at
        .rsplit_once('.')
        .map_or("", |(parent, _)| parent)
        .to_string();
    Loc { doc: loc.doc, at }
}

/// String enums become GraphQL enums; enums of other values become their scalar.
fn enum_shape<'d>(schema: &'d Value, values: &'d [Value]) -> Shape<'d> {
    let present: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        return Shape::Scalar(match declared_types(schema).first() {
            Some(&"integer") => int_scalar(schema),
            Some(&"number") => "Float",
            Some(&"boolean") => "Boolean",
            _ => "String",
        });
    }
    if present.iter().all(|v| v.is_string()) {
        return Shape::Enum(values);
    }
    let first = present.first().map_or(JSON, |v| scalar_of_value(v));
    if present.iter().all(|v| scalar_of_value(v) == first) {
        Shape::Scalar(first)
    } else {
        Shape::Scalar(JSON)
    }
}

fn scalar_of_value(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "String",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_f64() => "Float",
        Value::Number(n) => match n.as_i64() {
            Some(v) if i32::try_from(v).is_ok() => "Int",
            _ => "Int64",
        },
        _ => JSON,
    }
}

fn enum_type(values: &[Value]) -> EnumType {
    let mut names = Namespace::new();
    let mut out = IndexMap::new();
    for wire in values.iter().filter_map(Value::as_str) {
        if out.values().any(|v: &EnumValue| v.wire() == wire) {
            continue;
        }
        let name = names.claim(&naming::enum_value(wire));
        let wire_name = (name != wire).then(|| wire.to_string());
        out.insert(
            name.clone(),
            EnumValue {
                name,
                description: None,
                deprecation: None,
                wire_name,
            },
        );
    }
    EnumType { values: out }
}

pub(super) fn description(value: &Value) -> Option<String> {
    value
        .get("description")
        .and_then(Value::as_str)
        .and_then(clean_text)
}

/// Text for a GraphQL description: line ends normalized and trailing spaces dropped (SDL
/// block strings do not keep them), `None` when nothing is left.
pub(super) fn clean_text(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let joined = lines.join("\n");
    let trimmed = joined.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

pub(super) fn deprecation(value: &Value) -> Option<String> {
    flag(value, "deprecated").then(|| "Deprecated in the OpenAPI document.".to_string())
}
