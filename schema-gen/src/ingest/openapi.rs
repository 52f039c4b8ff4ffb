//! OpenAPI 3.0 / 3.1 and Swagger 2.0 documents (JSON or YAML) into a catalog with one REST
//! source and a `@rest` field per operation.
//!
//! Pure: the caller reads the spec and hands over its text; external `$ref` documents are read
//! through the caller's [`DocumentLoader`] (file reads or HTTP), so nothing here does IO.
//!
//! ```
//! use schema_gen::ingest::openapi::{ingest, NoExternalRefs, OpenApiOptions};
//! let spec = r#"{"openapi": "3.0.3", "info": {"title": "pets", "version": "1"},
//!   "servers": [{"url": "http://127.0.0.1:3000/v1"}],
//!   "paths": {"/pets/{id}": {"get": {"operationId": "getPet",
//!     "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
//!     "responses": {"200": {"description": "ok", "content": {"application/json": {"schema":
//!       {"type": "object", "properties": {"name": {"type": "string"}}}}}}}}}}}"#;
//! let ingested = ingest(spec, &NoExternalRefs, &OpenApiOptions::new("pets"));
//! let catalog = ingested.catalog.expect("usable");
//! let query = catalog.root(schema_gen::catalog::OperationKind::Query).expect("a Query type");
//! assert_eq!(query.fields["getPet"].ty.to_string(), "GetPetResponse");
//! ```
//!
//! Mapping rules:
//! - **Operations.** GET becomes a `Query` field, every other method a `Mutation` field
//!   (TRACE is skipped). The name is the camelCased `operationId`, else derived from method
//!   and path (`GET /pets/{id}` → `getPetsById`); collisions get `2`, `3`, ... in document
//!   order (warning `NAME_COLLISION`). `summary`/`description` and `deprecated` carry over.
//!   A spec without GET operations gets an always-null `Query._empty` (GraphQL requires a
//!   query field).
//! - **Arguments.** Path, query and header parameters (path-level ones included, overridden by
//!   operation-level ones with the same `name` and `in`) become arguments named with
//!   `naming::field_name`; the templates in `@rest(path, query, headers)` carry the upstream
//!   spelling, so arguments need no `wire_name`. Required parameters (and every path
//!   parameter) are non-null. Cookie parameters and the `Accept`/`Content-Type`/
//!   `Authorization` header parameters are dropped. A JSON request body (3.x `requestBody`,
//!   2.0 `in: body`) becomes one argument, named by `x-codegen-request-body-name` or the 2.0
//!   body parameter's name, else `input`, and is sent as `body: "{{args.input}}"`. A 3.x
//!   `application/x-www-form-urlencoded` body (Stripe's writes) becomes the same argument,
//!   sent with `encoding: FORM_BRACKETS` when a property's `encoding` asks for `deepObject`
//!   (Stripe's do), else `encoding: FORM` (OpenAPI's default form style); JSON wins when
//!   both are offered. Swagger 2.0 `formData` parameters are first gathered into one object
//!   schema per operation (`x-graft-form`, before the document is read) and sent with
//!   `encoding: FORM`; a list whose `collectionFormat` joins its items is a warning (it is
//!   sent as repeated pairs). Defaults carry over when they fit the argument's type (enum
//!   defaults as GraphQL value names).
//! - **Results.** The first 2xx response (else `default`) with a JSON media type (`*/json`,
//!   `*+json`, `*/*`) gives the output type, as does a `text/plain` number or boolean (it
//!   parses as JSON); a success without content gives `JSON`. An operation whose request
//!   body is neither JSON nor a URL-encoded form (multipart, files, text), or whose success
//!   response is not JSON, is skipped
//!   (`OPERATION_SKIPPED`); an empty body of any media type (Stripe's GETs) is ignored.
//!   Every upstream-backed field is nullable.
//! - **Types.** A component schema becomes one named type for output (`Pet`) and, when used in
//!   an input position, one input type (`PetInput`); inline schemas are named after where they
//!   appear (`GetPetResponse`, `PetOwner`, `CreatePetInput`). Properties become fields via
//!   `naming::field_name` (the JSON name is kept in `wire_name` when it differs); `readOnly`
//!   properties are left out of inputs and `writeOnly` ones out of outputs. A property is
//!   non-null when it is `required` and does not admit null (3.0 `nullable`, 2.0
//!   `x-nullable`, a 3.1 type array with `"null"`, a `null` enum value, a null `oneOf`
//!   member); input non-null cycles are broken by making the closing field nullable.
//! - **Scalars.** `string` → `String`, `number` → `Float`, `boolean` → `Boolean`; `integer`
//!   → `Int` for `format: int32` (and smaller) or when `minimum` and `maximum` both fit 32
//!   bits, else `Int64` (`format: int64`, and unformatted integers such as GitHub's ids, which
//!   exceed 32 bits in practice; never truncated). String `enum`s become GraphQL enums with
//!   UPPER_SNAKE_CASE values (the upstream spelling in `wire_name`); other enums their scalar.
//! - **Composition.** `allOf` members are merged into one type (a single member is used as
//!   is). `oneOf`/`anyOf` of object schemas become a union (output only; with
//!   `@discriminator` when the schema gives one, plus OpenAPI's implicit mapping by component
//!   name); of scalars of one kind, that scalar; otherwise, and in inputs, `JSON`. Null
//!   members (`{type: "null"}`, Microsoft Graph's `{type: object, nullable: true}`) only make
//!   the type nullable. When a schema has `properties`, they win over its `oneOf`/`anyOf`
//!   (usually validation only).
//! - **JSON.** Free-form objects, `additionalProperties`-only maps, empty and boolean schemas,
//!   mixed type arrays and anything untranslatable become the `JSON` scalar, always nullable.
//! - **Base URL.** `servers[0].url` with its variables' defaults, resolved against the spec's
//!   own location when relative (3.x; `//host` takes the location's scheme, else https);
//!   `schemes[0]` + `host` + `basePath` (2.0); [`OpenApiOptions::base_url`] overrides both.
//!   With none of these, the base URL is `{{env.<SOURCE>_BASE_URL}}` and a `NO_BASE_URL`
//!   warning says so. Path- or operation-level `servers` that differ are a warning (one source
//!   has one base URL). The source is named [`OpenApiOptions::name`], else after `info.title`.
//! - **`$ref`s** to components, to any pointer in the document, and to relative external
//!   documents are followed lazily; each referenced schema is translated once per mode and
//!   its GraphQL name memoized, which is also how recursive schemas work. Dangling refs
//!   (`REF_DANGLING`), ref loops (`REF_CYCLE`) and unloadable documents (`REF_EXTERNAL`) are
//!   warnings: the schema becomes `JSON` (or the part is dropped) and the rest is used.
//! - **Failure.** Text that is not JSON/YAML is `SPEC_SYNTAX`; a document that is not OpenAPI
//!   3.x or Swagger 2.0 is `SPEC_NOT_OPENAPI`; the spec is rejected (`NOTHING_USABLE`) only
//!   when no operation survives. Callbacks, webhooks, security schemes and links are ignored.
//!   Diagnostics name a dotted pointer (`paths./pets/{id}.get`) and the document as file.
//!
//! The document is read as a `serde_json::Value` (YAML through `serde_norway`) rather than
//! typed with the `openapiv3` crate: that crate covers 3.0 only and rejects a whole document
//! over one odd value (a numeric `pattern`, a boolean schema), while real specs are messy.

mod document;
mod operation;
mod schema;

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;
use serde_json::Value;

use crate::catalog::{
    Catalog, ObjectType, RestSource, Roots, Source, SourcePolicy, Transport, TypeDef, TypeKind,
};
use crate::ingest::Ingested;
use crate::naming::{self, Namespace};
use crate::template::Template;
use crate::{Code, Diagnostic};

use document::{Docs, Loc};
use schema::{Mode, Pending, Typed};

/// How to ingest one OpenAPI document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenApiOptions {
    /// Name of the generated source (`@source(name:)`); derived from `info.title` when empty.
    pub name: String,
    /// Base URL override (`--base-url`); may use `{{env.NAME}}`.
    pub base_url: Option<String>,
    /// Where the spec was read from (a path or an http(s) URL): relative `servers[0].url`s and
    /// external `$ref`s resolve against it. Diagnostics name it as their file.
    pub location: Option<String>,
}

impl OpenApiOptions {
    pub fn new(name: impl Into<String>) -> Self {
        OpenApiOptions {
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

/// Reads external `$ref` documents for [`ingest`]; the caller does the IO.
pub trait DocumentLoader {
    /// The text of the document at `uri`: an absolute URL, or a path joined lexically from the
    /// referring document's location and the relative reference (`specs/common/pet.yaml`).
    fn load(&self, uri: &str) -> Result<String, String>;
}

/// A loader for callers that allow no external documents: every external `$ref` becomes a
/// `REF_EXTERNAL` warning.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExternalRefs;

impl DocumentLoader for NoExternalRefs {
    fn load(&self, uri: &str) -> Result<String, String> {
        Err(format!("external documents are not loaded here (`{uri}`)"))
    }
}

/// The OpenAPI flavour of a document, which decides a few spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// Translates an OpenAPI document into a catalog; see the module docs for the rules.
pub fn ingest(text: &str, loader: &dyn DocumentLoader, options: &OpenApiOptions) -> Ingested {
    let uri = options.location.clone().unwrap_or_default();
    let at_file = |d: Diagnostic| {
        let line = d.line;
        if uri.is_empty() {
            d
        } else {
            d.in_file(uri.clone(), line)
        }
    };
    let fail = |d: Diagnostic| Ingested {
        catalog: None,
        diagnostics: vec![at_file(d)],
    };
    let root = match document::parse_text(text) {
        Ok(root) => root,
        Err(e) => {
            let d = Diagnostic::error(Code::SpecSyntax, "document", e.message);
            return fail(Diagnostic { line: e.line, ..d });
        }
    };
    let version = match detect_version(&root) {
        Ok(version) => version,
        Err(message) => return fail(Diagnostic::error(Code::SpecNotOpenApi, "document", message)),
    };
    let mut root = root;
    if version == Version::Swagger2 {
        operation::gather_form_parameters(&mut root);
    }
    let docs = Docs::load(root, &uri, loader);
    let source = source_name(&options.name, docs.root());
    let mut ctx = Ctx::new(&docs, version, source.clone());
    let (query, mutation) = ctx.operations();
    ctx.finish_types();
    if query.is_empty() && mutation.is_empty() {
        let mut diagnostics = ctx.diagnostics;
        diagnostics.push(at_file(Diagnostic::error(
            Code::NothingUsable,
            "paths",
            "no operation of the spec could be translated",
        )));
        return Ingested {
            catalog: None,
            diagnostics,
        };
    }
    let base_url = ctx.base_url(options);
    let Ctx {
        diagnostics, types, ..
    } = ctx;
    let mut catalog = Catalog::default();
    catalog.sources.insert(
        source.clone(),
        Source {
            name: source,
            transport: Transport::Rest(RestSource {
                base_url,
                headers: Vec::new(),
            }),
            policy: SourcePolicy::default(),
        },
    );
    let root_type = |name: &str, fields| TypeDef {
        name: name.to_string(),
        description: None,
        kind: TypeKind::Object(ObjectType { fields }),
    };
    let query = if query.is_empty() {
        placeholder_query()
    } else {
        query
    };
    catalog
        .types
        .insert("Query".into(), root_type("Query", query));
    let has_mutation = !mutation.is_empty();
    if has_mutation {
        catalog
            .types
            .insert("Mutation".into(), root_type("Mutation", mutation));
    }
    catalog.types.extend(types);
    catalog.roots = Roots {
        query: "Query".into(),
        mutation: has_mutation.then(|| "Mutation".into()),
        subscription: None,
    };
    Ingested {
        catalog: Some(catalog),
        diagnostics,
    }
}

/// GraphQL requires a query field; a spec with no GET operation gets one that is always null.
fn placeholder_query() -> IndexMap<String, crate::catalog::Field> {
    let mut field = crate::catalog::Field::new("_empty", crate::catalog::TypeRef::named("Boolean"));
    field.description = Some("Always null: the OpenAPI document has no GET operation, and GraphQL requires a query field.".into());
    IndexMap::from([("_empty".to_string(), field)])
}

fn detect_version(root: &Value) -> Result<Version, String> {
    let Some(object) = root.as_object() else {
        return Err(format!(
            "the document is {}, not an OpenAPI object",
            kind_of(root)
        ));
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    if let Some(v) = object.get("openapi") {
        let v = text(v);
        return if v.starts_with("3.0") {
            Ok(Version::OpenApi30)
        } else if v.starts_with("3.") {
            Ok(Version::OpenApi31)
        } else {
            Err(format!(
                "OpenAPI version `{v}` is not supported (expected 3.x)"
            ))
        };
    }
    if let Some(v) = object.get("swagger") {
        let v = text(v);
        return if v.starts_with('2') {
            Ok(Version::Swagger2)
        } else {
            Err(format!(
                "Swagger version `{v}` is not supported (expected 2.0)"
            ))
        };
    }
    Err("the document has neither an `openapi` nor a `swagger` field".into())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn source_name(name: &str, root: &Value) -> String {
    if !name.is_empty() {
        return name.to_string();
    }
    let title = root
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("api");
    naming::field_name(&title.to_ascii_lowercase())
}

/// Type names taken by graft itself: GraphQL's and graft's scalars, the root types and the
/// input types of graft's directives (read from the one directive definition).
fn reserved_type_names() -> Namespace {
    let mut ns = Namespace::with_taken(naming::RESERVED_TYPE_NAMES.iter().copied());
    for line in crate::directives::DIRECTIVES_SDL.lines() {
        let mut words = line.split_whitespace();
        if let (Some("input" | "enum" | "scalar"), Some(name)) = (words.next(), words.next()) {
            ns.claim(name);
        }
    }
    ns
}

/// State of one ingest run: the documents (read-only) and what has been generated so far.
struct Ctx<'d> {
    docs: &'d Docs,
    version: Version,
    source: String,
    diagnostics: Vec<Diagnostic>,
    /// (code, document, pointer) of every diagnostic so far: a schema reached from several
    /// places is reported once.
    reported: HashSet<(Code, usize, String)>,
    /// Generated types (roots excluded), in the order their names were claimed.
    types: IndexMap<String, TypeDef>,
    type_names: Namespace,
    /// GraphQL type per (schema node address, mode): every schema is translated once per mode,
    /// and a recursive reference finds the name claimed before its fields are translated.
    memo: HashMap<(usize, Mode), Typed>,
    /// Object and union types whose members are still to be translated (breadth-first, so
    /// deep type graphs need no deep recursion).
    pending: VecDeque<Pending<'d>>,
    /// Alias schemas (arrays, single-member compositions) being translated: re-entering one
    /// is a loop no GraphQL type can express.
    aliasing: HashSet<usize>,
    /// Current depth of schema translation (see `schema::MAX_NESTING`).
    nesting: usize,
}

impl<'d> Ctx<'d> {
    fn new(docs: &'d Docs, version: Version, source: String) -> Self {
        Ctx {
            docs,
            version,
            source,
            diagnostics: Vec::new(),
            reported: HashSet::new(),
            types: IndexMap::new(),
            type_names: reserved_type_names(),
            memo: HashMap::new(),
            pending: VecDeque::new(),
            aliasing: HashSet::new(),
            nesting: 0,
        }
    }

    /// Records a warning at `loc`, once per (code, place).
    fn warn(&mut self, code: Code, loc: &Loc, message: impl Into<String>) {
        if !self.reported.insert((code, loc.doc, loc.at.clone())) {
            return;
        }
        let mut d = Diagnostic::warning(code, loc.at.clone(), message);
        let uri = self.docs.uri(loc.doc);
        if !uri.is_empty() {
            d = d.in_file(uri, None);
        }
        self.diagnostics.push(d);
    }

    /// The source's base URL template.
    fn base_url(&mut self, options: &OpenApiOptions) -> Template {
        if let Some(url) = &options.base_url {
            return match Template::parse(url.trim_end_matches('/')) {
                Ok(t) => t,
                Err(e) => {
                    self.diagnostics.push(Diagnostic::error(
                        Code::TemplateSyntax,
                        "--base-url",
                        format!("the base URL `{url}` is not a valid template: {e}"),
                    ));
                    Template::literal(url.clone())
                }
            };
        }
        let root = self.docs.root();
        let found = match self.version {
            Version::Swagger2 => operation::swagger2_base_url(root, self.docs.uri(0)),
            Version::OpenApi30 | Version::OpenApi31 => {
                operation::servers_base_url(root, self.docs.uri(0))
            }
        };
        match found {
            Ok(url) => Template::literal(url.trim_end_matches('/')),
            Err((relative, why)) => {
                let var = format!("{}_BASE_URL", naming::enum_value(&self.source));
                let loc = Loc::root(if self.version == Version::Swagger2 {
                    "host"
                } else {
                    "servers"
                });
                self.warn(
                    Code::NoBaseUrl,
                    &loc,
                    format!("{why}; the base URL is read from the environment variable {var} (or pass --base-url)"),
                );
                let mut text = format!("{{{{env.{var}}}}}");
                text.push_str(relative.trim_end_matches('/'));
                Template::parse(&text).unwrap_or_default()
            }
        }
    }
}
