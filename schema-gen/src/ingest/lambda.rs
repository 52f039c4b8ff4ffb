//! Lambda ingest: discovered AWS Lambda functions (name, tags, optional JSON Schemas) into a
//! catalog with one Lambda source and one `@lambda` root field per function.
//!
//! ```
//! use schema_gen::ingest::lambda::{ingest, LambdaFunction, LambdaOptions};
//! let functions = [LambdaFunction::new("get-invoice"), LambdaFunction::new("send-invoice")];
//! let ingested = ingest(&functions, &LambdaOptions::new("billing"));
//! let sdl = schema_gen::emit::sdl(&ingested.catalog.expect("a catalog"));
//! assert!(sdl.contains(r#"getInvoice(input: JSON): JSON @lambda(source: "billing", function: "get-invoice", payload: "{{args.input}}")"#));
//! assert!(sdl.contains("type Mutation"));
//! ```
//!
//! The rules (documented in the README):
//!
//! - **Which functions.** Discovery (`engine::upstream::lambda::describe`) keeps a function
//!   when its tag [`TAG_EXPOSE`] is `true` or the configuration lists it; ingest translates
//!   every function it is given, sorted by name so the output is stable.
//! - **Query or Mutation.** The tag [`TAG_OPERATION`] (`query` or `mutation`) decides; without
//!   it, a function whose name starts with one of [`crate::naming::READ_VERBS`] as a whole word
//!   (`get-invoice`, `listOrders`, `search_users`) is a Query field and every other function a
//!   Mutation field. Moving a field between root types in the generated SDL overrides this.
//! - **Field name.** The tag [`TAG_FIELD`] when present (sanitized by `naming::field_name`),
//!   else the function name in camelCase (`get-invoice` → `getInvoice`). Collisions get a
//!   numeric suffix and a `NAME_COLLISION` warning.
//! - **Qualifier.** The tag [`TAG_QUALIFIER`] (a version or alias) becomes
//!   `@lambda(qualifier:)`.
//! - **Types.** A function may declare a schema document (see [`FunctionSchema`]): its
//!   `input` JSON Schema becomes the arguments (an object's properties, one argument each,
//!   required ones non-null; the arguments object is the payload), anything else one
//!   argument `input` whose value is the payload; its `output` JSON Schema becomes the field's
//!   type. Without a schema the field takes one `input: JSON` argument (the payload, sent as
//!   is) and returns `JSON`. Objects with properties become object/input types named after
//!   the `$ref` target or the function (`GetInvoiceOutput`, `GetInvoiceInput`); string enums
//!   become enums; `integer` is `Int` (`Int64` with `format: int64`); what GraphQL cannot
//!   express (`oneOf`, `anyOf`, maps, tuples) becomes `JSON` with a `SCHEMA_SKIPPED` warning.
//!   Root fields are nullable: a failing invocation nulls only its own field.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::Ingested;
use crate::catalog::{
    Call, Catalog, EnumType, EnumValue, Field, FieldPolicy, InputObjectType, InputValue,
    LambdaCall, LambdaSource, ObjectType, OperationKind, Resolver, Roots, Source, SourcePolicy,
    Transport, TypeDef, TypeKind, TypeRef,
};
use crate::naming::{self, Namespace};
use crate::template::Template;
use crate::{Code, Diagnostic};

/// `graft.dev/expose=true` marks a function for discovery.
pub const TAG_EXPOSE: &str = "graft.dev/expose";
/// `graft.dev/operation=query|mutation` picks the root type.
pub const TAG_OPERATION: &str = "graft.dev/operation";
/// `graft.dev/field=name` names the root field.
pub const TAG_FIELD: &str = "graft.dev/field";
/// `graft.dev/qualifier=alias-or-version` is invoked instead of `$LATEST`.
pub const TAG_QUALIFIER: &str = "graft.dev/qualifier";
/// `graft.dev/schema=<file or URL>` names the function's schema document (read by discovery).
pub const TAG_SCHEMA: &str = "graft.dev/schema";

/// One discovered function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LambdaFunction {
    /// The function name (what Invoke is called with).
    pub name: String,
    /// The function's description, used as the field's description.
    pub description: Option<String>,
    /// The function's tags.
    pub tags: IndexMap<String, String>,
    /// The declared schema document, when the function has one.
    pub schema: Option<FunctionSchema>,
}

impl LambdaFunction {
    pub fn new(name: impl Into<String>) -> Self {
        LambdaFunction {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn with_schema(mut self, schema: FunctionSchema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// True when the function carries `graft.dev/expose=true`.
    pub fn is_tagged_exposed(&self) -> bool {
        self.tags
            .get(TAG_EXPOSE)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// A function's schema document: a JSON object with optional `input` and `output` JSON
/// Schemas; `$ref`s are JSON pointers into the same document (`#/$defs/Invoice`).
///
/// ```json
/// {"input": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
///  "output": {"$ref": "#/$defs/Invoice"},
///  "$defs": {"Invoice": {"type": "object", "properties": {"total": {"type": "number"}}}}}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSchema {
    /// Where the document came from (a file path or URL), for diagnostics.
    pub location: String,
    pub document: Value,
}

/// How the Lambda source is named and reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaOptions {
    /// The source name (`@source(name:)`).
    pub name: String,
    /// Region written into `@source(lambda: {region})`; the engine falls back to `AWS_REGION`.
    pub region: Option<String>,
    /// Endpoint written into `@source(lambda: {endpoint})`, so `serve` invokes where `gen`
    /// discovered; may use `{{env.NAME}}`.
    pub endpoint: Option<String>,
}

impl LambdaOptions {
    pub fn new(name: impl Into<String>) -> Self {
        LambdaOptions {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
}

/// The documented Query / Mutation rule (see the module docs). `Err` carries a tag value
/// that is neither `query` nor `mutation`; the name rule applies then.
pub fn operation_kind(function: &LambdaFunction) -> Result<OperationKind, String> {
    let by_name = if naming::is_read_name(&function.name) {
        OperationKind::Query
    } else {
        OperationKind::Mutation
    };
    match function
        .tags
        .get(TAG_OPERATION)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(by_name),
        Some(v) if v == "query" => Ok(OperationKind::Query),
        Some(v) if v == "mutation" => Ok(OperationKind::Mutation),
        Some(other) => Err(other),
    }
}

/// Ingests `functions` as one Lambda source named `options.name`.
pub fn ingest(functions: &[LambdaFunction], options: &LambdaOptions) -> Ingested {
    let mut diagnostics = Vec::new();
    let endpoint = match options.endpoint.as_deref().map(Template::parse).transpose() {
        Ok(endpoint) => endpoint,
        Err(err) => {
            diagnostics.push(Diagnostic::error(
                Code::TemplateSyntax,
                format!("@source(name: \"{}\", lambda: {{endpoint}})", options.name),
                format!("the endpoint is not a valid template: {err}"),
            ));
            return Ingested {
                catalog: None,
                diagnostics,
            };
        }
    };
    if functions.is_empty() {
        diagnostics.push(Diagnostic::error(
            Code::NothingUsable,
            format!("source {}", options.name),
            format!(
                "no function is exposed: tag functions with `{TAG_EXPOSE}=true` or list them in the configuration"
            ),
        ));
        return Ingested {
            catalog: None,
            diagnostics,
        };
    }
    let mut sorted: Vec<&LambdaFunction> = functions.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));

    let mut builder = Builder {
        types: IndexMap::new(),
        type_names: Namespace::with_taken(naming::RESERVED_TYPE_NAMES.iter().copied()),
        by_ref: HashMap::new(),
        diagnostics: Vec::new(),
    };
    let mut roots: IndexMap<OperationKind, ObjectType> = IndexMap::new();
    for function in sorted {
        let kind = operation_kind(function).unwrap_or_else(|value| {
            diagnostics.push(Diagnostic::warning(
                Code::SpecValueIgnored,
                format!("function {}", function.name),
                format!("tag `{TAG_OPERATION}` is `{value}`, expected `query` or `mutation`; the name rule applies"),
            ));
            if naming::is_read_name(&function.name) { OperationKind::Query } else { OperationKind::Mutation }
        });
        let wanted = match function
            .tags
            .get(TAG_FIELD)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(tagged) => {
                let name = naming::field_name(tagged);
                if name != tagged {
                    diagnostics.push(Diagnostic::warning(
                        Code::NameCollision,
                        format!("function {}", function.name),
                        format!("tag `{TAG_FIELD}` value `{tagged}` is not a GraphQL name; using `{name}`"),
                    ));
                }
                name
            }
            None => naming::operation_name(&function.name),
        };
        let root = roots.entry(kind).or_default();
        let mut ns = Namespace::with_taken(root.fields.keys().map(String::as_str));
        let name = ns.claim(&wanted);
        if name != wanted {
            diagnostics.push(Diagnostic::warning(
                Code::NameCollision,
                format!("function {}", function.name),
                format!("root field `{wanted}` is taken; named `{name}`"),
            ));
        }
        let field = builder.root_field(&name, function, &options.name);
        root.fields.insert(name, field);
    }
    diagnostics.append(&mut builder.diagnostics);

    let mut catalog = Catalog {
        sources: IndexMap::new(),
        types: IndexMap::new(),
        roots: Roots {
            query: "Query".into(),
            mutation: roots
                .contains_key(&OperationKind::Mutation)
                .then(|| "Mutation".into()),
            subscription: None,
        },
    };
    catalog.sources.insert(
        options.name.clone(),
        Source {
            name: options.name.clone(),
            transport: Transport::Lambda(LambdaSource {
                region: options.region.clone(),
                endpoint,
            }),
            policy: SourcePolicy::default(),
        },
    );
    // A graph needs a Query type; a source of only mutations still gets one, with a field
    // that says where the graph comes from.
    let query = roots
        .shift_remove(&OperationKind::Query)
        .unwrap_or_else(|| {
            let mut object = ObjectType::default();
            let mut field = Field::new("_source", TypeRef::named("String"));
            field.description =
                Some("This graph has only mutations; this field is always null.".into());
            object.fields.insert(field.name.clone(), field);
            object
        });
    catalog.types.insert(
        "Query".into(),
        TypeDef {
            name: "Query".into(),
            description: None,
            kind: TypeKind::Object(query),
        },
    );
    if let Some(mutation) = roots.shift_remove(&OperationKind::Mutation) {
        catalog.types.insert(
            "Mutation".into(),
            TypeDef {
                name: "Mutation".into(),
                description: None,
                kind: TypeKind::Object(mutation),
            },
        );
    }
    for def in builder.types.into_values() {
        catalog.types.insert(def.name.clone(), def);
    }
    Ingested {
        catalog: Some(catalog),
        diagnostics,
    }
}

/// Whether a JSON Schema is translated for output (object types) or input (input types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Output,
    Input,
}

/// Nesting deeper than this is cut off as `JSON` (guards against pathological documents).
const MAX_DEPTH: usize = 32;

struct Builder {
    types: IndexMap<String, TypeDef>,
    type_names: Namespace,
    /// (schema location + pointer, side) → the type already generated for it.
    by_ref: HashMap<(String, String, Side), String>,
    diagnostics: Vec<Diagnostic>,
}

/// The document a schema is read from plus where it came from, for `$ref`s and messages.
struct Doc<'a> {
    function: &'a str,
    schema: &'a FunctionSchema,
}

impl Builder {
    fn root_field(&mut self, name: &str, function: &LambdaFunction, source: &str) -> Field {
        let base = naming::type_name(&function.name);
        let doc = function.schema.as_ref().map(|schema| Doc {
            function: &function.name,
            schema,
        });
        let input_schema = doc
            .as_ref()
            .and_then(|d| d.schema.document.get("input").map(|s| (d, s)));
        let output_schema = doc
            .as_ref()
            .and_then(|d| d.schema.document.get("output").map(|s| (d, s)));
        if let Some(d) = doc.as_ref().filter(|d| !d.schema.document.is_object()) {
            self.diagnostics.push(Diagnostic::warning(
                Code::SchemaSkipped,
                format!("function {} schema {}", function.name, d.schema.location),
                "the schema document is not a JSON object with `input` and `output`; JSON is used",
            ));
        }

        let mut args = IndexMap::new();
        let mut payload = Some(template("{{args.input}}"));
        match input_schema {
            Some((d, schema)) => {
                let resolved = self.resolve(d, schema, "input");
                let properties = resolved
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object);
                match properties {
                    Some(properties) if !properties.is_empty() && is_object_schema(resolved) => {
                        let required = required_set(resolved);
                        let mut ns = Namespace::new();
                        for (prop, schema) in properties {
                            let arg_name = ns.claim(&naming::field_name(prop));
                            let hint = format!("{base}{}", naming::type_name(prop));
                            let ty = self.translate(
                                d,
                                schema,
                                &hint,
                                Side::Input,
                                &format!("input.{prop}"),
                                0,
                            );
                            // Only required properties without a default are non-null arguments.
                            let ty = if required.contains(&prop.as_str())
                                && schema.get("default").is_none()
                            {
                                ty
                            } else {
                                ty.nullable()
                            };
                            let mut arg = InputValue::new(arg_name.clone(), ty);
                            arg.description = description(schema);
                            arg.default = schema.get("default").cloned();
                            if arg_name != *prop {
                                arg.wire_name = Some(prop.clone());
                            }
                            args.insert(arg_name, arg);
                        }
                        payload = None;
                    }
                    _ => {
                        let ty = match resolved {
                            Some(_) => self.translate(
                                d,
                                schema,
                                &format!("{base}Input"),
                                Side::Input,
                                "input",
                                0,
                            ),
                            None => TypeRef::named("JSON"),
                        };
                        args.insert("input".into(), InputValue::new("input", ty));
                    }
                }
            }
            None => {
                args.insert(
                    "input".into(),
                    InputValue::new("input", TypeRef::named("JSON")),
                );
            }
        }
        let ty = match output_schema {
            Some((d, schema)) => self
                .translate(
                    d,
                    schema,
                    &format!("{base}Output"),
                    Side::Output,
                    "output",
                    0,
                )
                .nullable(),
            None => TypeRef::named("JSON"),
        };
        let qualifier = function
            .tags
            .get(TAG_QUALIFIER)
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty());
        Field {
            name: name.to_string(),
            description: function
                .description
                .clone()
                .filter(|d| !d.trim().is_empty()),
            deprecation: None,
            args,
            ty,
            wire_name: None,
            resolver: Some(Resolver {
                source: source.to_string(),
                call: Call::Lambda(LambdaCall {
                    function: function.name.clone(),
                    qualifier,
                    payload,
                    batch: None,
                }),
                policy: FieldPolicy::default(),
            }),
        }
    }

    fn skipped(&mut self, d: &Doc<'_>, at: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(
            Code::SchemaSkipped,
            format!("function {} schema {} {at}", d.function, d.schema.location),
            message,
        ));
    }

    /// Follows `$ref`s (JSON pointers into the document) to a schema that is not a reference.
    fn resolve<'d>(&mut self, d: &Doc<'d>, schema: &'d Value, at: &str) -> Option<&'d Value> {
        let mut current = schema;
        for _ in 0..MAX_DEPTH {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Some(current);
            };
            match reference
                .strip_prefix('#')
                .and_then(|p| d.schema.document.pointer(p))
            {
                Some(target) => current = target,
                None => {
                    self.diagnostics.push(Diagnostic::warning(
                        Code::RefDangling,
                        format!("function {} schema {} {at}", d.function, d.schema.location),
                        format!(
                            "`$ref: {reference}` points at nothing in the document; JSON is used"
                        ),
                    ));
                    return None;
                }
            }
        }
        self.diagnostics.push(Diagnostic::warning(
            Code::RefCycle,
            format!("function {} schema {} {at}", d.function, d.schema.location),
            "the `$ref` chain does not end in a schema; JSON is used",
        ));
        None
    }

    /// Translates one JSON Schema to a type reference (non-null when the schema excludes null).
    fn translate(
        &mut self,
        d: &Doc<'_>,
        schema: &Value,
        hint: &str,
        side: Side,
        at: &str,
        depth: usize,
    ) -> TypeRef {
        let json = TypeRef::named("JSON");
        if depth > MAX_DEPTH {
            self.skipped(d, at, "the schema nests too deeply; JSON is used");
            return json;
        }
        // A `$ref` names the type after its target and is generated once per side.
        let reference = schema
            .get("$ref")
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(resolved) = self.resolve(d, schema, at) else {
            return json;
        };
        let hint = match &reference {
            Some(r) => naming::type_name(r.rsplit('/').next().unwrap_or(r)),
            None => hint.to_string(),
        };
        let types = declared_types(resolved);
        let nullable = types.iter().any(|t| t == "null")
            || resolved.get("nullable") == Some(&Value::Bool(true));
        let non_null_types: Vec<&str> = types
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "null")
            .collect();
        if let Some(values) = resolved.get("enum").and_then(Value::as_array) {
            let ty = self.enum_type(d, values, &hint, reference.as_deref(), at);
            return if nullable { ty } else { ty.non_null() };
        }
        if ["oneOf", "anyOf", "allOf", "not"]
            .iter()
            .any(|k| resolved.get(*k).is_some())
        {
            self.skipped(
                d,
                at,
                "oneOf/anyOf/allOf/not cannot be expressed in GraphQL; JSON is used",
            );
            return json;
        }
        let ty = match non_null_types.as_slice() {
            ["string"] => TypeRef::named("String"),
            ["integer"] => {
                let wide = resolved.get("format").and_then(Value::as_str) == Some("int64");
                TypeRef::named(if wide { "Int64" } else { "Int" })
            }
            ["number"] => TypeRef::named("Float"),
            ["boolean"] => TypeRef::named("Boolean"),
            ["array"] => match resolved.get("items") {
                Some(items) if items.is_object() => {
                    let item_hint = format!("{hint}Item");
                    TypeRef::list(self.translate(
                        d,
                        items,
                        &item_hint,
                        side,
                        &format!("{at}[]"),
                        depth + 1,
                    ))
                }
                _ => TypeRef::list(TypeRef::named("JSON")),
            },
            ["object"] | []
                if resolved
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty()) =>
            {
                TypeRef::named(self.object_type(
                    d,
                    resolved,
                    &hint,
                    reference.as_deref(),
                    side,
                    at,
                    depth,
                ))
            }
            // Free-form objects (maps), untyped schemas and unions of types are JSON.
            ["object"] | [] => return json,
            _ => {
                self.skipped(
                    d,
                    at,
                    format!(
                        "`type: {}` has no GraphQL equivalent; JSON is used",
                        types.join("|")
                    ),
                );
                return json;
            }
        };
        if nullable || non_null_types.is_empty() {
            ty
        } else {
            ty.non_null()
        }
    }

    fn claim_type(&mut self, d: &Doc<'_>, wanted: &str, at: &str) -> String {
        let name = self.type_names.claim(wanted);
        if name != wanted {
            self.diagnostics.push(Diagnostic::warning(
                Code::NameCollision,
                format!("function {} schema {} {at}", d.function, d.schema.location),
                format!("type `{wanted}` is taken; named `{name}`"),
            ));
        }
        name
    }

    #[allow(clippy::too_many_arguments)]
    fn object_type(
        &mut self,
        d: &Doc<'_>,
        schema: &Value,
        hint: &str,
        reference: Option<&str>,
        side: Side,
        at: &str,
        depth: usize,
    ) -> String {
        let key = reference.map(|r| (d.schema.location.clone(), r.to_string(), side));
        if let Some(existing) = key.as_ref().and_then(|k| self.by_ref.get(k)) {
            return existing.clone();
        }
        let wanted = match side {
            Side::Output => hint.to_string(),
            Side::Input if hint.ends_with("Input") => hint.to_string(),
            Side::Input => format!("{hint}Input"),
        };
        let name = self.claim_type(d, &wanted, at);
        // Registered before the properties are translated, so recursive `$ref`s terminate.
        if let Some(key) = key {
            self.by_ref.insert(key, name.clone());
        }
        let placeholder = TypeDef {
            name: name.clone(),
            description: description(schema),
            kind: TypeKind::Scalar,
        };
        self.types.insert(name.clone(), placeholder);

        let required = required_set(Some(schema));
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut ns = Namespace::new();
        let mut output = ObjectType::default();
        let mut input = InputObjectType::default();
        for (prop, prop_schema) in properties {
            let field_name = ns.claim(&naming::field_name(prop));
            let prop_hint = format!(
                "{}{}",
                hint.trim_end_matches("Input"),
                naming::type_name(prop)
            );
            let ty = self.translate(
                d,
                prop_schema,
                &prop_hint,
                side,
                &format!("{at}.{prop}"),
                depth + 1,
            );
            let wire = (field_name != *prop).then(|| prop.clone());
            match side {
                Side::Output => {
                    // Only required properties may be non-null in output: a missing optional
                    // property must read as null, not as an error.
                    let ty = if required.contains(&prop.as_str()) {
                        ty
                    } else {
                        ty.nullable()
                    };
                    let mut field = Field::new(field_name.clone(), ty);
                    field.description = description(prop_schema);
                    field.wire_name = wire;
                    output.fields.insert(field_name, field);
                }
                Side::Input => {
                    let has_default = prop_schema.get("default").is_some();
                    let ty = if required.contains(&prop.as_str()) && !has_default {
                        ty
                    } else {
                        ty.nullable()
                    };
                    let mut value = InputValue::new(field_name.clone(), ty);
                    value.description = description(prop_schema);
                    value.default = prop_schema.get("default").cloned();
                    value.wire_name = wire;
                    input.fields.insert(field_name, value);
                }
            }
        }
        let kind = match side {
            Side::Output => TypeKind::Object(output),
            Side::Input => TypeKind::Input(input),
        };
        if let Some(def) = self.types.get_mut(&name) {
            def.kind = kind;
        }
        name
    }

    fn enum_type(
        &mut self,
        d: &Doc<'_>,
        values: &[Value],
        hint: &str,
        reference: Option<&str>,
        at: &str,
    ) -> TypeRef {
        let strings: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        if strings.is_empty()
            || strings.len() + usize::from(values.iter().any(Value::is_null)) != values.len()
        {
            self.skipped(
                d,
                at,
                "only enums of strings become GraphQL enums; JSON is used",
            );
            return TypeRef::named("JSON");
        }
        // Enums serve both sides, so they are keyed without the side.
        let key = reference.map(|r| (d.schema.location.clone(), r.to_string(), Side::Output));
        if let Some(existing) = key.as_ref().and_then(|k| self.by_ref.get(k)) {
            return TypeRef::named(existing.clone());
        }
        let name = self.claim_type(d, hint.trim_end_matches("Input"), at);
        if let Some(key) = key {
            self.by_ref.insert(key, name.clone());
        }
        let mut ns = Namespace::new();
        let mut enum_type = EnumType::default();
        for raw in strings {
            let value = ns.claim(&naming::enum_value(raw));
            let wire_name = (value != raw).then(|| raw.to_string());
            enum_type.values.insert(
                value.clone(),
                EnumValue {
                    name: value,
                    description: None,
                    deprecation: None,
                    wire_name,
                },
            );
        }
        self.types.insert(
            name.clone(),
            TypeDef {
                name: name.clone(),
                description: None,
                kind: TypeKind::Enum(enum_type),
            },
        );
        TypeRef::named(name)
    }
}

fn template(text: &str) -> Template {
    // A fixed, valid template; parsing cannot fail, but never panic if it did.
    Template::parse(text).unwrap_or_else(|_| Template::literal(text))
}

fn description(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .or_else(|| schema.get("title"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
}

fn declared_types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn is_object_schema(schema: Option<&Value>) -> bool {
    schema.is_some_and(|s| {
        let types = declared_types(s);
        types.is_empty() || types.iter().any(|t| t == "object")
    })
}

fn required_set(schema: Option<&Value>) -> Vec<&str> {
    schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_tag_overrides_the_name_rule() {
        let f = LambdaFunction::new("get-thing").with_tag(TAG_OPERATION, "Mutation");
        assert_eq!(operation_kind(&f), Ok(OperationKind::Mutation));
        let f = LambdaFunction::new("get-thing").with_tag(TAG_OPERATION, "sometimes");
        assert_eq!(operation_kind(&f), Err("sometimes".into()));
    }
}
