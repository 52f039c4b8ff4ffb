//! Operations into root fields: names, arguments, request bodies, results, `@rest` templates;
//! and the source's base URL.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::document::{Loc, join_uri};
use super::schema::{Mode, Typed, clean_text, deprecation, description};
use super::{Ctx, Version};
use crate::Code;
use crate::catalog::{
    BodyEncoding, Call, Field, FieldPolicy, HttpMethod, InputValue, Resolver, RestCall, TypeDef,
    TypeKind, TypeRef,
};
use crate::naming::{self, Namespace};
use crate::template::{Scope, Segment, Template, Var};

/// Root fields by name.
type Fields = IndexMap<String, Field>;

/// Header parameters OpenAPI says to ignore (the HTTP client sets them).
const IGNORED_HEADERS: &[&str] = &["accept", "content-type", "authorization"];

/// Where [`gather_form_parameters`] puts a Swagger 2.0 operation's form: `schema` (an object
/// of its `formData` parameters), `file` (whether one of them is a file) and `joined` (the
/// list parameters whose `collectionFormat` joins the items into one value).
const FORM_KEY: &str = "x-graft-form";

/// Gathers each Swagger 2.0 operation's `formData` parameters (path-level ones included,
/// local `$ref`s followed) into one object schema under [`FORM_KEY`], so that the form is
/// translated like a 3.x form body: one input argument sent with `encoding: FORM`. Runs on
/// the document before it is shared, since the schema is new.
pub(super) fn gather_form_parameters(root: &mut Value) {
    let deref = |param: &Value| -> Option<Value> {
        match param.get("$ref").and_then(Value::as_str) {
            Some(reference) => root
                .pointer(reference.strip_prefix('#')?)
                .filter(|p| p.is_object())
                .cloned(),
            None => Some(param.clone()),
        }
    };
    let mut forms = Vec::new();
    for (path, item) in root
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let shared = item.get("parameters").and_then(Value::as_array);
        for (method, op) in item.as_object().into_iter().flatten() {
            if HttpMethod::parse(method).is_none() {
                continue;
            }
            let own = op.get("parameters").and_then(Value::as_array);
            let mut properties = Map::new();
            let mut required = Vec::new();
            let mut joined = Vec::new();
            let mut file = false;
            // Operation-level parameters come last and replace path-level ones by name.
            for param in shared.into_iter().chain(own).flatten() {
                let Some(mut param) = deref(param) else {
                    continue;
                };
                let name = param
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let (Some(name), Some("formData")) =
                    (name, param.get("in").and_then(Value::as_str))
                else {
                    continue;
                };
                file |= param.get("type").and_then(Value::as_str) == Some("file");
                // 2.0's default collectionFormat is csv.
                if param.get("type").and_then(Value::as_str) == Some("array")
                    && param.get("collectionFormat").and_then(Value::as_str) != Some("multi")
                {
                    joined.push(name.clone());
                }
                required.retain(|r| r != &name);
                if param.get("required").and_then(Value::as_bool) == Some(true) {
                    required.push(name.clone());
                }
                if let Some(schema) = param.as_object_mut() {
                    for key in [
                        "name",
                        "in",
                        "required",
                        "allowEmptyValue",
                        "collectionFormat",
                    ] {
                        schema.remove(key);
                    }
                }
                properties.insert(name, param);
            }
            if !properties.is_empty() {
                let schema = serde_json::json!({
                    "type": "object", "properties": properties, "required": required
                });
                let form = serde_json::json!({"schema": schema, "file": file, "joined": joined});
                forms.push((path.clone(), method.clone(), form));
            }
        }
    }
    for (path, method, form) in forms {
        let op = root
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(&path))
            .and_then(|item| item.get_mut(&method))
            .and_then(Value::as_object_mut);
        if let Some(op) = op {
            op.insert(FORM_KEY.to_string(), form);
        }
    }
}

/// A parameter after `$ref`s, with what the translation needs.
struct Param<'d> {
    name: &'d str,
    location: &'d str,
    value: &'d Value,
    loc: Loc,
}

/// What an operation's request body is: JSON, or a form.
struct Body<'d> {
    schema: Option<(&'d Value, Loc)>,
    encoding: BodyEncoding,
    required: bool,
    name: Option<&'d str>,
    description: Option<String>,
}

fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or(media)
        .trim()
        .to_ascii_lowercase()
}

fn is_json_media(media: &str) -> bool {
    let e = essence(media);
    e == "*/*" || e == "application/*" || e.ends_with("/json") || e.ends_with("+json")
}

/// The JSON entry of a 3.x `content` map, preferring `application/json`.
fn json_media(content: &Map<String, Value>) -> Option<(&String, &Value)> {
    content
        .iter()
        .find(|(media, _)| essence(media) == "application/json")
        .or_else(|| content.iter().find(|(media, _)| is_json_media(media)))
}

/// The `application/x-www-form-urlencoded` entry of a 3.x `content` map.
fn form_media(content: &Map<String, Value>) -> Option<(&String, &Value)> {
    content
        .iter()
        .find(|(media, _)| essence(media) == "application/x-www-form-urlencoded")
}

/// How a 3.x form is sent: in brackets throughout when a property asks for OpenAPI's
/// `deepObject` style (Stripe's do), else in OpenAPI's default form style.
fn form_encoding(media: &Value) -> BodyEncoding {
    let deep = media
        .get("encoding")
        .and_then(Value::as_object)
        .is_some_and(|properties| {
            properties
                .values()
                .any(|e| e.get("style").and_then(Value::as_str) == Some("deepObject"))
        });
    if deep {
        BodyEncoding::FormBrackets
    } else {
        BodyEncoding::Form
    }
}

fn media_list(content: &Map<String, Value>) -> String {
    content
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn args_var(name: &str) -> Segment {
    Segment::Var(Var {
        scope: Scope::Args,
        path: vec![name.to_string()],
    })
}

fn args_template(name: &str) -> Template {
    Template {
        segments: vec![args_var(name)],
    }
}

/// `{name}` path segments: (literal, parameter name) pieces in order.
fn path_pieces(path: &str) -> Vec<Result<&str, &str>> {
    let mut pieces = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest.get(open..).and_then(|r| r.find('}')).map(|c| open + c) else {
            break;
        };
        if let Some(literal) = rest.get(..open).filter(|l| !l.is_empty()) {
            pieces.push(Ok(literal));
        }
        if let Some(name) = rest.get(open + 1..close) {
            pieces.push(Err(name));
        }
        rest = rest.get(close + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        pieces.push(Ok(rest));
    }
    pieces
}

/// A deterministic name for an operation without `operationId`: `GET /pets/{id}` →
/// `get pets by id` (camelCased by the caller).
fn derived_name(method: HttpMethod, path: &str) -> String {
    let mut raw = method.as_str().to_ascii_lowercase();
    for piece in path_pieces(path) {
        raw.push(' ');
        match piece {
            Ok(literal) => raw.push_str(literal),
            Err(param) => {
                raw.push_str("by ");
                raw.push_str(param);
            }
        }
    }
    raw
}

impl<'d> Ctx<'d> {
    /// Every operation of `paths`: (Query fields, Mutation fields).
    pub(super) fn operations(&mut self) -> (Fields, Fields) {
        let mut query = Fields::new();
        let mut mutation = Fields::new();
        let mut query_names = Namespace::new();
        let mut mutation_names = Namespace::new();
        let root = self.docs.root();
        let Some(paths) = root.get("paths").and_then(Value::as_object) else {
            return (query, mutation);
        };
        let paths_loc = Loc::root("paths");
        for (path, item) in paths {
            let item_loc = paths_loc.child(path);
            let Some((item, item_loc)) = self.deref(item, &item_loc) else {
                continue;
            };
            let Some(item_map) = item.as_object() else {
                continue;
            };
            let shared: Vec<(&'d Value, Loc)> = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .enumerate()
                        .map(|(i, p)| (p, item_loc.child("parameters").index(i)))
                        .collect()
                })
                .unwrap_or_default();
            self.warn_servers(item, &item_loc);
            for (key, op) in item_map {
                let op_loc = item_loc.child(key);
                let method = match HttpMethod::parse(key) {
                    Some(method) => method,
                    None if key.eq_ignore_ascii_case("trace") => {
                        self.warn(
                            Code::OperationSkipped,
                            &op_loc,
                            "TRACE operations are not translated",
                        );
                        continue;
                    }
                    None => continue,
                };
                let (fields, names, root_name) = if method == HttpMethod::Get {
                    (&mut query, &mut query_names, "Query")
                } else {
                    (&mut mutation, &mut mutation_names, "Mutation")
                };
                let wanted = match op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                {
                    Some(id) => naming::operation_name(id),
                    None => naming::operation_name(&derived_name(method, path)),
                };
                self.warn_servers(op, &op_loc);
                let checked = match self.check_operation(op, &op_loc) {
                    Ok(checked) => checked,
                    Err(why) => {
                        self.warn(Code::OperationSkipped, &op_loc, why);
                        continue;
                    }
                };
                let name = names.claim(&wanted);
                if name != wanted {
                    self.warn(
                        Code::NameCollision,
                        &op_loc,
                        format!("`{root_name}.{wanted}` is taken; this operation is `{root_name}.{name}`"),
                    );
                }
                let field = self.operation(&name, path, method, op, &op_loc, &shared, checked);
                fields.insert(name, field);
                // Translate this operation's types now, so type order follows operation order.
                self.drain_pending();
            }
        }
        (query, mutation)
    }

    /// Path- or operation-level `servers` that differ from the document's cannot be honoured
    /// (one source has one base URL): say so rather than call the wrong host.
    fn warn_servers(&mut self, node: &'d Value, loc: &Loc) {
        if node.pointer("/servers/0/url").is_none() {
            return;
        }
        let location = self.docs.uri(0);
        let base =
            |v: &Value| servers_base_url(v, location).map(|u| u.trim_end_matches('/').to_string());
        let (own, document) = (base(node), base(self.docs.root()));
        if let Ok(own) = own
            && document.as_ref().ok() != Some(&own)
        {
            let why = format!(
                "`servers` ({own}) differs from the document's; calls use the source's base URL"
            );
            self.warn(Code::SpecValueIgnored, &loc.child("servers"), why);
        }
    }

    /// Decides, before any name is claimed, whether the operation is translatable: its JSON
    /// request body and JSON success response.
    fn check_operation(&mut self, op: &'d Value, loc: &Loc) -> Result<Checked<'d>, String> {
        if !op.is_object() {
            return Err(format!(
                "the operation is {}, not an object",
                super::kind_of(op)
            ));
        }
        let body = match self.version {
            Version::Swagger2 => self.swagger2_body(op, loc)?,
            Version::OpenApi30 | Version::OpenApi31 => self.request_body(op, loc)?,
        };
        let response = self.success_response(op, loc)?;
        Ok(Checked { body, response })
    }

    fn request_body(&mut self, op: &'d Value, loc: &Loc) -> Result<Option<Body<'d>>, String> {
        let Some(body) = op.get("requestBody") else {
            return Ok(None);
        };
        let Some((body, bloc)) = self.deref(body, &loc.child("requestBody")) else {
            return Err("its request body does not resolve".into());
        };
        let content = body.get("content").and_then(Value::as_object);
        let entry_schema = |(media, entry): (&String, &'d Value)| {
            entry
                .get("schema")
                .map(|s| (s, bloc.child("content").child(media).child("schema")))
        };
        let (schema, encoding) = match content {
            None => (None, BodyEncoding::Json),
            Some(content) if content.is_empty() => (None, BodyEncoding::Json),
            Some(content) => match json_media(content) {
                Some(json) => (entry_schema(json), BodyEncoding::Json),
                // Stripe declares empty form bodies even on GETs: nothing to send, nothing lost.
                None if content.values().all(|m| self.is_empty_body(m, &bloc)) => return Ok(None),
                None => match form_media(content) {
                    Some(form) => (entry_schema(form), form_encoding(form.1)),
                    None => {
                        return Err(format!(
                            "its request body is {}, not JSON or a URL-encoded form",
                            media_list(content)
                        ));
                    }
                },
            },
        };
        Ok(Some(Body {
            schema,
            encoding,
            required: body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            name: op
                .get("x-codegen-request-body-name")
                .and_then(Value::as_str),
            description: description(body),
        }))
    }

    /// Whether a media type entry's schema declares no properties at all.
    fn is_empty_body(&mut self, media: &'d Value, loc: &Loc) -> bool {
        let Some(schema) = media.get("schema") else {
            return true;
        };
        let Some((schema, _)) = self.deref(schema, loc) else {
            return false;
        };
        let props = schema.get("properties").and_then(Value::as_object);
        props.is_none_or(Map::is_empty)
            && schema.get("allOf").is_none()
            && schema.get("oneOf").is_none()
            && schema.get("anyOf").is_none()
            && schema
                .get("additionalProperties")
                .is_none_or(|a| a == &Value::Bool(false))
    }

    fn swagger2_body(&mut self, op: &'d Value, loc: &Loc) -> Result<Option<Body<'d>>, String> {
        let params = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut body = None;
        for (i, param) in params.iter().enumerate() {
            let Some((param, ploc)) = self.deref(param, &loc.child("parameters").index(i)) else {
                continue;
            };
            if param.get("in").and_then(Value::as_str) == Some("body") {
                body = Some(Body {
                    schema: param.get("schema").map(|s| (s, ploc.child("schema"))),
                    encoding: BodyEncoding::Json,
                    required: param
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    name: param.get("name").and_then(Value::as_str),
                    description: description(param),
                });
            }
        }
        let consumes = self.media_types(op, "consumes");
        if let Some(form) = op.get(FORM_KEY) {
            if form.get("file") == Some(&Value::Bool(true)) {
                return Err("it uploads a file (multipart form data)".into());
            }
            if body.is_some() {
                return Err("it has both a body and formData parameters".into());
            }
            // formData means a form; only one that must be multipart cannot be sent.
            let essences: Vec<String> = consumes.iter().map(|m| essence(m)).collect();
            if essences.iter().any(|m| m == "multipart/form-data")
                && !essences
                    .iter()
                    .any(|m| m == "application/x-www-form-urlencoded")
            {
                return Err("it takes multipart form data, not a URL-encoded form".into());
            }
            let joined = form.get("joined").and_then(Value::as_array);
            for name in joined.into_iter().flatten().filter_map(Value::as_str) {
                let why = format!(
                    "formData list `{name}` asks for its items joined into one value \
                     (collectionFormat); they are sent as repeated `{name}=…` pairs (multi)"
                );
                self.warn(Code::SpecValueIgnored, &loc.child("parameters"), why);
            }
            let schema = form.get("schema");
            let required = schema
                .and_then(|s| s.get("required"))
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty());
            return Ok(Some(Body {
                schema: schema.map(|s| (s, loc.child("parameters"))),
                encoding: BodyEncoding::Form,
                required,
                name: None,
                description: None,
            }));
        }
        if body.is_some() && !consumes.is_empty() && !consumes.iter().any(|m| is_json_media(m)) {
            return Err(format!("it consumes {}, not JSON", consumes.join(", ")));
        }
        Ok(body)
    }

    /// 2.0 `consumes`/`produces` of the operation, else of the document.
    fn media_types(&self, op: &'d Value, key: &str) -> Vec<&'d str> {
        let list = op
            .get(key)
            .or_else(|| self.docs.root().get(key))
            .and_then(Value::as_array);
        list.map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The success response's schema: `Ok(None)` when it has no body.
    fn success_response(
        &mut self,
        op: &'d Value,
        loc: &Loc,
    ) -> Result<Option<(&'d Value, Loc)>, String> {
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            return Ok(None);
        };
        let rank = |code: &str| match code {
            "200" => 0,
            c if c.len() == 3 && c.starts_with('2') && c.chars().all(|ch| ch.is_ascii_digit()) => 1,
            c if c.eq_ignore_ascii_case("2XX") => 2,
            _ => 3,
        };
        let best = responses
            .iter()
            .filter(|(code, _)| rank(code) < 3)
            .min_by_key(|(code, _)| (rank(code), code.as_str()));
        let Some((code, response)) = best.or_else(|| responses.get_key_value("default")) else {
            return Ok(None);
        };
        let rloc = loc.child("responses").child(code);
        let Some((response, rloc)) = self.deref(response, &rloc) else {
            return Err(format!("its {code} response does not resolve"));
        };
        if self.version == Version::Swagger2 {
            let Some(schema) = response.get("schema") else {
                return Ok(None);
            };
            if schema.get("type").and_then(Value::as_str) == Some("file") {
                return Err(format!("its {code} response is a file, not JSON"));
            }
            let produces = self.media_types(op, "produces");
            if !produces.is_empty() && !produces.iter().any(|m| is_json_media(m)) {
                return Err(format!("it produces {}, not JSON", produces.join(", ")));
            }
            return Ok(Some((schema, rloc.child("schema"))));
        }
        let Some(content) = response
            .get("content")
            .and_then(Value::as_object)
            .filter(|c| !c.is_empty())
        else {
            return Ok(None);
        };
        if let Some((media, entry)) = json_media(content) {
            let schema = entry.get("schema");
            return Ok(schema.map(|s| (s, rloc.child("content").child(media).child("schema"))));
        }
        // A text/plain number or boolean (Microsoft Graph's `$count`) is also valid JSON.
        if let Some((media, entry)) = content.iter().find(|(m, _)| essence(m) == "text/plain")
            && let Some(schema) = entry.get("schema")
        {
            let sloc = rloc.child("content").child(media).child("schema");
            if let Some((target, _)) = self.deref(schema, &sloc)
                && matches!(
                    target.get("type").and_then(Value::as_str),
                    Some("integer" | "number" | "boolean")
                )
            {
                return Ok(Some((schema, sloc)));
            }
        }
        match json_media(content) {
            Some(_) => Ok(None),
            None => Err(format!(
                "its {code} response is {}, not JSON",
                media_list(content)
            )),
        }
    }

    /// Path-level then operation-level parameters, the latter replacing same `name` + `in`.
    fn parameters(
        &mut self,
        op: &'d Value,
        loc: &Loc,
        shared: &[(&'d Value, Loc)],
    ) -> Vec<Param<'d>> {
        let own: Vec<(&'d Value, Loc)> = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .enumerate()
                    .map(|(i, p)| (p, loc.child("parameters").index(i)))
                    .collect()
            })
            .unwrap_or_default();
        let mut params: IndexMap<(&'d str, &'d str), Param<'d>> = IndexMap::new();
        for (param, ploc) in shared.iter().cloned().chain(own) {
            let Some((value, ploc)) = self.deref(param, &ploc) else {
                continue;
            };
            let name = value.get("name").and_then(Value::as_str);
            let location = value.get("in").and_then(Value::as_str);
            let (Some(name), Some(location)) = (name, location) else {
                self.warn(
                    Code::SpecValueIgnored,
                    &ploc,
                    "a parameter needs a `name` and an `in`; ignored",
                );
                continue;
            };
            params.insert(
                (name, location),
                Param {
                    name,
                    location,
                    value,
                    loc: ploc,
                },
            );
        }
        params.into_values().collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        name: &str,
        path: &str,
        method: HttpMethod,
        op: &'d Value,
        loc: &Loc,
        shared: &[(&'d Value, Loc)],
        checked: Checked<'d>,
    ) -> Field {
        let base = naming::type_name(name);
        let mut arg_names = Namespace::new();
        let mut args: IndexMap<String, InputValue> = IndexMap::new();
        let mut path_args: Vec<(&'d str, String)> = Vec::new();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for param in self.parameters(op, loc, shared) {
            let location = param.location;
            match location {
                "path" | "query" => {}
                "header" if IGNORED_HEADERS.contains(&param.name.to_ascii_lowercase().as_str()) => {
                    continue;
                }
                "header" => {}
                "body" | "formData" => continue,
                other => {
                    let why = format!(
                        "{other} parameter `{}` is not sent (only path, query and header are)",
                        param.name
                    );
                    self.warn(Code::SpecValueIgnored, &param.loc, why);
                    continue;
                }
            }
            let arg = arg_names.claim(&naming::field_name(param.name));
            let (schema, sloc) = match (
                self.version,
                param.value.get("schema"),
                param.value.get("content"),
            ) {
                (Version::Swagger2, _, _) => (Some(param.value), param.loc.clone()),
                (_, Some(schema), _) => (Some(schema), param.loc.child("schema")),
                (_, None, Some(Value::Object(content))) => {
                    let first = content.iter().next();
                    (
                        first.and_then(|(_, m)| m.get("schema")),
                        param.loc.child("content"),
                    )
                }
                _ => (None, param.loc.clone()),
            };
            let hint = format!("{base} {}", param.name);
            let typed = match schema {
                Some(schema) => self.schema_type(schema, &sloc, Mode::Input, &hint),
                None => Typed {
                    ty: TypeRef::named("String"),
                    nullable: false,
                },
            };
            let required = location == "path"
                || param
                    .value
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            let default = schema.and_then(|s| s.get("default"));
            let mut input = self.input_value(arg.clone(), typed, required, default);
            input.description = description(param.value);
            input.deprecation = deprecation(param.value);
            match location {
                "path" => path_args.push((param.name, arg.clone())),
                "query" => query.push((param.name.to_string(), args_template(&arg))),
                _ => headers.push((param.name.to_string(), args_template(&arg))),
            }
            args.insert(arg, input);
        }

        let mut segments = Vec::new();
        let mut undeclared = HashSet::new();
        for piece in path_pieces(path) {
            match piece {
                Ok(literal) => segments.push(Segment::Literal(literal.to_string())),
                Err(param) => {
                    let arg = match path_args.iter().find(|(wire, _)| *wire == param) {
                        Some((_, arg)) => arg.clone(),
                        None => {
                            let arg = arg_names.claim(&naming::field_name(param));
                            let ty = TypeRef::named("String").non_null();
                            args.insert(arg.clone(), InputValue::new(arg.clone(), ty));
                            undeclared.insert(param);
                            arg
                        }
                    };
                    segments.push(args_var(&arg));
                }
            }
        }
        for param in undeclared {
            let why = format!("path parameter `{param}` is not declared; it is a String! argument");
            self.warn(Code::SpecValueIgnored, loc, why);
        }

        let encoding = checked
            .body
            .as_ref()
            .map_or(BodyEncoding::Json, |body| body.encoding);
        let body = checked.body.map(|body| {
            let wanted = naming::field_name(body.name.unwrap_or("input"));
            let arg = arg_names.claim(&wanted);
            let typed = match &body.schema {
                Some((schema, sloc)) => self.schema_type(schema, sloc, Mode::Input, &base),
                None => Typed {
                    ty: TypeRef::named("JSON"),
                    nullable: true,
                },
            };
            let mut input = self.input_value(arg.clone(), typed, body.required, None);
            input.description = body.description;
            args.insert(arg.clone(), input);
            args_template(&arg)
        });

        let ty = match checked.response {
            Some((schema, sloc)) => {
                self.schema_type(schema, &sloc, Mode::Output, &format!("{base} response"))
                    .ty
            }
            None => TypeRef::named("JSON"),
        };
        let call = RestCall {
            method,
            path: Template { segments },
            query,
            headers,
            body,
            encoding,
            batch: None,
        };
        Field {
            name: name.to_string(),
            description: operation_description(op),
            deprecation: deprecation(op),
            args,
            // Upstream-backed fields stay nullable: a failing call yields partial data.
            ty: ty.nullable(),
            wire_name: None,
            resolver: Some(Resolver {
                source: self.source.clone(),
                call: Call::Rest(call),
                policy: FieldPolicy::default(),
            }),
        }
    }

    /// Translates queued types and makes input types valid GraphQL: a cycle of non-null
    /// input fields can never be satisfied, so the field closing each cycle becomes nullable.
    pub(super) fn finish_types(&mut self) {
        self.drain_pending();
        let inputs: Vec<String> = self
            .types
            .iter()
            .filter(|(_, t)| matches!(t.kind, TypeKind::Input(_)))
            .map(|(name, _)| name.clone())
            .collect();
        // Iterative depth-first search; `state`: absent = unvisited, false = on the stack, true = done.
        let mut state: IndexMap<String, bool> = IndexMap::new();
        for start in inputs {
            if state.contains_key(&start) {
                continue;
            }
            let mut stack: Vec<(String, usize)> = vec![(start.clone(), 0)];
            state.insert(start, false);
            while let Some((current, next)) = stack.pop() {
                let Some((at, field, target)) = self.next_edge(&current, next) else {
                    state.insert(current, true);
                    continue;
                };
                stack.push((current.clone(), at + 1));
                match state.get(&target) {
                    Some(false) => self.make_nullable(&current, &field),
                    Some(true) => {}
                    None => {
                        state.insert(target.clone(), false);
                        stack.push((target, 0));
                    }
                }
            }
        }
    }

    /// The first field at or after position `from` of input type `name` whose type is
    /// `SomeInput!`: (its position, its name, the input type).
    fn next_edge(&self, name: &str, from: usize) -> Option<(usize, String, String)> {
        let Some(TypeDef {
            kind: TypeKind::Input(input),
            ..
        }) = self.types.get(name)
        else {
            return None;
        };
        input
            .fields
            .values()
            .enumerate()
            .skip(from)
            .find_map(|(i, field)| {
                let TypeRef::NonNull(inner) = &field.ty else {
                    return None;
                };
                let TypeRef::Named(target) = inner.as_ref() else {
                    return None;
                };
                let is_input = matches!(
                    self.types.get(target).map(|t| &t.kind),
                    Some(TypeKind::Input(_))
                );
                is_input.then(|| (i, field.name.clone(), target.clone()))
            })
    }

    fn make_nullable(&mut self, name: &str, field: &str) {
        if let Some(TypeDef {
            kind: TypeKind::Input(input),
            ..
        }) = self.types.get_mut(name)
            && let Some(value) = input.fields.get_mut(field)
        {
            value.ty = value.ty.clone().nullable();
        }
    }
}

/// What `check_operation` found.
struct Checked<'d> {
    body: Option<Body<'d>>,
    response: Option<(&'d Value, Loc)>,
}

fn operation_description(op: &Value) -> Option<String> {
    let summary = op
        .get("summary")
        .and_then(Value::as_str)
        .and_then(clean_text);
    match (summary, description(op)) {
        (Some(summary), Some(description)) if !description.starts_with(&summary) => {
            Some(format!("{summary}\n\n{description}"))
        }
        (_, Some(description)) => Some(description),
        (Some(summary), None) => Some(summary),
        (None, None) => None,
    }
}

/// 3.x: `servers[0].url` with its variables' defaults, resolved against the spec's location.
/// `Err((relative part, why))` when no absolute URL comes out.
pub(super) fn servers_base_url(root: &Value, location: &str) -> Result<String, (String, String)> {
    let server = root.pointer("/servers/0");
    let mut url = server
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(variables) = server
        .and_then(|s| s.get("variables"))
        .and_then(Value::as_object)
    {
        for (name, variable) in variables {
            if let Some(default) = variable.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    if url.starts_with("//") {
        // Protocol-relative (Kubernetes' `//kubernetes.local`): the location's scheme, else https.
        let scheme = url::Url::parse(location)
            .ok()
            .filter(|u| u.has_host())
            .map(|u| u.scheme().to_string());
        url = format!("{}:{url}", scheme.as_deref().unwrap_or("https"));
    }
    if is_absolute_url(&url) {
        return Ok(url);
    }
    if is_absolute_url(location) {
        let joined = join_uri(location, if url.is_empty() { "/" } else { &url });
        return Ok(joined);
    }
    let why = if server.is_none() {
        "the spec has no servers".to_string()
    } else {
        format!("servers[0].url `{url}` is relative and the spec was not read from a URL")
    };
    Err((url, why))
}

/// 2.0: `schemes[0]://host basePath`, the scheme and host defaulting to the spec's location.
pub(super) fn swagger2_base_url(root: &Value, location: &str) -> Result<String, (String, String)> {
    let base_path = root.get("basePath").and_then(Value::as_str).unwrap_or("");
    let located = url::Url::parse(location)
        .ok()
        .filter(|u| is_absolute_url(u.as_str()));
    let scheme = root
        .pointer("/schemes/0")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| located.as_ref().map(|u| u.scheme().to_string()))
        .unwrap_or_else(|| "https".to_string());
    let host = root
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            located.as_ref().and_then(|u| {
                Some(format!(
                    "{}{}",
                    u.host_str()?,
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                ))
            })
        });
    match host {
        Some(host) => Ok(format!("{scheme}://{host}{base_path}")),
        None => Err((
            base_path.to_string(),
            "the spec has no host and was not read from a URL".to_string(),
        )),
    }
}

fn is_absolute_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_without_id_get_names_from_method_and_path() {
        assert_eq!(
            naming::operation_name(&derived_name(HttpMethod::Get, "/pets/{petId}")),
            "getPetsByPetId"
        );
        assert_eq!(
            naming::operation_name(&derived_name(HttpMethod::Post, "/")),
            "post"
        );
    }

    #[test]
    fn path_pieces_split_literals_and_parameters() {
        assert_eq!(
            path_pieces("/a/{b}/c({d})"),
            vec![Ok("/a/"), Err("b"), Ok("/c("), Err("d"), Ok(")")]
        );
        assert_eq!(path_pieces("/a/{b"), vec![Ok("/a/{b")]);
    }

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json_media("application/json; charset=utf-8"));
        assert!(is_json_media("application/vnd.github+json"));
        assert!(is_json_media("*/*"));
        assert!(!is_json_media("multipart/form-data"));
    }
}
