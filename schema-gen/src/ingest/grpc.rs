//! gRPC ingest: a descriptor pool (from reflection or a FileDescriptorSet) into a catalog.
//!
//! ```
//! use schema_gen::ingest::grpc::{ingest_descriptor_set, GrpcOptions};
//! let ingested = ingest_descriptor_set(b"not a descriptor set", &GrpcOptions::new("svc", "http://127.0.0.1:50051"));
//! assert!(ingested.catalog.is_none());
//! assert_eq!(ingested.diagnostics[0].code.as_str(), "DESCRIPTOR_INVALID");
//! ```
//!
//! The wire format between graft and the engine's gRPC invoker is the protobuf JSON mapping,
//! so responses are shaped by the generic resolvers like any JSON upstream. The rules:
//!
//! - **Root fields.** Every method of every service (except the reflection services) is one
//!   root field named after the method in camelCase (`Check` → `check`); when two methods of
//!   one root type share that name the service is prefixed (`healthCheck`), then the package.
//!   A method is a **Query** when its `idempotency_level` is `NO_SIDE_EFFECTS` or its name
//!   starts with one of [`crate::naming::READ_VERBS`] as a whole word (`GetUser`, `ListPets`, `Check`);
//!   every other unary method is a **Mutation**. Server-streaming methods are **Subscription**
//!   fields; client-streaming and bidi methods are skipped (`OPERATION_SKIPPED`). Moving a
//!   field between root types in the generated SDL overrides the rule.
//! - **Arguments** are the request message's fields (the `@grpc` default: arguments map onto
//!   the message); a `google.protobuf.Empty` request takes none. All are nullable.
//! - **Names.** A message or enum is named by its path inside its package (`Pet`,
//!   `Pet.Owner` → `PetOwner`); only names that collide across packages are qualified with
//!   the package (`foo.v1.Pet` → `FooV1Pet`). Request-side messages get an `Input` twin.
//!   Fields use their proto JSON name (lowerCamelCase), so no mapping is needed.
//! - **Scalars.** `int32`/`sint32`/`sfixed32` → `Int`; `uint32`/`fixed32` and all 64-bit
//!   integers → `Int64` (exact, never truncated); `float`/`double` → `Float`; `bool` →
//!   `Boolean`; `string` → `String`; `bytes` → `String` (base64). Singular scalar fields without
//!   presence are non-null (proto3 always has a value); enums, messages and fields with
//!   presence (`optional`, oneof members) are nullable; repeated fields are `[T!]!`.
//! - **Enums** keep their value names (`SERVING`); values come back as names.
//! - **oneof**: each member is an ordinary nullable field described as a member of its
//!   oneof; at most one is set in output, and the engine rejects input that sets more than one.
//! - **Maps** (`map<K, V>`) are `JSON` objects keyed by the key's string form, as in proto
//!   JSON (a typed key/value list would need reshaping on both directions of every call).
//! - **Well-known types**: `Timestamp`, `Duration`, `FieldMask` → `String` in proto JSON form
//!   (`"2024-01-01T00:00:00Z"`, `"1.5s"`, `"a.b,c"`); wrappers → their nullable scalar;
//!   `Struct`, `Value`, `ListValue`, `Any` → `JSON`; `Empty` as a response → `Boolean`
//!   (`true` when the call succeeded), elsewhere `JSON`.
//! - A message without fields is `JSON` (GraphQL has no empty object types). When no
//!   method is a query, `Query` gets a placeholder `_empty: Boolean` field.
//! - **Comments** on services, methods, messages, fields and enum values become descriptions.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    MethodDescriptor,
};

use super::Ingested;
use crate::catalog::{
    Call, Catalog, EnumType, EnumValue, Field, GrpcCall, GrpcSource, InputObjectType, InputValue,
    ObjectType, OperationKind, Resolver, Roots, Source, SourcePolicy, Transport, TypeDef, TypeKind,
    TypeRef,
};
use crate::naming::{self, Namespace, RESERVED_TYPE_NAMES};
use crate::template::Template;
use crate::{Code, Diagnostic};

/// Services never exposed: graft's own discovery protocol.
const HIDDEN_SERVICES: &[&str] = &[
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// How one gRPC source is named and reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcOptions {
    /// The source name (`@source(name:)`).
    pub name: String,
    /// `http://host:port` or `https://host:port`; may use `{{env.NAME}}`.
    pub endpoint: String,
    /// The descriptor-set file the services came from, written into `@source` so that
    /// `serve` reads it instead of asking the server by reflection.
    pub descriptor_set: Option<String>,
}

impl GrpcOptions {
    pub fn new(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        GrpcOptions {
            name: name.into(),
            endpoint: endpoint.into(),
            descriptor_set: None,
        }
    }

    pub fn with_descriptor_set(mut self, path: impl Into<String>) -> Self {
        self.descriptor_set = Some(path.into());
        self
    }
}

/// Decodes a serialized `FileDescriptorSet` (as `protoc --descriptor_set_out
/// --include_imports` writes it) and ingests it. A set that does not decode or link (for
/// example a missing dependency) yields one `DESCRIPTOR_INVALID` error and no catalog.
pub fn ingest_descriptor_set(bytes: &[u8], options: &GrpcOptions) -> Ingested {
    match DescriptorPool::decode(bytes) {
        Ok(pool) => ingest(&pool, options),
        Err(err) => Ingested {
            catalog: None,
            diagnostics: vec![Diagnostic::error(
                Code::DescriptorInvalid,
                "descriptor set",
                format!("the file descriptor set is not usable: {err}"),
            )],
        },
    }
}

/// Ingests every service of `pool` as one source named `options.name`.
pub fn ingest(pool: &DescriptorPool, options: &GrpcOptions) -> Ingested {
    let mut diagnostics = Vec::new();
    let endpoint = match Template::parse(&options.endpoint) {
        Ok(t) => t,
        Err(err) => {
            diagnostics.push(Diagnostic::error(
                Code::TemplateSyntax,
                format!("@source(name: \"{}\", grpc: {{endpoint}})", options.name),
                format!("the endpoint is not a valid template: {err}"),
            ));
            return Ingested {
                catalog: None,
                diagnostics,
            };
        }
    };

    // Methods by root kind, in pool order.
    let mut methods: Vec<(OperationKind, MethodDescriptor)> = Vec::new();
    for service in pool.services() {
        if HIDDEN_SERVICES.contains(&service.full_name()) {
            continue;
        }
        for method in service.methods() {
            if method.is_client_streaming() {
                diagnostics.push(Diagnostic::warning(
                    Code::OperationSkipped,
                    method_path(&method),
                    if method.is_server_streaming() {
                        "bidirectional streaming methods are not supported; skipped"
                    } else {
                        "client-streaming methods are not supported; skipped"
                    },
                ));
                continue;
            }
            methods.push((operation_kind(&method), method));
        }
    }
    if methods.is_empty() {
        diagnostics.push(Diagnostic::error(
            Code::NothingUsable,
            format!("source {}", options.name),
            "the descriptors define no unary or server-streaming method",
        ));
        return Ingested {
            catalog: None,
            diagnostics,
        };
    }

    let mut builder = Builder::new(&methods);
    let mut roots: IndexMap<OperationKind, ObjectType> = IndexMap::new();
    let root_names = root_field_names(&methods);
    for ((kind, method), wanted) in methods.iter().zip(root_names) {
        let root = roots.entry(*kind).or_default();
        let mut ns = Namespace::with_taken(root.fields.keys().map(String::as_str));
        let name = ns.claim(&wanted);
        if name != wanted {
            diagnostics.push(Diagnostic::warning(
                Code::NameCollision,
                method_path(method),
                format!("root field `{wanted}` is taken; named `{name}`"),
            ));
        }
        let field = builder.root_field(&name, method, &options.name);
        root.fields.insert(name, field);
    }

    let mut catalog = Catalog {
        sources: IndexMap::new(),
        types: IndexMap::new(),
        roots: Roots {
            query: "Query".into(),
            mutation: roots
                .contains_key(&OperationKind::Mutation)
                .then(|| "Mutation".into()),
            subscription: roots
                .contains_key(&OperationKind::Subscription)
                .then(|| "Subscription".into()),
        },
    };
    catalog.sources.insert(
        options.name.clone(),
        Source {
            name: options.name.clone(),
            transport: Transport::Grpc(GrpcSource {
                endpoint,
                descriptor_set: options.descriptor_set.clone(),
            }),
            policy: SourcePolicy::default(),
        },
    );
    if !roots.contains_key(&OperationKind::Query) {
        // GraphQL requires a query field; a service of commands only gets a placeholder.
        let mut field = Field::new("_empty", TypeRef::named("Boolean"));
        field.description = Some(
            "Always null: the gRPC services have no query method, and GraphQL requires a query field."
                .into(),
        );
        let mut query = ObjectType::default();
        query.fields.insert("_empty".into(), field);
        roots.insert(OperationKind::Query, query);
    }
    for kind in [
        OperationKind::Query,
        OperationKind::Mutation,
        OperationKind::Subscription,
    ] {
        if let Some(object) = roots.shift_remove(&kind) {
            let name = match kind {
                OperationKind::Query => "Query",
                OperationKind::Mutation => "Mutation",
                OperationKind::Subscription => "Subscription",
            };
            catalog.types.insert(
                name.into(),
                TypeDef {
                    name: name.into(),
                    description: None,
                    kind: TypeKind::Object(object),
                },
            );
        }
    }
    for def in builder.types.into_values() {
        catalog.types.insert(def.name.clone(), def);
    }
    Ingested {
        catalog: Some(catalog),
        diagnostics,
    }
}

/// `package.Service/Method`, the coordinate of a method and the `@grpc(method:)` value.
pub fn method_path(method: &MethodDescriptor) -> String {
    format!("{}/{}", method.parent_service().full_name(), method.name())
}

/// The documented Query / Mutation / Subscription rule.
pub fn operation_kind(method: &MethodDescriptor) -> OperationKind {
    if method.is_server_streaming() {
        return OperationKind::Subscription;
    }
    let no_side_effects = method
        .method_descriptor_proto()
        .options
        .as_ref()
        .is_some_and(|o| {
            o.idempotency_level()
                == prost_reflect::prost_types::method_options::IdempotencyLevel::NoSideEffects
        });
    if no_side_effects || crate::naming::is_read_name(method.name()) {
        OperationKind::Query
    } else {
        OperationKind::Mutation
    }
}

/// Root field names: the method's camelCase name, qualified by service and then package
/// where two methods of one root type would otherwise share a name.
fn root_field_names(methods: &[(OperationKind, MethodDescriptor)]) -> Vec<String> {
    let candidates = |level: usize, m: &MethodDescriptor| -> String {
        let service = m.parent_service();
        match level {
            0 => naming::operation_name(m.name()),
            1 => naming::operation_name(&format!("{}_{}", service.name(), m.name())),
            _ => naming::operation_name(&format!("{}_{}", service.full_name(), m.name())),
        }
    };
    let mut names: Vec<String> = methods.iter().map(|(_, m)| candidates(0, m)).collect();
    for level in 1..=2 {
        let mut counts: HashMap<(OperationKind, &str), usize> = HashMap::new();
        for ((kind, _), name) in methods.iter().zip(&names) {
            *counts.entry((*kind, name.as_str())).or_default() += 1;
        }
        let clashing: Vec<bool> = methods
            .iter()
            .zip(&names)
            .map(|((kind, _), name)| counts.get(&(*kind, name.as_str())).copied().unwrap_or(0) > 1)
            .collect();
        for (((_, method), name), clash) in methods.iter().zip(names.iter_mut()).zip(clashing) {
            if clash {
                *name = candidates(level, method);
            }
        }
    }
    names
}

/// How a well-known type appears in GraphQL.
fn well_known(full_name: &str) -> Option<&'static str> {
    Some(match full_name {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
            "String"
        }
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => "String",
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => "Float",
        "google.protobuf.Int32Value" => "Int",
        "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.UInt32Value" => "Int64",
        "google.protobuf.BoolValue" => "Boolean",
        "google.protobuf.Struct"
        | "google.protobuf.Value"
        | "google.protobuf.ListValue"
        | "google.protobuf.Any"
        | "google.protobuf.Empty" => "JSON",
        _ => return None,
    })
}

const EMPTY: &str = "google.protobuf.Empty";

/// Which side of a call a message is used on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Output,
    Input,
}

/// Builds object, input and enum types on demand, with collision-free names.
struct Builder {
    /// Base GraphQL name of each message/enum full name (before the `Input` suffix).
    base_names: HashMap<String, String>,
    /// GraphQL name already given to (full name, side).
    assigned: HashMap<(String, Side), String>,
    namespace: Namespace,
    types: IndexMap<String, TypeDef>,
}

impl Builder {
    fn new(methods: &[(OperationKind, MethodDescriptor)]) -> Self {
        // Name by path inside the package; qualify only names shared by several packages.
        let mut reachable: Vec<(String, String)> = Vec::new(); // (full name, package)
        let mut seen = HashSet::new();
        let mut stack: Vec<Kind> = Vec::new();
        for (_, method) in methods {
            stack.push(Kind::Message(method.input()));
            stack.push(Kind::Message(method.output()));
        }
        while let Some(kind) = stack.pop() {
            match kind {
                Kind::Message(m) => {
                    if well_known(m.full_name()).is_some()
                        || m.fields().len() == 0
                        || !seen.insert(m.full_name().to_string())
                    {
                        continue;
                    }
                    reachable.push((m.full_name().to_string(), m.package_name().to_string()));
                    for field in m.fields() {
                        if !field.is_map() {
                            stack.push(field.kind());
                        }
                    }
                }
                Kind::Enum(e) if seen.insert(e.full_name().to_string()) => {
                    reachable.push((e.full_name().to_string(), e.package_name().to_string()));
                }
                _ => {}
            }
        }
        let short = |full: &str, package: &str| -> String {
            let local = full
                .strip_prefix(package)
                .and_then(|s| s.strip_prefix('.'))
                .unwrap_or(full);
            naming::type_name(local)
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (full, package) in &reachable {
            *counts.entry(short(full, package)).or_default() += 1;
        }
        let base_names = reachable
            .iter()
            .map(|(full, package)| {
                let name = short(full, package);
                let name = if counts.get(&name).copied().unwrap_or(0) > 1 {
                    naming::type_name(full)
                } else {
                    name
                };
                (full.clone(), name)
            })
            .collect();
        Builder {
            base_names,
            assigned: HashMap::new(),
            namespace: Namespace::with_taken(RESERVED_TYPE_NAMES.iter().copied()),
            types: IndexMap::new(),
        }
    }

    fn root_field(&mut self, name: &str, method: &MethodDescriptor, source: &str) -> Field {
        let output = method.output();
        let ty = if output.full_name() == EMPTY {
            TypeRef::named("Boolean")
        } else {
            self.message_ref(&output, Side::Output)
        };
        let mut field = Field::new(name, ty);
        let mut description = comment(&method.parent_file(), method.path());
        let call = format!("`{}`", method_path(method));
        description = Some(match description {
            Some(text) => format!("{text}\n\ngRPC {call}"),
            None => format!("gRPC {call}"),
        });
        if output.full_name() == EMPTY {
            description = description.map(|d| format!("{d}; true when the call succeeded"));
        }
        field.description = description;
        let input = method.input();
        if input.full_name() != EMPTY {
            match well_known(input.full_name()) {
                // A well-known request type: the whole message is one `value` argument.
                Some(scalar) => {
                    field.args.insert(
                        "value".into(),
                        InputValue::new("value", TypeRef::named(scalar)),
                    );
                }
                None => field.args = self.input_fields(&input),
            }
        }
        field.resolver = Some(Resolver {
            source: source.to_string(),
            call: Call::Grpc(GrpcCall {
                method: method_path(method),
                body: None,
                batch: None,
            }),
            policy: Default::default(),
        });
        field
    }

    /// The GraphQL name for a message or enum on one side, claiming it on first use.
    fn claim(&mut self, full_name: &str, side: Side) -> (String, bool) {
        let key = (full_name.to_string(), side);
        if let Some(name) = self.assigned.get(&key) {
            return (name.clone(), false);
        }
        let base = self
            .base_names
            .get(full_name)
            .cloned()
            .unwrap_or_else(|| naming::type_name(full_name));
        let wanted = match side {
            Side::Output => base,
            Side::Input => format!("{base}Input"),
        };
        let name = self.namespace.claim(&wanted);
        self.assigned.insert(key, name.clone());
        (name, true)
    }

    fn message_ref(&mut self, message: &MessageDescriptor, side: Side) -> TypeRef {
        if let Some(scalar) = well_known(message.full_name()) {
            return TypeRef::named(scalar);
        }
        if message.fields().len() == 0 {
            // GraphQL has no empty object types; a field-less message is `{}` as JSON.
            return TypeRef::named("JSON");
        }
        let (name, new) = self.claim(message.full_name(), side);
        if new {
            // Reserve the slot first so recursive messages find their own name.
            let description = comment(&message.parent_file(), message.path());
            let placeholder = TypeDef {
                name: name.clone(),
                description,
                kind: TypeKind::Scalar,
            };
            self.types.insert(name.clone(), placeholder);
            let kind = match side {
                Side::Output => TypeKind::Object(ObjectType {
                    fields: self.output_fields(message),
                }),
                Side::Input => TypeKind::Input(InputObjectType {
                    fields: self.input_fields(message),
                }),
            };
            if let Some(def) = self.types.get_mut(&name) {
                def.kind = kind;
            }
        }
        TypeRef::named(name)
    }

    fn enum_ref(&mut self, e: &EnumDescriptor) -> TypeRef {
        // Enums are shared by both sides.
        let (name, new) = self.claim(e.full_name(), Side::Output);
        if new {
            let file = e.parent_file();
            let wanted = |raw: &str| {
                let wanted = naming::enum_value(raw);
                if matches!(wanted.as_str(), "TRUE" | "FALSE" | "NULL") {
                    format!("{wanted}_")
                } else {
                    wanted
                }
            };
            // Values already spelled as GraphQL wants keep their name; renamed ones yield.
            let mut ns = Namespace::with_taken(
                e.values()
                    .filter(|v| wanted(v.name()) == v.name())
                    .map(|v| v.name().to_string())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            );
            let mut values = IndexMap::new();
            for value in e.values() {
                let gql = if wanted(value.name()) == value.name() {
                    value.name().to_string()
                } else {
                    ns.claim(&wanted(value.name()))
                };
                values.insert(
                    gql.clone(),
                    EnumValue {
                        wire_name: (gql != value.name()).then(|| value.name().to_string()),
                        name: gql,
                        description: comment(&file, value.path()),
                        deprecation: None,
                    },
                );
            }
            self.types.insert(
                name.clone(),
                TypeDef {
                    name: name.clone(),
                    description: comment(&file, e.path()),
                    kind: TypeKind::Enum(EnumType { values }),
                },
            );
        }
        TypeRef::named(name)
    }

    /// The GraphQL type of one field's value (without list / non-null wrapping).
    fn value_ref(&mut self, field: &FieldDescriptor, side: Side) -> TypeRef {
        if field.is_map() {
            return TypeRef::named("JSON");
        }
        match field.kind() {
            Kind::Double | Kind::Float => TypeRef::named("Float"),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => TypeRef::named("Int"),
            Kind::Uint32 | Kind::Fixed32 => TypeRef::named("Int64"),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
                TypeRef::named("Int64")
            }
            Kind::Bool => TypeRef::named("Boolean"),
            Kind::String | Kind::Bytes => TypeRef::named("String"),
            Kind::Enum(e) => self.enum_ref(&e),
            Kind::Message(m) => self.message_ref(&m, side),
        }
    }

    fn field_description(field: &FieldDescriptor) -> Option<String> {
        let mut parts: Vec<String> = comment(&field.parent_file(), field.path())
            .into_iter()
            .collect();
        if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
            parts.push(format!(
                "Member of oneof `{}`: at most one member is set.",
                oneof.name()
            ));
        }
        if field.kind() == Kind::Bytes {
            parts.push("Base64-encoded bytes.".into());
        }
        if field.is_map() {
            parts.push("A map, as a JSON object keyed by the key's string form.".into());
        }
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    fn output_fields(&mut self, message: &MessageDescriptor) -> IndexMap<String, Field> {
        let mut fields = IndexMap::new();
        let mut ns = Namespace::new();
        for field in message.fields() {
            let name = ns.claim(&naming::field_name(field.json_name()));
            let base = self.value_ref(&field, Side::Output);
            let scalar_like = !matches!(field.kind(), Kind::Message(_) | Kind::Enum(_));
            let ty = if field.is_list() {
                TypeRef::list(base.non_null()).non_null()
            } else if field.is_map() || (scalar_like && !field.supports_presence()) {
                base.non_null()
            } else {
                base
            };
            let mut out = Field::new(name.clone(), ty);
            out.wire_name = (name != field.json_name()).then(|| field.json_name().to_string());
            out.description = Self::field_description(&field);
            fields.insert(name, out);
        }
        fields
    }

    fn input_fields(&mut self, message: &MessageDescriptor) -> IndexMap<String, InputValue> {
        let mut fields = IndexMap::new();
        let mut ns = Namespace::new();
        for field in message.fields() {
            let name = ns.claim(&naming::field_name(field.json_name()));
            let base = self.value_ref(&field, Side::Input);
            let ty = if field.is_list() {
                TypeRef::list(base.non_null())
            } else {
                base
            };
            let mut input = InputValue::new(name.clone(), ty);
            input.wire_name = (name != field.json_name()).then(|| field.json_name().to_string());
            input.description = Self::field_description(&field);
            fields.insert(name, input);
        }
        fields
    }
}

/// The leading (else trailing) comment at `path` in `file`, trimmed, as a description.
fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let raw = location
        .leading_comments
        .as_deref()
        .or(location.trailing_comments.as_deref())?;
    let lines: Vec<&str> = raw
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}
