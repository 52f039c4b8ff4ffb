//! The catalog: graft's source-agnostic intermediate representation of one graph.
//!
//! Ingest produces it from a source spec, `emit` writes it as executable SDL, `parse` reads
//! executable SDL back into it, and the engine builds a gateway from it. Every value here is
//! typed: directive arguments and templates are parsed once, at the edge.

use indexmap::IndexMap;
use serde_json::Value;

use crate::template::Template;

/// One graph: its upstream sources and its GraphQL types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Upstream sources by name (`@source` on the schema definition), in declaration order.
    pub sources: IndexMap<String, Source>,
    /// Every named type except the built-in scalars, in declaration order.
    pub types: IndexMap<String, TypeDef>,
    pub roots: Roots,
}

/// Names of the root operation types.
#[derive(Debug, Clone, PartialEq)]
pub struct Roots {
    pub query: String,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            query: "Query".into(),
            mutation: None,
            subscription: None,
        }
    }
}

/// The operation kind a root field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

/// An upstream: where calls go and the policy they run under.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub transport: Transport,
    pub policy: SourcePolicy,
}

/// How a source is reached. Only `engine/upstream/<transport>.rs` and
/// `schema-gen/ingest/<transport>.rs` match on this.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Rest(RestSource),
    Grpc(GrpcSource),
    Lambda(LambdaSource),
}

impl Transport {
    /// The directive argument naming this transport in `@source(...)`.
    pub fn keyword(&self) -> &'static str {
        match self {
            Transport::Rest(_) => "rest",
            Transport::Grpc(_) => "grpc",
            Transport::Lambda(_) => "lambda",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestSource {
    /// Base URL; may use `{{env.NAME}}`.
    pub base_url: Template,
    /// Headers sent on every call of this source (values are templates).
    pub headers: Vec<(String, Template)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrpcSource {
    /// `http://host:port` or `https://host:port`; may use `{{env.NAME}}`.
    pub endpoint: Template,
    /// A FileDescriptorSet file describing the services; when absent the engine asks the
    /// server by reflection. A relative path is relative to graft's working directory.
    pub descriptor_set: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSource {
    pub region: Option<String>,
    /// Invoke endpoint (emulators); may use `{{env.NAME}}`.
    pub endpoint: Option<Template>,
}

/// Policy shared by all calls of a source; fields may override some of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourcePolicy {
    /// Per-call timeout in milliseconds (the engine applies its default when absent).
    pub timeout_ms: Option<u64>,
    /// Client request headers forwarded upstream (lower-case names). Nothing by default.
    pub forward_headers: Vec<String>,
    /// Upstream response headers passed back to the client (lower-case names).
    pub response_headers: Vec<String>,
    /// Whether identical in-flight reads share one upstream call (engine default when absent).
    pub dedupe: Option<bool>,
    /// Whether reads honour the upstream's `Cache-Control` as a shared cache would
    /// (`httpCache`; off by default).
    pub http_cache: bool,
    /// Whether cached answers may go to the shared (Redis) tier as well as the in-process
    /// one (`sharedCache`; the engine's default, true, when absent).
    pub shared_cache: Option<bool>,
}

/// A named GraphQL type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    pub name: String,
    pub description: Option<String>,
    pub kind: TypeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Object(ObjectType),
    Input(InputObjectType),
    Enum(EnumType),
    Union(UnionType),
    /// A custom scalar (`JSON`, `Int64`, ...); values pass through as JSON.
    Scalar,
}

impl TypeKind {
    /// The SDL keyword of this kind (`type`, `input`, ...), used in messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            TypeKind::Object(_) => "type",
            TypeKind::Input(_) => "input",
            TypeKind::Enum(_) => "enum",
            TypeKind::Union(_) => "union",
            TypeKind::Scalar => "scalar",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectType {
    pub fields: IndexMap<String, Field>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputObjectType {
    pub fields: IndexMap<String, InputValue>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnumType {
    pub values: IndexMap<String, EnumValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub name: String,
    pub description: Option<String>,
    pub deprecation: Option<String>,
    /// The upstream's spelling when it differs from `name` (`@map(from:)`).
    pub wire_name: Option<String>,
}

impl EnumValue {
    /// The value as the upstream spells it.
    pub fn wire(&self) -> &str {
        self.wire_name.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnionType {
    pub members: Vec<String>,
    /// How the engine picks the member type of an upstream value; structural when absent.
    pub discriminator: Option<Discriminator>,
}

/// `@discriminator(property:, mapping:)`: the JSON property whose value names the member.
#[derive(Debug, Clone, PartialEq)]
pub struct Discriminator {
    pub property: String,
    /// (property value, member type name). A member not listed matches its own name.
    pub mapping: Vec<(String, String)>,
}

/// A field of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub description: Option<String>,
    pub deprecation: Option<String>,
    pub args: IndexMap<String, InputValue>,
    pub ty: TypeRef,
    /// The JSON property this field reads from the parent value when it differs from `name`.
    pub wire_name: Option<String>,
    /// Present when the field is backed by an upstream call.
    pub resolver: Option<Resolver>,
}

impl Field {
    /// A plain field that reads `name` from its parent value.
    pub fn new(name: impl Into<String>, ty: TypeRef) -> Self {
        Field {
            name: name.into(),
            description: None,
            deprecation: None,
            args: IndexMap::new(),
            ty,
            wire_name: None,
            resolver: None,
        }
    }

    /// The JSON property name this field reads from its parent.
    pub fn wire(&self) -> &str {
        self.wire_name.as_deref().unwrap_or(&self.name)
    }
}

/// An argument or an input-object field.
#[derive(Debug, Clone, PartialEq)]
pub struct InputValue {
    pub name: String,
    pub description: Option<String>,
    pub deprecation: Option<String>,
    pub ty: TypeRef,
    pub default: Option<Value>,
    /// The upstream's spelling when it differs from `name` (`@map(from:)`).
    pub wire_name: Option<String>,
}

impl InputValue {
    pub fn new(name: impl Into<String>, ty: TypeRef) -> Self {
        InputValue {
            name: name.into(),
            description: None,
            deprecation: None,
            ty,
            default: None,
            wire_name: None,
        }
    }

    pub fn wire(&self) -> &str {
        self.wire_name.as_deref().unwrap_or(&self.name)
    }
}

/// A GraphQL type reference: `Post`, `[Post!]`, `ID!`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    pub fn named(name: impl Into<String>) -> Self {
        TypeRef::Named(name.into())
    }

    pub fn list(of: TypeRef) -> Self {
        TypeRef::List(Box::new(of))
    }

    pub fn non_null(self) -> Self {
        match self {
            TypeRef::NonNull(_) => self,
            other => TypeRef::NonNull(Box::new(other)),
        }
    }

    /// The same reference without its outermost `!`.
    pub fn nullable(self) -> Self {
        match self {
            TypeRef::NonNull(inner) => *inner,
            other => other,
        }
    }

    pub fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }

    /// The named type at the bottom of lists and non-nulls.
    pub fn base(&self) -> &str {
        match self {
            TypeRef::Named(name) => name,
            TypeRef::List(inner) | TypeRef::NonNull(inner) => inner.base(),
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(name) => f.write_str(name),
            TypeRef::List(inner) => write!(f, "[{inner}]"),
            TypeRef::NonNull(inner) => write!(f, "{inner}!"),
        }
    }
}

/// How a field is resolved by an upstream call.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolver {
    /// Name of a source in [`Catalog::sources`].
    pub source: String,
    pub call: Call,
    pub policy: FieldPolicy,
}

/// Per-field policy; overrides the source's where both say something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldPolicy {
    pub timeout_ms: Option<u64>,
    /// Cache successful results this long (seconds); no caching when absent.
    pub cache_ttl_s: Option<u64>,
}

/// The transport-specific call behind a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Rest(RestCall),
    Grpc(GrpcCall),
    Lambda(LambdaCall),
}

impl Call {
    /// The directive that declares this call (`rest`, `grpc`, `lambda`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Call::Rest(_) => "rest",
            Call::Grpc(_) => "grpc",
            Call::Lambda(_) => "lambda",
        }
    }

    /// True when the call declares a `batch` form (a batched link).
    pub fn is_batched(&self) -> bool {
        match self {
            Call::Rest(rest) => rest.batch.is_some(),
            Call::Grpc(grpc) => grpc.batch.is_some(),
            Call::Lambda(lambda) => lambda.batch.is_some(),
        }
    }

    /// The call's templates: first those that address one value (REST: path and query;
    /// gRPC: body; Lambda: payload), then the rest (REST headers, body, batch path).
    fn templates(&self) -> (Vec<&Template>, Vec<&Template>) {
        match self {
            Call::Rest(rest) => (
                std::iter::once(&rest.path)
                    .chain(rest.query.iter().map(|(_, t)| t))
                    .collect(),
                rest.headers
                    .iter()
                    .map(|(_, t)| t)
                    .chain(&rest.body)
                    .chain(rest.batch.iter().map(|b| &b.path))
                    .collect(),
            ),
            Call::Grpc(grpc) => (grpc.body.iter().collect(), Vec::new()),
            Call::Lambda(lambda) => (lambda.payload.iter().collect(), Vec::new()),
        }
    }

    /// The parent property a batched link is keyed by: the first `{{parent.…}}` of the
    /// templates that address one value.
    pub fn parent_key(&self) -> Option<&[String]> {
        self.templates()
            .0
            .into_iter()
            .flat_map(Template::vars)
            .find(|v| v.scope == crate::template::Scope::Parent)
            .map(|v| v.path.as_slice())
    }

    /// Every `{{scope.…}}` path of `scope` the call's templates read, in any part of the
    /// call: for `Parent`, what a link needs of its parent value; for `Headers`, which client
    /// headers can change the call.
    pub fn reads(&self, scope: crate::template::Scope) -> Vec<&[String]> {
        let (addressing, rest) = self.templates();
        addressing
            .into_iter()
            .chain(rest)
            .flat_map(Template::vars)
            .filter(|v| v.scope == scope)
            .map(|v| v.path.as_slice())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 7] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Head,
        HttpMethod::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        HttpMethod::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// Reads are safe to dedupe and cache.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            HttpMethod::Get | HttpMethod::Head | HttpMethod::Options
        )
    }
}

/// `@rest(...)`: one HTTP request built from templates.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    pub method: HttpMethod,
    /// Path relative to the source's base URL; each `{{...}}` is percent-encoded as one segment.
    pub path: Template,
    /// Query parameters; a list value repeats the parameter, a null or missing value omits it.
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    /// Body. A template that is exactly one `{{...}}` sends that value in `encoding`;
    /// otherwise the rendered text is sent as is (JSON only).
    pub body: Option<Template>,
    pub encoding: BodyEncoding,
    pub batch: Option<RestBatch>,
}

/// How a `@rest` body is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BodyEncoding {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`, OpenAPI's default form style: an object's
    /// properties as `name=value` pairs, a list of scalars repeating its name
    /// (`tags=a&tags=b`); deeper values in brackets (`card[exp_month]=12`, `items[0][id]=7`).
    Form,
    /// `application/x-www-form-urlencoded` with every list and object in brackets, lists
    /// indexed (`expand[0]=a&metadata[k]=v`): OpenAPI's `deepObject` style, as Stripe and PHP
    /// read them.
    FormBrackets,
}

impl BodyEncoding {
    pub const ALL: [BodyEncoding; 3] = [
        BodyEncoding::Json,
        BodyEncoding::Form,
        BodyEncoding::FormBrackets,
    ];

    /// The encoding an SDL spelling names.
    pub fn parse(s: &str) -> Option<Self> {
        BodyEncoding::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The SDL spelling (`encoding: FORM`).
    pub fn as_str(self) -> &'static str {
        match self {
            BodyEncoding::Json => "JSON",
            BodyEncoding::Form => "FORM",
            BodyEncoding::FormBrackets => "FORM_BRACKETS",
        }
    }

    /// Whether the body is a URL-encoded form.
    pub fn is_form(self) -> bool {
        self != BodyEncoding::Json
    }
}

/// How a link is batched over REST: `GET {path}?{query}=k1&{query}=k2`, or a `POST` (`PUT`,
/// `PATCH`) to `path` whose JSON body is the list of keys (or an object with it under
/// `keys`); items are matched by `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestBatch {
    pub path: Template,
    /// `Get`, or a method with a body (`Post`, `Put`, `Patch`).
    pub method: HttpMethod,
    /// GET: the query parameter repeated once per key.
    pub query: Option<String>,
    /// Body batches: the body property receiving the list of keys (`None`: the body is the
    /// list).
    pub keys: Option<String>,
    /// Dotted path of the answer's list of items (`None`: the answer is the list).
    pub items: Option<String>,
    /// Property of each returned item that holds its key.
    pub key: String,
    /// At most this many keys per call.
    pub max_size: usize,
}

/// `@grpc(...)`: a method called with a dynamic message built from the arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcCall {
    /// Fully-qualified `package.Service/Method`.
    pub method: String,
    /// Request message fields from templates; when empty, the arguments map onto the message.
    pub body: Option<Template>,
    pub batch: Option<GrpcBatch>,
}

/// How a link is batched over gRPC: one call of `method` with the keys in its repeated
/// field `keys`; the response's repeated field `items` holds the items, matched by `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcBatch {
    /// Fully-qualified `package.Service/Method`.
    pub method: String,
    /// Repeated request field that receives the keys.
    pub keys: String,
    /// Repeated response field holding the items.
    pub items: String,
    /// Property of each item that holds its key.
    pub key: String,
    /// At most this many keys per call.
    pub max_size: usize,
}

/// `@lambda(...)`: a function invoked with a JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaCall {
    pub function: String,
    pub qualifier: Option<String>,
    /// Payload template; when absent, the arguments object is the payload.
    pub payload: Option<Template>,
    pub batch: Option<LambdaBatch>,
}

/// How a link is batched over Lambda: one invocation whose payload is the list of keys (or
/// `{keys: [...]}`); the answer (or the list at its dotted path `items`) is the list of items, matched by `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaBatch {
    /// Function invoked with the keys; `None`: the link's own function.
    pub function: Option<String>,
    /// Payload property receiving the keys; `None`: the payload is the list itself.
    pub keys: Option<String>,
    /// Dotted path of the answer's list of items; `None`: the answer is the list.
    pub items: Option<String>,
    /// Property of each item that holds its key.
    pub key: String,
    /// At most this many keys per call.
    pub max_size: usize,
}

impl Catalog {
    /// The object type named `name`, if it is one.
    pub fn object(&self, name: &str) -> Option<&ObjectType> {
        match self.types.get(name).map(|t| &t.kind) {
            Some(TypeKind::Object(object)) => Some(object),
            _ => None,
        }
    }

    /// The root object type of an operation kind, if the graph has one.
    pub fn root(&self, kind: OperationKind) -> Option<&ObjectType> {
        let name = match kind {
            OperationKind::Query => Some(&self.roots.query),
            OperationKind::Mutation => self.roots.mutation.as_ref(),
            OperationKind::Subscription => self.roots.subscription.as_ref(),
        }?;
        self.object(name)
    }
}
