//! Emit: a catalog as executable SDL — the artefact people edit, check and serve.
//!
//! Output is deterministic (catalog order, roots first) so that generated files diff cleanly.
//! `parse::parse_files(emit::sdl(c))` gives back `c`.

use std::fmt::Write;

use serde_json::Value;

use crate::catalog::{
    Call, Catalog, Field, InputValue, RestCall, Source, Transport, TypeDef, TypeKind,
};
use crate::template::Template;

/// The catalog as executable SDL.
pub fn sdl(catalog: &Catalog) -> String {
    let mut out = String::new();
    schema_definition(&mut out, catalog);
    let roots = [
        Some(&catalog.roots.query),
        catalog.roots.mutation.as_ref(),
        catalog.roots.subscription.as_ref(),
    ];
    let root_names: Vec<&String> = roots.into_iter().flatten().collect();
    for name in &root_names {
        if let Some(def) = catalog.types.get(name.as_str()) {
            type_definition(&mut out, catalog, def);
        }
    }
    for def in catalog.types.values() {
        if !root_names.contains(&&def.name) {
            type_definition(&mut out, catalog, def);
        }
    }
    out
}

fn schema_definition(out: &mut String, catalog: &Catalog) {
    out.push_str("schema");
    for source in catalog.sources.values() {
        out.push_str("\n  ");
        source_directive(out, source);
    }
    out.push_str(" {\n");
    let _ = writeln!(out, "  query: {}", catalog.roots.query);
    if let Some(mutation) = &catalog.roots.mutation {
        let _ = writeln!(out, "  mutation: {mutation}");
    }
    if let Some(subscription) = &catalog.roots.subscription {
        let _ = writeln!(out, "  subscription: {subscription}");
    }
    out.push_str("}\n");
}

fn source_directive(out: &mut String, source: &Source) {
    let mut args = vec![format!("name: {}", string(&source.name))];
    let transport = match &source.transport {
        Transport::Rest(rest) => {
            let mut fields = vec![format!("baseUrl: {}", template(&rest.base_url))];
            if !rest.headers.is_empty() {
                fields.push(format!("headers: {}", key_values(&rest.headers)));
            }
            fields.join(", ")
        }
        Transport::Grpc(grpc) => {
            let mut fields = vec![format!("endpoint: {}", template(&grpc.endpoint))];
            if let Some(path) = &grpc.descriptor_set {
                fields.push(format!("descriptorSet: {}", string(path)));
            }
            fields.join(", ")
        }
        Transport::Lambda(lambda) => {
            let mut fields = Vec::new();
            if let Some(region) = &lambda.region {
                fields.push(format!("region: {}", string(region)));
            }
            if let Some(endpoint) = &lambda.endpoint {
                fields.push(format!("endpoint: {}", template(endpoint)));
            }
            fields.join(", ")
        }
    };
    args.push(format!("{}: {{{transport}}}", source.transport.keyword()));
    let policy = &source.policy;
    if let Some(timeout) = policy.timeout_ms {
        args.push(format!("timeout: {timeout}"));
    }
    if !policy.forward_headers.is_empty() {
        args.push(format!(
            "forwardHeaders: {}",
            string_list(&policy.forward_headers)
        ));
    }
    if !policy.response_headers.is_empty() {
        args.push(format!(
            "responseHeaders: {}",
            string_list(&policy.response_headers)
        ));
    }
    if let Some(dedupe) = policy.dedupe {
        args.push(format!("dedupe: {dedupe}"));
    }
    if policy.http_cache {
        args.push("httpCache: true".to_string());
    }
    if let Some(shared) = policy.shared_cache {
        args.push(format!("sharedCache: {shared}"));
    }
    let _ = write!(out, "@source({})", args.join(", "));
}

fn type_definition(out: &mut String, catalog: &Catalog, def: &TypeDef) {
    out.push('\n');
    description(out, def.description.as_deref(), "");
    match &def.kind {
        TypeKind::Scalar => {
            let _ = writeln!(out, "scalar {}", def.name);
        }
        TypeKind::Object(object) => {
            let _ = writeln!(out, "type {} {{", def.name);
            for field in object.fields.values() {
                field_definition(out, catalog, field);
            }
            out.push_str("}\n");
        }
        TypeKind::Input(input) => {
            let _ = writeln!(out, "input {} {{", def.name);
            for value in input.fields.values() {
                description(out, value.description.as_deref(), "  ");
                out.push_str("  ");
                input_value(out, catalog, value);
                out.push('\n');
            }
            out.push_str("}\n");
        }
        TypeKind::Enum(enum_type) => {
            let _ = writeln!(out, "enum {} {{", def.name);
            for value in enum_type.values.values() {
                description(out, value.description.as_deref(), "  ");
                let _ = write!(out, "  {}", value.name);
                if let Some(wire) = &value.wire_name {
                    let _ = write!(out, " @map(from: {})", string(wire));
                }
                deprecated(out, value.deprecation.as_deref());
                out.push('\n');
            }
            out.push_str("}\n");
        }
        TypeKind::Union(union) => {
            let _ = write!(out, "union {}", def.name);
            if let Some(d) = &union.discriminator {
                let _ = write!(out, " @discriminator(property: {}", string(&d.property));
                if !d.mapping.is_empty() {
                    let mapping: Vec<String> = d
                        .mapping
                        .iter()
                        .map(|(value, ty)| {
                            format!("{{value: {}, type: {}}}", string(value), string(ty))
                        })
                        .collect();
                    let _ = write!(out, ", mapping: [{}]", mapping.join(", "));
                }
                out.push(')');
            }
            let _ = writeln!(out, " = {}", union.members.join(" | "));
        }
    }
}

/// One field definition as SDL (two-space indented, newline-terminated), as `sdl` writes it.
pub fn field_sdl(catalog: &Catalog, field: &Field) -> String {
    let mut out = String::new();
    field_definition(&mut out, catalog, field);
    out
}

fn field_definition(out: &mut String, catalog: &Catalog, field: &Field) {
    description(out, field.description.as_deref(), "  ");
    let _ = write!(out, "  {}", field.name);
    if !field.args.is_empty() {
        let multiline = field.args.values().any(|a| a.description.is_some());
        out.push('(');
        for (i, arg) in field.args.values().enumerate() {
            if multiline {
                out.push('\n');
                description(out, arg.description.as_deref(), "    ");
                out.push_str("    ");
            } else if i > 0 {
                out.push_str(", ");
            }
            input_value(out, catalog, arg);
        }
        out.push_str(if multiline { "\n  )" } else { ")" });
    }
    let _ = write!(out, ": {}", field.ty);
    if let Some(wire) = &field.wire_name {
        let _ = write!(out, " @map(from: {})", string(wire));
    }
    if let Some(resolver) = &field.resolver {
        let mut args = vec![format!("source: {}", string(&resolver.source))];
        match &resolver.call {
            Call::Rest(rest) => rest_args(&mut args, rest),
            Call::Grpc(grpc) => {
                args.push(format!("method: {}", string(&grpc.method)));
                if let Some(body) = &grpc.body {
                    args.push(format!("body: {}", template(body)));
                }
                if let Some(batch) = &grpc.batch {
                    args.push(format!(
                        "batch: {{method: {}, keys: {}, items: {}, key: {}, maxSize: {}}}",
                        string(&batch.method),
                        string(&batch.keys),
                        string(&batch.items),
                        string(&batch.key),
                        batch.max_size
                    ));
                }
            }
            Call::Lambda(lambda) => {
                args.push(format!("function: {}", string(&lambda.function)));
                if let Some(qualifier) = &lambda.qualifier {
                    args.push(format!("qualifier: {}", string(qualifier)));
                }
                if let Some(payload) = &lambda.payload {
                    args.push(format!("payload: {}", template(payload)));
                }
                if let Some(batch) = &lambda.batch {
                    let optional = [
                        ("function", &batch.function),
                        ("keys", &batch.keys),
                        ("items", &batch.items),
                    ];
                    let mut fields: Vec<String> = optional
                        .iter()
                        .filter_map(|(name, value)| {
                            value.as_ref().map(|v| format!("{name}: {}", string(v)))
                        })
                        .collect();
                    fields.push(format!("key: {}", string(&batch.key)));
                    fields.push(format!("maxSize: {}", batch.max_size));
                    args.push(format!("batch: {{{}}}", fields.join(", ")));
                }
            }
        }
        if let Some(timeout) = resolver.policy.timeout_ms {
            args.push(format!("timeout: {timeout}"));
        }
        if let Some(ttl) = resolver.policy.cache_ttl_s {
            args.push(format!("cacheTtl: {ttl}"));
        }
        let _ = write!(out, " @{}({})", resolver.call.keyword(), args.join(", "));
    }
    deprecated(out, field.deprecation.as_deref());
    out.push('\n');
}

fn rest_args(args: &mut Vec<String>, rest: &RestCall) {
    if rest.method != crate::catalog::HttpMethod::Get {
        args.push(format!("method: {}", rest.method.as_str()));
    }
    args.push(format!("path: {}", template(&rest.path)));
    if !rest.query.is_empty() {
        args.push(format!("query: {}", key_values(&rest.query)));
    }
    if !rest.headers.is_empty() {
        args.push(format!("headers: {}", key_values(&rest.headers)));
    }
    if let Some(body) = &rest.body {
        args.push(format!("body: {}", template(body)));
    }
    if rest.encoding != crate::catalog::BodyEncoding::Json {
        args.push(format!("encoding: {}", rest.encoding.as_str()));
    }
    if let Some(batch) = &rest.batch {
        let mut fields = vec![format!("path: {}", template(&batch.path))];
        if batch.method != crate::catalog::HttpMethod::Get {
            fields.push(format!("method: {}", batch.method.as_str()));
        }
        let optional = [
            ("query", &batch.query),
            ("keys", &batch.keys),
            ("items", &batch.items),
        ];
        fields.extend(
            optional.iter().filter_map(|(name, value)| {
                value.as_ref().map(|v| format!("{name}: {}", string(v)))
            }),
        );
        fields.push(format!("key: {}", string(&batch.key)));
        fields.push(format!("maxSize: {}", batch.max_size));
        args.push(format!("batch: {{{}}}", fields.join(", ")));
    }
}

fn input_value(out: &mut String, catalog: &Catalog, value: &InputValue) {
    let _ = write!(out, "{}: {}", value.name, value.ty);
    if let Some(default) = &value.default {
        let is_enum = matches!(
            catalog.types.get(value.ty.base()).map(|t| &t.kind),
            Some(TypeKind::Enum(_))
        );
        let _ = write!(out, " = {}", const_value(default, is_enum));
    }
    if let Some(wire) = &value.wire_name {
        let _ = write!(out, " @map(from: {})", string(wire));
    }
    deprecated(out, value.deprecation.as_deref());
}

fn deprecated(out: &mut String, reason: Option<&str>) {
    match reason {
        None => {}
        Some("") | Some("No longer supported") => out.push_str(" @deprecated"),
        Some(reason) => {
            let _ = write!(out, " @deprecated(reason: {})", string(reason));
        }
    }
}

fn description(out: &mut String, text: Option<&str>, indent: &str) {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return;
    };
    // A block string cannot hold `"""` unescaped, and parsers disagree on `\"""`: such text
    // is written as an ordinary string instead.
    if text.contains('\n') && !text.contains("\"\"\"") {
        let _ = writeln!(out, "{indent}\"\"\"");
        for line in text.lines() {
            let _ = writeln!(out, "{indent}{}", line.trim_end());
        }
        let _ = writeln!(out, "{indent}\"\"\"");
    } else {
        let _ = writeln!(out, "{indent}{}", string(text));
    }
}

/// A GraphQL string literal.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn template(t: &Template) -> String {
    string(&t.to_string())
}

fn string_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

fn key_values(pairs: &[(String, Template)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{{name: {}, value: {}}}", string(name), template(value)))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A JSON value as a GraphQL constant; strings become enum literals when `as_enum`.
fn const_value(value: &Value, as_enum: bool) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if as_enum && crate::naming::is_valid_name(s) => s.clone(),
        Value::String(s) => string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| const_value(v, as_enum)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", const_value(v, false)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
