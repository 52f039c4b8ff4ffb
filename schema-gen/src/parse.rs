//! Parse: executable SDL files into one validated catalog.
//!
//! Files are parsed independently, lowered into catalog values (directive arguments and
//! templates become typed values here), merged (a type defined in several files merges its
//! fields; disagreements are diagnostics), then validated by [`crate::validate`].

use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql_parser::types::{
    BaseType, ConstDirective, FieldDefinition, InputValueDefinition, SchemaDefinition,
    Type as AstType, TypeDefinition, TypeKind as AstTypeKind, TypeSystemDefinition,
};
use async_graphql_parser::{Pos, Positioned};
use async_graphql_value::{ConstValue, Name};
use indexmap::IndexMap;
use serde_json::Value;

use crate::catalog::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::directives::{BUILTIN_SCALARS, DIRECTIVE_NAMES, DIRECTIVES_SDL, STANDARD_DIRECTIVES};
use crate::template::Template;

/// One executable-schema file.
#[derive(Debug, Clone)]
pub struct SdlFile {
    /// Shown in diagnostics.
    pub path: String,
    pub text: String,
}

impl SdlFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        SdlFile {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// The outcome of parsing and validating: a catalog when there are no errors.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub catalog: Option<Catalog>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where each schema coordinate was defined, so validation can point at file and line.
#[derive(Debug, Default)]
pub(crate) struct Locations(HashMap<String, (String, usize)>);

impl Locations {
    fn record(&mut self, coordinate: String, file: &str, pos: Pos) {
        self.0
            .entry(coordinate)
            .or_insert_with(|| (file.to_string(), pos.line));
    }

    /// Attach the file and line of `coordinate` (or of its type) to a diagnostic.
    pub(crate) fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        let at = diagnostic
            .at
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        let found = self
            .0
            .get(&at)
            .or_else(|| self.0.get(at.split('.').next().unwrap_or_default()));
        match found {
            Some((file, line)) if diagnostic.file.is_none() => {
                diagnostic.in_file(file.clone(), Some(*line))
            }
            _ => diagnostic,
        }
    }
}

/// Parse, merge and validate executable SDL files.
pub fn parse_files(files: &[SdlFile]) -> Checked {
    let mut lowering = Lowering::default();
    for file in files {
        match async_graphql_parser::parse_schema(&file.text) {
            Ok(document) => {
                for definition in document.definitions {
                    lowering.definition(&file.path, definition);
                }
            }
            Err(error) => {
                let line = error.positions().next().map(|p| p.line);
                lowering.diagnostics.push(
                    Diagnostic::error(Code::SdlSyntax, "document", syntax_message(&error))
                        .in_file(file.path.clone(), line),
                );
            }
        }
    }
    let (catalog, locations, mut diagnostics) = lowering.finish();
    // A file that did not parse would make every reference into it look dangling.
    if !diagnostics.iter().any(|d| d.code == Code::SdlSyntax) {
        diagnostics.extend(
            crate::validate::validate(&catalog)
                .into_iter()
                .map(|d| locations.locate(d)),
        );
    }
    diagnostics.sort_by(|a, b| {
        (a.severity, &a.file, a.line, &a.at).cmp(&(b.severity, &b.file, b.line, &b.at))
    });
    diagnostics.dedup();
    if crate::diagnostics::has_errors(&diagnostics) {
        return Checked {
            catalog: None,
            diagnostics,
        };
    }
    Checked {
        catalog: Some(catalog),
        diagnostics,
    }
}

/// The parser's own sentence (pest renders `= expected ...` under a source excerpt).
fn syntax_message(error: &async_graphql_parser::Error) -> String {
    let text = error.to_string();
    let column = error.positions().next().map(|p| p.column);
    let sentence = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim())
        .replace("_ ", " ")
        .trim_end_matches('_')
        .to_string();
    match column {
        Some(column) => format!("{sentence} (column {column})"),
        None => sentence.to_string(),
    }
}

#[derive(Default)]
struct Lowering {
    catalog: Catalog,
    /// Root type names declared in `schema { ... }` blocks: query, mutation, subscription.
    explicit_roots: Option<[Option<String>; 3]>,
    declared_directives: Vec<String>,
    locations: Locations,
    diagnostics: Vec<Diagnostic>,
    /// Custom directives applied somewhere, checked once every file's declarations are known.
    applied_directives: Vec<(String, String, String, usize)>,
}

impl Lowering {
    fn definition(&mut self, file: &str, definition: TypeSystemDefinition) {
        match definition {
            TypeSystemDefinition::Schema(schema) => self.schema(file, schema),
            TypeSystemDefinition::Type(ty) => self.type_definition(file, ty),
            TypeSystemDefinition::Directive(directive) => {
                let name = directive.node.name.node.to_string();
                if !DIRECTIVE_NAMES.contains(&name.as_str()) {
                    self.declared_directives.push(name);
                }
            }
        }
    }

    fn error(
        &mut self,
        code: Code,
        at: impl Into<String>,
        message: impl Into<String>,
        file: &str,
        pos: Pos,
    ) {
        self.diagnostics
            .push(Diagnostic::error(code, at, message).in_file(file, Some(pos.line)));
    }

    fn schema(&mut self, file: &str, schema: Positioned<SchemaDefinition>) {
        let schema = schema.node;
        for directive in &schema.directives {
            let name = directive.node.name.node.as_str();
            if name != "source" {
                self.other_directive(file, "schema", directive);
                continue;
            }
            let Some(source) = self.source(file, directive) else {
                continue;
            };
            match self.catalog.sources.get(&source.name) {
                Some(existing) if *existing == source => {}
                Some(_) => self.error(
                    Code::DuplicateSource,
                    format!("schema @source(name: \"{}\")", source.name),
                    "another @source with this name says something different",
                    file,
                    directive.pos,
                ),
                None => {
                    self.locations
                        .record(format!("@source({})", source.name), file, directive.pos);
                    self.catalog.sources.insert(source.name.clone(), source);
                }
            }
        }
        if schema.query.is_some() || schema.mutation.is_some() || schema.subscription.is_some() {
            let declared = [schema.query, schema.mutation, schema.subscription];
            let roots = self.explicit_roots.get_or_insert_default();
            let mut conflict = None;
            for (slot, name) in roots.iter_mut().zip(declared) {
                let Some(name) = name else { continue };
                match slot {
                    Some(existing) if *existing != name.node.as_str() => conflict = Some(name.pos),
                    _ => *slot = Some(name.node.to_string()),
                }
            }
            if let Some(pos) = conflict {
                self.error(
                    Code::ConflictingType,
                    "schema",
                    "a root operation type differs from the one another file declares",
                    file,
                    pos,
                );
            }
        }
    }

    fn source(&mut self, file: &str, directive: &Positioned<ConstDirective>) -> Option<Source> {
        let mut args = Args::new(self, file, "schema @source", directive);
        let name = args.required_string("name");
        let timeout_ms = args.u64("timeout");
        let forward_headers = args
            .string_list("forwardHeaders")
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let response_headers = args
            .string_list("responseHeaders")
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let dedupe = args.bool("dedupe");
        let http_cache = args.bool("httpCache").unwrap_or(false);
        let shared_cache = args.bool("sharedCache");
        let mut transports = Vec::new();
        if let Some(rest) = args.object("rest") {
            let base_url = args.nested_template(&rest, "rest", "baseUrl", true);
            let headers = args.nested_key_values(&rest, "rest", "headers");
            transports
                .push(base_url.map(|base_url| Transport::Rest(RestSource { base_url, headers })));
        }
        if let Some(grpc) = args.object("grpc") {
            let endpoint = args.nested_template(&grpc, "grpc", "endpoint", true);
            let descriptor_set = args.nested_string(&grpc, "grpc", "descriptorSet");
            transports.push(endpoint.map(|endpoint| {
                Transport::Grpc(GrpcSource {
                    endpoint,
                    descriptor_set,
                })
            }));
        }
        if let Some(lambda) = args.object("lambda") {
            let region = args.nested_string(&lambda, "lambda", "region");
            let endpoint = args.nested_template(&lambda, "lambda", "endpoint", false);
            transports.push(Some(Transport::Lambda(LambdaSource { region, endpoint })));
        }
        let at = format!(
            "schema @source(name: \"{}\")",
            name.as_deref().unwrap_or("?")
        );
        let transport = match transports.len() {
            1 => transports.pop().flatten(),
            0 => {
                args.fail(
                    Code::MissingArgument,
                    &at,
                    "a source needs one of rest, grpc or lambda",
                );
                None
            }
            _ => {
                args.fail(
                    Code::InvalidArgument,
                    &at,
                    "a source takes exactly one of rest, grpc or lambda",
                );
                None
            }
        };
        if http_cache && matches!(transport, Some(Transport::Lambda(_))) {
            // Accepting it would silently cache nothing.
            args.fail(
                Code::InvalidArgument,
                &at,
                "httpCache applies to rest and grpc sources: a Lambda answer carries no \
                 Cache-Control; give its fields a cacheTtl instead",
            );
        }
        args.finish();
        Some(Source {
            name: name?,
            transport: transport?,
            policy: SourcePolicy {
                timeout_ms,
                forward_headers,
                response_headers,
                dedupe,
                http_cache,
                shared_cache,
            },
        })
    }

    fn other_directive(&mut self, file: &str, at: &str, directive: &Positioned<ConstDirective>) {
        let name = directive.node.name.node.to_string();
        if STANDARD_DIRECTIVES.contains(&name.as_str()) {
            return;
        }
        if DIRECTIVE_NAMES.contains(&name.as_str()) {
            self.error(
                Code::InvalidArgument,
                format!("{at} @{name}"),
                format!("@{name} is not allowed here"),
                file,
                directive.pos,
            );
            return;
        }
        self.applied_directives
            .push((name, at.to_string(), file.to_string(), directive.pos.line));
    }

    fn type_definition(&mut self, file: &str, definition: Positioned<TypeDefinition>) {
        let pos = definition.pos;
        let definition = definition.node;
        let name = definition.name.node.to_string();
        if BUILTIN_SCALARS.contains(&name.as_str())
            && matches!(definition.kind, AstTypeKind::Scalar)
        {
            return;
        }
        self.locations.record(name.clone(), file, pos);
        let description = definition.description.map(|d| d.node);
        let mut discriminator = None;
        for directive in &definition.directives {
            if directive.node.name.node.as_str() == "discriminator"
                && matches!(definition.kind, AstTypeKind::Union(_))
            {
                discriminator = self.discriminator(file, &name, directive);
            } else {
                self.other_directive(file, &name, directive);
            }
        }
        let kind = match definition.kind {
            AstTypeKind::Scalar => TypeKind::Scalar,
            AstTypeKind::Object(object) => {
                if !object.implements.is_empty() {
                    self.error(
                        Code::Unsupported,
                        &name,
                        "interfaces are not supported; the `implements` clause is ignored",
                        file,
                        pos,
                    );
                }
                let mut fields = IndexMap::new();
                for field in object.fields {
                    let field = self.field(file, &name, field);
                    fields.insert(field.name.clone(), field);
                }
                TypeKind::Object(ObjectType { fields })
            }
            AstTypeKind::InputObject(input) => {
                let mut fields = IndexMap::new();
                for value in input.fields {
                    let value = self.input_value(file, &name, value);
                    fields.insert(value.name.clone(), value);
                }
                TypeKind::Input(InputObjectType { fields })
            }
            AstTypeKind::Enum(enum_type) => {
                let mut values = IndexMap::new();
                for value in enum_type.values {
                    let value_name = value.node.value.node.to_string();
                    let at = format!("{name}.{value_name}");
                    self.locations.record(at.clone(), file, value.pos);
                    let mut wire_name = None;
                    let mut deprecation = None;
                    for directive in &value.node.directives {
                        match directive.node.name.node.as_str() {
                            "map" => wire_name = self.map_from(file, &at, directive),
                            "deprecated" => deprecation = Some(deprecation_reason(directive)),
                            _ => self.other_directive(file, &at, directive),
                        }
                    }
                    values.insert(
                        value_name.clone(),
                        EnumValue {
                            name: value_name,
                            description: value.node.description.map(|d| d.node),
                            deprecation,
                            wire_name,
                        },
                    );
                }
                TypeKind::Enum(EnumType { values })
            }
            AstTypeKind::Union(union) => TypeKind::Union(UnionType {
                members: union
                    .members
                    .into_iter()
                    .map(|m| m.node.to_string())
                    .collect(),
                discriminator,
            }),
            AstTypeKind::Interface(_) => {
                self.error(
                    Code::Unsupported,
                    &name,
                    "interfaces are not supported; use a union or an object type",
                    file,
                    pos,
                );
                return;
            }
        };
        self.merge(
            file,
            pos,
            TypeDef {
                name,
                description,
                kind,
            },
        );
    }

    fn merge(&mut self, file: &str, pos: Pos, incoming: TypeDef) {
        let Some(existing) = self.catalog.types.get_mut(&incoming.name) else {
            self.catalog.types.insert(incoming.name.clone(), incoming);
            return;
        };
        if existing.description.is_none() {
            existing.description = incoming.description;
        }
        let name = incoming.name;
        let mut conflicts = Vec::new();
        match (&mut existing.kind, incoming.kind) {
            (TypeKind::Scalar, TypeKind::Scalar) => {}
            (TypeKind::Object(a), TypeKind::Object(b)) => {
                for (field_name, field) in b.fields {
                    match a.fields.get(&field_name) {
                        Some(old) if same_field(old, &field) => {}
                        Some(_) => conflicts.push(format!("{name}.{field_name}")),
                        None => {
                            a.fields.insert(field_name, field);
                        }
                    }
                }
            }
            (TypeKind::Input(a), TypeKind::Input(b)) => {
                for (field_name, field) in b.fields {
                    match a.fields.get(&field_name) {
                        Some(old) if old.ty == field.ty && old.wire_name == field.wire_name => {}
                        Some(_) => conflicts.push(format!("{name}.{field_name}")),
                        None => {
                            a.fields.insert(field_name, field);
                        }
                    }
                }
            }
            (TypeKind::Enum(a), TypeKind::Enum(b)) => {
                for (value_name, value) in b.values {
                    a.values.entry(value_name).or_insert(value);
                }
            }
            (TypeKind::Union(a), TypeKind::Union(b)) => {
                for member in b.members {
                    if !a.members.contains(&member) {
                        a.members.push(member);
                    }
                }
                if a.discriminator.is_none() {
                    a.discriminator = b.discriminator;
                }
            }
            (old, new) => {
                let message = format!(
                    "defined as `{}` here and as `{}` elsewhere",
                    new.keyword(),
                    old.keyword()
                );
                self.error(Code::ConflictingType, &name, message, file, pos);
                return;
            }
        }
        for coordinate in conflicts {
            self.error(
                Code::ConflictingField,
                coordinate,
                "defined differently in two places",
                file,
                pos,
            );
        }
    }

    fn field(&mut self, file: &str, type_name: &str, field: Positioned<FieldDefinition>) -> Field {
        let pos = field.pos;
        let field = field.node;
        let name = field.name.node.to_string();
        let at = format!("{type_name}.{name}");
        self.locations.record(at.clone(), file, pos);
        let mut args = IndexMap::new();
        for arg in field.arguments {
            let arg = self.input_value(file, &at, arg);
            args.insert(arg.name.clone(), arg);
        }
        let mut out = Field {
            name,
            description: field.description.map(|d| d.node),
            deprecation: None,
            args,
            ty: type_ref(&field.ty.node),
            wire_name: None,
            resolver: None,
        };
        for directive in &field.directives {
            let directive_name = directive.node.name.node.as_str();
            match directive_name {
                "map" => out.wire_name = self.map_from(file, &at, directive),
                "deprecated" => out.deprecation = Some(deprecation_reason(directive)),
                "rest" | "grpc" | "lambda" => {
                    let resolver = self.resolver(file, &at, directive);
                    if out.resolver.is_some() {
                        self.error(
                            Code::MultipleResolvers,
                            format!("{at} @{directive_name}"),
                            "a field takes at most one of @rest, @grpc, @lambda",
                            file,
                            directive.pos,
                        );
                    } else {
                        out.resolver = resolver;
                    }
                }
                _ => self.other_directive(file, &at, directive),
            }
        }
        out
    }

    fn input_value(
        &mut self,
        file: &str,
        parent: &str,
        value: Positioned<InputValueDefinition>,
    ) -> InputValue {
        let pos = value.pos;
        let value = value.node;
        let name = value.name.node.to_string();
        let at = format!("{parent}.{name}");
        self.locations.record(at.clone(), file, pos);
        let mut out = InputValue {
            name,
            description: value.description.map(|d| d.node),
            deprecation: None,
            ty: type_ref(&value.ty.node),
            default: value.default_value.map(|v| const_to_json(&v.node)),
            wire_name: None,
        };
        for directive in &value.directives {
            match directive.node.name.node.as_str() {
                "map" => out.wire_name = self.map_from(file, &at, directive),
                "deprecated" => out.deprecation = Some(deprecation_reason(directive)),
                _ => self.other_directive(file, &at, directive),
            }
        }
        out
    }

    fn map_from(
        &mut self,
        file: &str,
        at: &str,
        directive: &Positioned<ConstDirective>,
    ) -> Option<String> {
        let mut args = Args::new(self, file, &format!("{at} @map"), directive);
        let from = args.required_string("from");
        args.finish();
        from
    }

    fn discriminator(
        &mut self,
        file: &str,
        union: &str,
        directive: &Positioned<ConstDirective>,
    ) -> Option<Discriminator> {
        let mut args = Args::new(self, file, &format!("{union} @discriminator"), directive);
        let property = args.required_string("property");
        let mut mapping = Vec::new();
        for entry in args.objects("mapping") {
            let value = args.nested_string(&entry, "mapping", "value");
            let ty = args.nested_string(&entry, "mapping", "type");
            match (value, ty) {
                (Some(value), Some(ty)) => mapping.push((value, ty)),
                _ => args.fail(
                    Code::MissingArgument,
                    &format!("{union} @discriminator(mapping)"),
                    "each mapping needs a value and a type",
                ),
            }
        }
        args.finish();
        Some(Discriminator {
            property: property?,
            mapping,
        })
    }

    fn resolver(
        &mut self,
        file: &str,
        at: &str,
        directive: &Positioned<ConstDirective>,
    ) -> Option<Resolver> {
        let keyword = directive.node.name.node.to_string();
        let at = format!("{at} @{keyword}");
        let mut args = Args::new(self, file, &at, directive);
        let source = args.required_string("source");
        let policy = FieldPolicy {
            timeout_ms: args.u64("timeout"),
            cache_ttl_s: args.u64("cacheTtl"),
        };
        let call = match keyword.as_str() {
            "rest" => {
                let method = match args.enum_or_string("method") {
                    None => Some(HttpMethod::Get),
                    Some(m) => HttpMethod::parse(&m).or_else(|| {
                        args.fail(
                            Code::InvalidArgument,
                            &format!("{at}(method)"),
                            &format!("`{m}` is not an HTTP method"),
                        );
                        None
                    }),
                };
                let path = args.template("path", true);
                let query = args.key_values("query");
                let headers = args.key_values("headers");
                let body = args.template("body", false);
                let encoding = match args.enum_or_string("encoding").as_deref() {
                    None => Some(BodyEncoding::Json),
                    Some(name) if let Some(encoding) = BodyEncoding::parse(name) => Some(encoding),
                    Some(other) => {
                        args.fail(
                            Code::InvalidArgument,
                            &format!("{at}(encoding)"),
                            &format!(
                                "`{other}` is not a body encoding (JSON, FORM or FORM_BRACKETS)"
                            ),
                        );
                        None
                    }
                };
                // A form is built from an object; text has no name=value pairs to encode.
                let encoding = encoding.filter(|encoding| {
                    let form = encoding.is_form();
                    let fits = body.as_ref().is_some_and(|b| b.sole_var().is_some());
                    if form && !fits {
                        args.fail(
                            Code::InvalidArgument,
                            &format!("{at}(encoding)"),
                            "a form body must be exactly one {{...}} naming an object",
                        );
                    }
                    !form || fits
                });
                let batch = args.object("batch").and_then(|batch| {
                    let path = args.nested_template(&batch, "batch", "path", true);
                    let method = args.batch_method(&batch);
                    let query = args.nested_string(&batch, "batch", "query");
                    let KeyedBatch {
                        keys,
                        items,
                        key,
                        max_size,
                    } = args.keyed_batch(&batch, &at);
                    let method = method?;
                    let get = method == HttpMethod::Get;
                    // Where the keys go: a GET batch in `query`, a body batch in its body.
                    let mut misplaced = false;
                    if get && query.is_none() {
                        args.fail(
                            Code::MissingArgument,
                            &format!("{at}(batch)"),
                            "a GET batch needs query (the parameter repeated once per key)",
                        );
                        misplaced = true;
                    }
                    if get && keys.is_some() {
                        args.fail(
                            Code::InvalidArgument,
                            &format!("{at}(batch.keys)"),
                            "keys names a body property; a GET batch sends its keys in query",
                        );
                        misplaced = true;
                    }
                    if !get && query.is_some() {
                        args.fail(
                            Code::InvalidArgument,
                            &format!("{at}(batch.query)"),
                            "query is for GET batches; a body batch sends its keys in the body \
                             (the list itself, or under keys)",
                        );
                        misplaced = true;
                    }
                    if misplaced {
                        return None;
                    }
                    Some(RestBatch {
                        path: path?,
                        method,
                        query,
                        keys,
                        items,
                        key: key?,
                        max_size: max_size?,
                    })
                });
                match (method, path, encoding) {
                    (Some(method), Some(path), Some(encoding)) => Some(Call::Rest(RestCall {
                        method,
                        path,
                        query,
                        headers,
                        body,
                        encoding,
                        batch,
                    })),
                    _ => None,
                }
            }
            "grpc" => {
                let method = args.required_string("method");
                let body = args.template("body", false);
                if let Some(m) = &method {
                    args.check_method_name("method", m);
                }
                let batch = args.object("batch").and_then(|batch| {
                    let method = args.nested_string(&batch, "batch", "method");
                    let keys = args.nested_string(&batch, "batch", "keys");
                    let items = args.nested_string(&batch, "batch", "items");
                    let key = args.nested_string(&batch, "batch", "key");
                    let max_size = args.batch_max_size(&batch);
                    if let Some(m) = &method {
                        args.check_method_name("batch.method", m);
                    }
                    if method.is_none() || keys.is_none() || items.is_none() || key.is_none() {
                        args.fail(
                            Code::MissingArgument,
                            &format!("{at}(batch)"),
                            "batch needs method, keys, items and key",
                        );
                    }
                    Some(GrpcBatch {
                        method: method?,
                        keys: keys?,
                        items: items?,
                        key: key?,
                        max_size: max_size?,
                    })
                });
                method.map(|method| {
                    Call::Grpc(GrpcCall {
                        method,
                        body,
                        batch,
                    })
                })
            }
            _ => {
                let function = args.required_string("function");
                let qualifier = args.string("qualifier");
                let payload = args.template("payload", false);
                let batch = args.object("batch").and_then(|batch| {
                    let function = args.nested_string(&batch, "batch", "function");
                    let KeyedBatch {
                        keys,
                        items,
                        key,
                        max_size,
                    } = args.keyed_batch(&batch, &at);
                    Some(LambdaBatch {
                        function,
                        keys,
                        items,
                        key: key?,
                        max_size: max_size?,
                    })
                });
                function.map(|function| {
                    Call::Lambda(LambdaCall {
                        function,
                        qualifier,
                        payload,
                        batch,
                    })
                })
            }
        };
        args.finish();
        Some(Resolver {
            source: source?,
            call: call?,
            policy,
        })
    }

    fn finish(mut self) -> (Catalog, Locations, Vec<Diagnostic>) {
        for (name, at, file, line) in std::mem::take(&mut self.applied_directives) {
            if !self.declared_directives.contains(&name) {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::UnknownDirective,
                        format!("{at} @{name}"),
                        format!("@{name} is neither a graft directive nor declared in the schema"),
                    )
                    .in_file(file, Some(line)),
                );
            }
        }
        let [query, mutation, subscription] = self.explicit_roots.take().unwrap_or_default();
        let types = &self.catalog.types;
        let by_convention = |name: &str| types.contains_key(name).then(|| name.to_string());
        self.catalog.roots = Roots {
            query: query.unwrap_or_else(|| "Query".into()),
            mutation: mutation.or_else(|| by_convention("Mutation")),
            subscription: subscription.or_else(|| by_convention("Subscription")),
        };
        (self.catalog, self.locations, self.diagnostics)
    }
}

fn same_field(a: &Field, b: &Field) -> bool {
    a.ty == b.ty && a.args == b.args && a.resolver == b.resolver && a.wire_name == b.wire_name
}

fn deprecation_reason(directive: &Positioned<ConstDirective>) -> String {
    match directive.node.get_argument("reason").map(|v| &v.node) {
        Some(ConstValue::String(reason)) => reason.clone(),
        _ => "No longer supported".to_string(),
    }
}

fn type_ref(ty: &AstType) -> TypeRef {
    let inner = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string()),
        BaseType::List(inner) => TypeRef::list(type_ref(inner)),
    };
    if ty.nullable { inner } else { inner.non_null() }
}

/// A GraphQL constant as JSON (enum literals become strings).
pub(crate) fn const_to_json(value: &ConstValue) -> Value {
    match value {
        ConstValue::Null => Value::Null,
        ConstValue::Number(n) => Value::Number(n.clone()),
        ConstValue::String(s) => Value::String(s.clone()),
        ConstValue::Boolean(b) => Value::Bool(*b),
        ConstValue::Binary(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ConstValue::Enum(name) => Value::String(name.to_string()),
        ConstValue::List(items) => Value::Array(items.iter().map(const_to_json).collect()),
        ConstValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), const_to_json(v)))
                .collect(),
        ),
    }
}

/// Argument names each graft directive and input type defines, read from [`DIRECTIVES_SDL`].
fn known_arguments() -> &'static HashMap<String, Vec<String>> {
    static KNOWN: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = HashMap::new();
        let Ok(document) = async_graphql_parser::parse_schema(DIRECTIVES_SDL) else {
            return known;
        };
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Directive(d) => {
                    let args = d
                        .node
                        .arguments
                        .iter()
                        .map(|a| a.node.name.node.to_string())
                        .collect();
                    known.insert(format!("@{}", d.node.name.node), args);
                }
                TypeSystemDefinition::Type(t) => {
                    if let AstTypeKind::InputObject(input) = &t.node.kind {
                        let fields = input
                            .fields
                            .iter()
                            .map(|f| f.node.name.node.to_string())
                            .collect();
                        known.insert(t.node.name.node.to_string(), fields);
                    }
                }
                TypeSystemDefinition::Schema(_) => {}
            }
        }
        known
    })
}

/// The input type of each object-valued directive argument, for unknown-field checks.
fn argument_input_type(directive: &str, argument: &str) -> Option<&'static str> {
    Some(match (directive, argument) {
        ("source", "rest") => "RestSource",
        ("source", "grpc") => "GrpcSource",
        ("source", "lambda") => "LambdaSource",
        ("rest", "batch") => "RestBatch",
        ("grpc", "batch") => "GrpcBatch",
        ("lambda", "batch") => "LambdaBatch",
        ("rest", "query") | ("rest", "headers") | ("source", "headers") => "KeyValue",
        ("discriminator", "mapping") => "DiscriminatorMapping",
        _ => return None,
    })
}

/// What [`Args::keyed_batch`] reads.
struct KeyedBatch {
    keys: Option<String>,
    items: Option<String>,
    key: Option<String>,
    max_size: Option<usize>,
}

/// Typed access to one directive's arguments, reporting every problem as a diagnostic.
struct Args<'a> {
    lowering: &'a mut Lowering,
    file: String,
    at: String,
    directive: String,
    pos: Pos,
    values: IndexMap<String, ConstValue>,
}

impl<'a> Args<'a> {
    fn new(
        lowering: &'a mut Lowering,
        file: &str,
        at: &str,
        directive: &Positioned<ConstDirective>,
    ) -> Self {
        let name = directive.node.name.node.to_string();
        let mut values = IndexMap::new();
        let known = known_arguments().get(&format!("@{name}"));
        for (arg_name, value) in &directive.node.arguments {
            let arg_name = arg_name.node.to_string();
            if known.is_some_and(|k| !k.contains(&arg_name)) {
                lowering.error(
                    Code::UnknownArgument,
                    format!("{at}({arg_name})"),
                    format!("@{name} has no argument `{arg_name}`"),
                    file,
                    directive.pos,
                );
                continue;
            }
            if let Some(input_type) = argument_input_type(&name, &arg_name) {
                check_input_fields(
                    lowering,
                    file,
                    &format!("{at}({arg_name})"),
                    input_type,
                    &value.node,
                    directive.pos,
                );
            }
            values.insert(arg_name, value.node.clone());
        }
        Args {
            lowering,
            file: file.to_string(),
            at: at.to_string(),
            directive: name,
            pos: directive.pos,
            values,
        }
    }

    fn fail(&mut self, code: Code, at: &str, message: &str) {
        let (file, pos) = (self.file.clone(), self.pos);
        self.lowering.error(code, at, message, &file, pos);
    }

    /// Reports a gRPC method name that is not `package.Service/Method`.
    fn check_method_name(&mut self, arg: &str, method: &str) {
        let valid = method
            .split_once('/')
            .is_some_and(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'));
        if !valid {
            let at = self.coordinate(arg);
            self.fail(
                Code::InvalidArgument,
                &at,
                "expected `package.Service/Method`",
            );
        }
    }

    /// A batch's `maxSize`: 100 when absent, else a positive integer (anything else is
    /// reported and gives `None`).
    /// A REST batch's method: GET (the default), or one that carries a body.
    fn batch_method(&mut self, batch: &IndexMap<Name, ConstValue>) -> Option<HttpMethod> {
        let text = match batch.get("method") {
            None | Some(ConstValue::Null) => return Some(HttpMethod::Get),
            Some(ConstValue::String(s)) => s.clone(),
            Some(ConstValue::Enum(e)) => e.to_string(),
            Some(_) => String::new(),
        };
        let method = HttpMethod::parse(&text).filter(|m| {
            matches!(
                m,
                HttpMethod::Get | HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
            )
        });
        if method.is_none() {
            let at = self.coordinate("batch.method");
            self.fail(
                Code::InvalidArgument,
                &at,
                "a batch is GET (keys in query) or POST, PUT or PATCH (keys in a JSON body)",
            );
        }
        method
    }

    /// The fields REST and Lambda batches share: the body property for the keys, the dotted
    /// path of the answer's items (checked), the item key (required) and `maxSize`.
    fn keyed_batch(&mut self, batch: &IndexMap<Name, ConstValue>, at: &str) -> KeyedBatch {
        let keys = self.nested_string(batch, "batch", "keys");
        let items = self.nested_string(batch, "batch", "items");
        let key = self.nested_string(batch, "batch", "key");
        let max_size = self.batch_max_size(batch);
        if key.is_none() {
            self.fail(
                Code::MissingArgument,
                &format!("{at}(batch)"),
                "batch needs key (the item property holding each key)",
            );
        }
        // A dotted property path (`data.users`): no empty segment.
        if let Some(path) = &items
            && path.split('.').any(str::is_empty)
        {
            self.fail(
                Code::InvalidArgument,
                &format!("{at}(batch.items)"),
                &format!("`{path}` is not a property path (names separated by dots)"),
            );
        }
        KeyedBatch {
            keys,
            items,
            key,
            max_size,
        }
    }

    fn batch_max_size(&mut self, batch: &IndexMap<Name, ConstValue>) -> Option<usize> {
        let max_size = match batch.get("maxSize") {
            Some(ConstValue::Number(n)) => n
                .as_u64()
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok()),
            None | Some(ConstValue::Null) => Some(100),
            _ => None,
        };
        if max_size.is_none() {
            let at = self.coordinate("batch.maxSize");
            self.fail(
                Code::InvalidArgument,
                &at,
                "maxSize must be a positive integer",
            );
        }
        max_size
    }

    fn coordinate(&self, arg: &str) -> String {
        format!("{}({arg})", self.at)
    }

    fn take(&mut self, arg: &str) -> Option<ConstValue> {
        match self.values.shift_remove(arg) {
            Some(ConstValue::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    fn wrong_type(&mut self, arg: &str, expected: &str) {
        let at = self.coordinate(arg);
        self.fail(Code::InvalidArgument, &at, &format!("expected {expected}"));
    }

    fn string(&mut self, arg: &str) -> Option<String> {
        match self.take(arg)? {
            ConstValue::String(s) => Some(s),
            _ => {
                self.wrong_type(arg, "a string");
                None
            }
        }
    }

    fn required_string(&mut self, arg: &str) -> Option<String> {
        let present = self
            .values
            .get(arg)
            .is_some_and(|v| !matches!(v, ConstValue::Null));
        if !present {
            let at = self.coordinate(arg);
            let directive = self.directive.clone();
            self.fail(
                Code::MissingArgument,
                &at,
                &format!("@{directive} needs `{arg}`"),
            );
            return None;
        }
        self.string(arg)
    }

    fn enum_or_string(&mut self, arg: &str) -> Option<String> {
        match self.take(arg)? {
            ConstValue::String(s) => Some(s),
            ConstValue::Enum(e) => Some(e.to_string()),
            _ => {
                self.wrong_type(arg, "an enum value");
                None
            }
        }
    }

    fn u64(&mut self, arg: &str) -> Option<u64> {
        match self.take(arg)? {
            ConstValue::Number(n) if n.as_u64().is_some() => n.as_u64(),
            _ => {
                self.wrong_type(arg, "a non-negative integer");
                None
            }
        }
    }

    fn bool(&mut self, arg: &str) -> Option<bool> {
        match self.take(arg)? {
            ConstValue::Boolean(b) => Some(b),
            _ => {
                self.wrong_type(arg, "a boolean");
                None
            }
        }
    }

    fn string_list(&mut self, arg: &str) -> Vec<String> {
        match self.take(arg) {
            None => Vec::new(),
            Some(ConstValue::List(items))
                if items.iter().all(|i| matches!(i, ConstValue::String(_))) =>
            {
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        ConstValue::String(s) => Some(s),
                        _ => None,
                    })
                    .collect()
            }
            Some(ConstValue::String(s)) => vec![s],
            Some(_) => {
                self.wrong_type(arg, "a list of strings");
                Vec::new()
            }
        }
    }

    fn object(&mut self, arg: &str) -> Option<IndexMap<Name, ConstValue>> {
        match self.take(arg)? {
            ConstValue::Object(map) => Some(map),
            _ => {
                self.wrong_type(arg, "an input object");
                None
            }
        }
    }

    fn objects(&mut self, arg: &str) -> Vec<IndexMap<Name, ConstValue>> {
        match self.take(arg) {
            None => Vec::new(),
            Some(ConstValue::Object(map)) => vec![map],
            Some(ConstValue::List(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        ConstValue::Object(map) => out.push(map),
                        _ => self.wrong_type(arg, "a list of input objects"),
                    }
                }
                out
            }
            Some(_) => {
                self.wrong_type(arg, "a list of input objects");
                Vec::new()
            }
        }
    }

    fn parse_template(&mut self, at: &str, text: &str) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(Code::TemplateSyntax, at, &e.to_string());
                None
            }
        }
    }

    fn template(&mut self, arg: &str, required: bool) -> Option<Template> {
        let text = if required {
            self.required_string(arg)
        } else {
            self.string(arg)
        }?;
        let at = self.coordinate(arg);
        self.parse_template(&at, &text)
    }

    fn nested_string(
        &mut self,
        object: &IndexMap<Name, ConstValue>,
        arg: &str,
        field: &str,
    ) -> Option<String> {
        match object.get(field) {
            None | Some(ConstValue::Null) => None,
            Some(ConstValue::String(s)) => Some(s.clone()),
            Some(_) => {
                let at = self.coordinate(&format!("{arg}.{field}"));
                self.fail(Code::InvalidArgument, &at, "expected a string");
                None
            }
        }
    }

    fn nested_template(
        &mut self,
        object: &IndexMap<Name, ConstValue>,
        arg: &str,
        field: &str,
        required: bool,
    ) -> Option<Template> {
        let at = self.coordinate(&format!("{arg}.{field}"));
        let Some(text) = self.nested_string(object, arg, field) else {
            if required && !object.contains_key(field) {
                self.fail(
                    Code::MissingArgument,
                    &at,
                    &format!("`{arg}` needs `{field}`"),
                );
            }
            return None;
        };
        self.parse_template(&at, &text)
    }

    fn key_values_from(
        &mut self,
        arg: &str,
        objects: Vec<IndexMap<Name, ConstValue>>,
    ) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for object in objects {
            let name = self.nested_string(&object, arg, "name");
            let value = self.nested_template(&object, arg, "value", true);
            match (name, value) {
                (Some(name), Some(value)) => out.push((name, value)),
                (None, _) => {
                    let at = self.coordinate(arg);
                    self.fail(
                        Code::MissingArgument,
                        &at,
                        "each entry needs a name and a value",
                    );
                }
                _ => {}
            }
        }
        out
    }

    fn key_values(&mut self, arg: &str) -> Vec<(String, Template)> {
        let objects = self.objects(arg);
        self.key_values_from(arg, objects)
    }

    fn nested_key_values(
        &mut self,
        object: &IndexMap<Name, ConstValue>,
        arg: &str,
        field: &str,
    ) -> Vec<(String, Template)> {
        let objects = match object.get(field) {
            None | Some(ConstValue::Null) => Vec::new(),
            Some(ConstValue::List(items)) => items
                .iter()
                .filter_map(|i| match i {
                    ConstValue::Object(map) => Some(map.clone()),
                    _ => None,
                })
                .collect(),
            Some(ConstValue::Object(map)) => vec![map.clone()],
            Some(_) => {
                let at = self.coordinate(&format!("{arg}.{field}"));
                self.fail(
                    Code::InvalidArgument,
                    &at,
                    "expected a list of {name, value}",
                );
                Vec::new()
            }
        };
        self.key_values_from(&format!("{arg}.{field}"), objects)
    }

    /// Arguments were consumed as read; anything left has the wrong shape for its place.
    fn finish(self) {}
}

fn check_input_fields(
    lowering: &mut Lowering,
    file: &str,
    at: &str,
    input_type: &str,
    value: &ConstValue,
    pos: Pos,
) {
    let Some(known) = known_arguments().get(input_type) else {
        return;
    };
    let objects: Vec<&IndexMap<Name, ConstValue>> = match value {
        ConstValue::Object(map) => vec![map],
        ConstValue::List(items) => items
            .iter()
            .filter_map(|i| match i {
                ConstValue::Object(map) => Some(map),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for object in objects {
        for key in object.keys() {
            if !known.iter().any(|k| k == key.as_str()) {
                lowering.error(
                    Code::UnknownArgument,
                    at,
                    format!("{input_type} has no field `{key}`"),
                    file,
                    pos,
                );
            }
        }
    }
}
