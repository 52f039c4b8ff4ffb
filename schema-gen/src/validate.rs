//! Validate: semantic checks of a catalog — everything that can be wrong is found here,
//! before a gateway is built.
//!
//! Checks: root types exist; every type reference resolves and has the right kind for its
//! place; unions hold objects; resolvers name a declared source of the matching transport;
//! every template variable resolves (arguments, parent properties); upstream-backed fields
//! are nullable (warning).

use crate::catalog::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::directives::BUILTIN_SCALARS;
use crate::template::{Scope, Template};

const STANDARD_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];

/// Where a type is used, which decides the kinds allowed there.
#[derive(Clone, Copy)]
enum Place {
    Output,
    Input,
}

/// All findings for `catalog`, in a deterministic order.
pub fn validate(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    roots(catalog, &mut out);
    for def in catalog.types.values() {
        match &def.kind {
            TypeKind::Object(object) => {
                for field in object.fields.values() {
                    let at = format!("{}.{}", def.name, field.name);
                    type_ref(catalog, &field.ty, Place::Output, &at, &mut out);
                    for arg in field.args.values() {
                        type_ref(
                            catalog,
                            &arg.ty,
                            Place::Input,
                            &format!("{at}({}:)", arg.name),
                            &mut out,
                        );
                    }
                    if let Some(resolver) = &field.resolver {
                        resolver_checks(catalog, def, field, resolver, &at, &mut out);
                    }
                }
            }
            TypeKind::Input(input) => {
                for value in input.fields.values() {
                    let at = format!("{}.{}", def.name, value.name);
                    type_ref(catalog, &value.ty, Place::Input, &at, &mut out);
                }
            }
            TypeKind::Union(union) => union_checks(catalog, def, union, &mut out),
            TypeKind::Enum(enum_type) if enum_type.values.is_empty() => {
                out.push(Diagnostic::error(
                    Code::WrongTypeKind,
                    &def.name,
                    "an enum needs at least one value",
                ))
            }
            TypeKind::Enum(_) | TypeKind::Scalar => {}
        }
    }
    out
}

fn roots(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    match catalog.object(&catalog.roots.query) {
        Some(query) if !query.fields.is_empty() => {}
        Some(_) => out.push(Diagnostic::error(
            Code::NoQueryType,
            &catalog.roots.query,
            "the query type has no fields",
        )),
        None => out.push(Diagnostic::error(
            Code::NoQueryType,
            "schema",
            format!(
                "there is no object type `{}` to serve queries",
                catalog.roots.query
            ),
        )),
    }
    for name in [&catalog.roots.mutation, &catalog.roots.subscription]
        .into_iter()
        .flatten()
    {
        if catalog.object(name).is_none() {
            out.push(Diagnostic::error(
                Code::UnknownType,
                "schema",
                format!("root type `{name}` is not an object type"),
            ));
        }
    }
}

fn type_ref(catalog: &Catalog, ty: &TypeRef, place: Place, at: &str, out: &mut Vec<Diagnostic>) {
    let name = ty.base();
    if STANDARD_SCALARS.contains(&name) || BUILTIN_SCALARS.contains(&name) {
        return;
    }
    let Some(def) = catalog.types.get(name) else {
        out.push(Diagnostic::error(
            Code::UnknownType,
            at,
            format!("type `{name}` is not defined"),
        ));
        return;
    };
    let allowed = matches!(
        (place, &def.kind),
        (_, TypeKind::Scalar | TypeKind::Enum(_))
            | (Place::Output, TypeKind::Object(_) | TypeKind::Union(_))
            | (Place::Input, TypeKind::Input(_))
    );
    if !allowed {
        let place = match place {
            Place::Output => "an output",
            Place::Input => "an input",
        };
        out.push(Diagnostic::error(
            Code::WrongTypeKind,
            at,
            format!(
                "`{name}` is {} and cannot be used as {place} type",
                kind_phrase(&def.kind)
            ),
        ));
    }
}

fn kind_phrase(kind: &TypeKind) -> &'static str {
    match kind {
        TypeKind::Object(_) => "an object type",
        TypeKind::Input(_) => "an input type",
        TypeKind::Enum(_) => "an enum",
        TypeKind::Union(_) => "a union",
        TypeKind::Scalar => "a scalar",
    }
}

fn union_checks(catalog: &Catalog, def: &TypeDef, union: &UnionType, out: &mut Vec<Diagnostic>) {
    if union.members.is_empty() {
        out.push(Diagnostic::error(
            Code::InvalidUnion,
            &def.name,
            "a union needs at least one member",
        ));
    }
    for member in &union.members {
        if catalog.object(member).is_none() {
            out.push(Diagnostic::error(
                Code::InvalidUnion,
                &def.name,
                format!("member `{member}` is not an object type"),
            ));
        }
    }
    if let Some(discriminator) = &union.discriminator {
        for (_, ty) in &discriminator.mapping {
            if !union.members.contains(ty) {
                out.push(Diagnostic::error(
                    Code::InvalidUnion,
                    format!("{} @discriminator(mapping)", def.name),
                    format!("`{ty}` is not a member of the union"),
                ));
            }
        }
    }
}

fn resolver_checks(
    catalog: &Catalog,
    parent: &TypeDef,
    field: &Field,
    resolver: &Resolver,
    at: &str,
    out: &mut Vec<Diagnostic>,
) {
    let keyword = resolver.call.keyword();
    let directive_at = format!("{at} @{keyword}");
    match catalog.sources.get(&resolver.source) {
        None => out.push(Diagnostic::error(
            Code::UnknownSource,
            format!("{directive_at}(source)"),
            format!("no @source is named \"{}\"", resolver.source),
        )),
        Some(source) if source.transport.keyword() != keyword => out.push(Diagnostic::error(
            Code::TransportMismatch,
            format!("{directive_at}(source)"),
            format!(
                "source \"{}\" is a {} source, not {keyword}",
                resolver.source,
                source.transport.keyword()
            ),
        )),
        Some(_) => {}
    }
    if field.ty.is_non_null() {
        out.push(Diagnostic::warning(
            Code::NonNullUpstreamField,
            at,
            "an upstream-backed field should be nullable, so a failing call nulls only this field",
        ));
    }
    let is_root = [
        Some(&catalog.roots.query),
        catalog.roots.mutation.as_ref(),
        catalog.roots.subscription.as_ref(),
    ]
    .contains(&Some(&parent.name));
    let mut templates: Vec<(String, &Template)> = Vec::new();
    match &resolver.call {
        Call::Rest(rest) => {
            templates.push(("path".into(), &rest.path));
            templates.extend(rest.query.iter().map(|(k, t)| (format!("query.{k}"), t)));
            templates.extend(
                rest.headers
                    .iter()
                    .map(|(k, t)| (format!("headers.{k}"), t)),
            );
            if let Some(body) = &rest.body {
                templates.push(("body".into(), body));
            }
            if let Some(batch) = &rest.batch {
                templates.push(("batch.path".into(), &batch.path));
            }
        }
        Call::Grpc(grpc) => templates.extend(grpc.body.iter().map(|t| ("body".to_string(), t))),
        Call::Lambda(lambda) => {
            templates.extend(lambda.payload.iter().map(|t| ("payload".to_string(), t)))
        }
    }
    if resolver.call.is_batched() {
        let keyed_by = match &resolver.call {
            Call::Rest(_) => "path or query",
            Call::Grpc(_) => "body",
            Call::Lambda(_) => "payload",
        };
        let problem = if is_root {
            Some("batching needs a parent: use it on a link field, not a root field".to_string())
        } else if resolver.call.parent_key().is_none() {
            Some(format!(
                "batching needs the parent's key: the {keyed_by} must read a `{{{{parent.x}}}}` property"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            out.push(Diagnostic::error(
                Code::InvalidArgument,
                format!("{directive_at}(batch)"),
                problem,
            ));
        }
    }
    for (arg, template) in templates {
        let at = format!("{directive_at}({arg})");
        for var in template.vars() {
            let Some(first) = var.path.first() else {
                continue;
            };
            match var.scope {
                Scope::Args if !field.args.contains_key(first) => out.push(Diagnostic::error(
                    Code::TemplateUnknownArgument,
                    &at,
                    format!(
                        "`{{{{{var}}}}}` names an argument `{first}` that {}.{} does not have",
                        parent.name, field.name
                    ),
                )),
                Scope::Parent if is_root => out.push(Diagnostic::error(
                    Code::TemplateNoParent,
                    &at,
                    format!("`{{{{{var}}}}}` reads the parent, but a root field has none"),
                )),
                Scope::Parent => {
                    let known = match &parent.kind {
                        TypeKind::Object(object) => object
                            .fields
                            .values()
                            .any(|f| f.resolver.is_none() && f.wire() == first),
                        _ => false,
                    };
                    if !known {
                        out.push(Diagnostic::warning(
                            Code::TemplateUnknownParentField,
                            &at,
                            format!("`{{{{{var}}}}}` reads `{first}`, which no plain field of {} declares; the upstream value must carry it", parent.name),
                        ));
                    }
                }
                Scope::Args | Scope::Headers | Scope::Env => {}
            }
        }
    }
}
