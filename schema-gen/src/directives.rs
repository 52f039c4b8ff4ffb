//! graft's directive vocabulary: the one definition of every directive and its input types.
//!
//! [`DIRECTIVES_SDL`] is what `graft directives` prints (for editors), what the README
//! documents, and what `parse` checks directive arguments against. Executable schemas do not
//! need to declare these; they are built in.

/// The SDL definitions of graft's directives and the input types their arguments use.
pub const DIRECTIVES_SDL: &str = r#""Declares an upstream source. Repeatable: one per source; exactly one of rest, grpc, lambda."
directive @source(
  "Name that fields use in their resolver directive's `source` argument."
  name: String!
  rest: RestSource
  grpc: GrpcSource
  lambda: LambdaSource
  "Per-call timeout in milliseconds (default 10000)."
  timeout: Int
  "Client request headers forwarded to this source (case-insensitive). None by default."
  forwardHeaders: [String!]
  "Upstream response headers passed back to the client (for example set-cookie, cache-control)."
  responseHeaders: [String!]
  "Share one upstream call among identical in-flight reads (default true). Never applies to mutations."
  dedupe: Boolean
  "Honour upstream Cache-Control for reads of this source (shared-cache rules: s-maxage, max-age, no-store, no-cache, private)."
  httpCache: Boolean
  "Let this source's cached answers reach the cache shared by replicas (Redis, when configured); false keeps them in each replica's own memory. Default true."
  sharedCache: Boolean
) repeatable on SCHEMA

"A REST (HTTP + JSON) source."
input RestSource {
  "Base URL; `{{env.NAME}}` is read from the environment when the gateway is built."
  baseUrl: String!
  "Headers sent on every call (values are templates)."
  headers: [KeyValue!]
}

"A gRPC source."
input GrpcSource {
  "http://host:port, or https://host:port for TLS."
  endpoint: String!
  "A FileDescriptorSet file (protoc --include_imports --descriptor_set_out) describing the services; without it graft asks the server by reflection."
  descriptorSet: String
}

"An AWS Lambda source."
input LambdaSource {
  "AWS region (default: AWS_REGION)."
  region: String
  "Invoke endpoint (default: AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL, or AWS's regional endpoint)."
  endpoint: String
}

"A name and a template value (query parameter, header)."
input KeyValue {
  name: String!
  value: String!
}

enum HttpMethod { GET POST PUT PATCH DELETE HEAD OPTIONS }

"How a @rest body is encoded."
enum BodyEncoding {
  JSON
  "name=value pairs; a list of scalars repeats its name (tags=a&tags=b); deeper values in brackets (card[exp]=12, items[0][id]=7)."
  FORM
  "name=value pairs with every list and object in brackets, lists indexed (expand[0]=a&metadata[k]=v): OpenAPI's deepObject, as Stripe reads them."
  FORM_BRACKETS
}

"Batching for a link: one call `GET path?query=k1&query=k2...` serves many parents; items are matched back by `key`."
input RestBatch {
  path: String!
  "GET (the default) sends the keys in `query`; POST, PUT or PATCH send them as a JSON body."
  method: HttpMethod
  "Query parameter repeated once per key (GET batches)."
  query: String
  "Body property receiving the list of keys (body batches); without it the body is the list itself."
  keys: String
  "Dotted path of the answer's list of items (`data.users`); without it the answer must be the list."
  items: String
  "Property of each returned item holding its key."
  key: String!
  maxSize: Int = 100
}

"Batching for a gRPC link: one call of `method` with many keys serves many parents; items are matched back by `key`."
input GrpcBatch {
  "Method taking the repeated keys: package.Service/Method."
  method: String!
  "Repeated request field that receives the keys."
  keys: String!
  "Repeated response field holding the items."
  items: String!
  "Property of each item holding its key."
  key: String!
  maxSize: Int = 100
}

"Batching for a Lambda link: one invocation with a list of keys serves many parents; items are matched back by `key`."
input LambdaBatch {
  "Function invoked with the keys (default: the link's function)."
  function: String
  "Payload property receiving the list of keys; without it the payload is the list itself."
  keys: String
  "Dotted path of the answer's list of items (`body.items`); without it the answer must be the list."
  items: String
  "Property of each item holding its key."
  key: String!
  maxSize: Int = 100
}

"Resolves the field with an HTTP call to a REST source. Templates read {{args.x}}, {{parent.x}}, {{headers.x}} and {{env.X}}."
directive @rest(
  source: String!
  method: HttpMethod = GET
  "Path under the source's base URL; each template value is percent-encoded as one path segment."
  path: String!
  "Query parameters; a list value repeats the parameter, a null or missing value omits it."
  query: [KeyValue!]
  headers: [KeyValue!]
  "Body: exactly one {{...}} sends that value in `encoding`; other text is sent as rendered (JSON only)."
  body: String
  "How the body is sent: JSON, or as an application/x-www-form-urlencoded form of the object that body names (one {{...}})."
  encoding: BodyEncoding = JSON
  batch: RestBatch
  "Timeout in milliseconds for this field (overrides the source's)."
  timeout: Int
  "Cache successful results for this many seconds."
  cacheTtl: Int
) on FIELD_DEFINITION

"Resolves the field with a unary gRPC call (a Subscription field: a server-streaming call)."
directive @grpc(
  source: String!
  "Fully-qualified method: package.Service/Method."
  method: String!
  "Request message as a template; by default the arguments are the message's fields."
  body: String
  batch: GrpcBatch
  timeout: Int
  cacheTtl: Int
) on FIELD_DEFINITION

"Resolves the field by invoking an AWS Lambda function (RequestResponse)."
directive @lambda(
  source: String!
  function: String!
  "Version or alias."
  qualifier: String
  "Payload template; by default the arguments object is the payload."
  payload: String
  batch: LambdaBatch
  timeout: Int
  cacheTtl: Int
) on FIELD_DEFINITION

"The upstream's name for a field, argument, input field or enum value, when the GraphQL name differs."
directive @map(from: String!) on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE

"How to tell which member of a union an upstream value is: the property naming its type."
directive @discriminator(property: String!, mapping: [DiscriminatorMapping!]) on UNION

"A discriminator value and the union member it selects."
input DiscriminatorMapping {
  value: String!
  type: String!
}

"Any JSON value."
scalar JSON

"A 64-bit integer, sent and received as a JSON number without loss; input also accepts a decimal string."
scalar Int64
"#;

/// Names of graft's directives.
pub const DIRECTIVE_NAMES: &[&str] = &["source", "rest", "grpc", "lambda", "map", "discriminator"];

/// Custom scalars every graft graph has.
pub const BUILTIN_SCALARS: &[&str] = &["JSON", "Int64"];

/// Standard GraphQL directives, always allowed.
pub const STANDARD_DIRECTIVES: &[&str] = &["deprecated", "specifiedBy", "skip", "include", "oneOf"];
