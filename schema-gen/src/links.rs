//! Links: fields graft could add to connect one function's output to another function,
//! proposed (never applied) as `LINK_SUGGESTION` diagnostics carrying the SDL to paste.
//!
//! The rule: a root query field with exactly one argument `A` and an object result `X`
//! (`user(id: Int!): User`), and a plain scalar field of another type named after `X` plus
//! `Id` (`Post.userId`, `Post.user_id`), suggest `Post.user: User` resolved by the same call
//! with `{{args.A}}` read from `{{parent.userId}}`. Works for every transport: the resolver
//! is copied, only its templates change.

use crate::catalog::{Call, Catalog, Field, OperationKind, Resolver, TypeKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::template::{Scope, Segment, Template, Var};

/// Link suggestions for `catalog`, in catalog order.
pub fn suggest(catalog: &Catalog) -> Vec<Diagnostic> {
    let Some(query) = catalog.root(OperationKind::Query) else {
        return Vec::new();
    };
    let lookups: Vec<(&Field, &Resolver, &str)> = query
        .fields
        .values()
        .filter_map(|field| {
            let resolver = field.resolver.as_ref()?;
            let [arg] = field.args.values().collect::<Vec<_>>()[..] else {
                return None;
            };
            // A list result is a batch endpoint, not a lookup of one value.
            if matches!(
                field.ty.clone().nullable(),
                crate::catalog::TypeRef::List(_)
            ) {
                return None;
            }
            catalog.object(field.ty.base())?;
            Some((field, resolver, arg.name.as_str()))
        })
        .collect();
    let roots = [
        Some(&catalog.roots.query),
        catalog.roots.mutation.as_ref(),
        catalog.roots.subscription.as_ref(),
    ];
    let mut out = Vec::new();
    for def in catalog.types.values() {
        let TypeKind::Object(object) = &def.kind else {
            continue;
        };
        if roots.contains(&Some(&def.name)) {
            continue;
        }
        for key_field in object
            .fields
            .values()
            .filter(|f| f.resolver.is_none() && f.args.is_empty())
        {
            let Some(stem) = id_stem(key_field.wire()) else {
                continue;
            };
            if matches!(
                catalog.types.get(key_field.ty.base()).map(|t| &t.kind),
                Some(TypeKind::Object(_))
            ) {
                continue;
            }
            for (lookup, resolver, arg) in &lookups {
                let target = lookup.ty.base();
                if target.to_ascii_lowercase() != stem || target == def.name {
                    continue;
                }
                let link_name =
                    crate::naming::field_name(&lower_first(&stem_spelling(key_field.wire())));
                if object.fields.contains_key(&link_name) {
                    continue;
                }
                let mut link = Field::new(link_name.clone(), lookup.ty.clone().nullable());
                link.description = Some(format!(
                    "Linked by {}.{} (suggested by graft gen).",
                    def.name, key_field.name
                ));
                let mut relinked = relink(resolver, arg, key_field.wire());
                if let Call::Rest(rest) = &mut relinked.call {
                    rest.batch = batch_endpoint(catalog, query, &resolver.source, target);
                }
                link.resolver = Some(relinked);
                let sdl = crate::emit::field_sdl(catalog, &link);
                out.push(Diagnostic::info(
                    Code::LinkSuggestion,
                    format!("{}.{link_name}", def.name),
                    format!(
                        "{}.{} looks like the key of {} (Query.{}); to link them, add to type {}: {}",
                        def.name,
                        key_field.name,
                        target,
                        lookup.name,
                        def.name,
                        sdl.lines().filter(|l| !l.trim_start().starts_with('"')).collect::<Vec<_>>().join(" ").trim()
                    ),
                ));
            }
        }
    }
    out
}

/// A REST root field of the same source returning a list of `target` from its one argument,
/// keyed by the target's `id`: the link can batch through it. Either `GET` with a list
/// argument sent as a repeated query parameter (`users(id: [Int!]) → GET /users?id=..`), or
/// `POST`/`PUT`/`PATCH` whose JSON body is that argument: a list, or an input object whose
/// only field is the list (`lookupUsers(input: {ids: [..]}) → POST /users/lookup`).
fn batch_endpoint(
    catalog: &Catalog,
    query: &crate::catalog::ObjectType,
    source: &str,
    target: &str,
) -> Option<crate::catalog::RestBatch> {
    use crate::catalog::{HttpMethod, RestBatch, TypeRef};
    let key = catalog
        .object(target)?
        .fields
        .values()
        .find(|f| f.name == "id")?
        .wire()
        .to_string();
    let is_list = |t: &TypeRef| matches!(t.clone().nullable(), TypeRef::List(_));
    // A POST lookup may have been read as a mutation (the Query/Mutation rule).
    let mutation = catalog
        .roots
        .mutation
        .as_deref()
        .and_then(|m| catalog.object(m));
    let fields = query
        .fields
        .values()
        .chain(mutation.into_iter().flat_map(|m| m.fields.values()));
    let found = fields.filter_map(|field| {
        let resolver = field.resolver.as_ref().filter(|r| r.source == source)?;
        let Call::Rest(rest) = &resolver.call else {
            return None;
        };
        let [arg] = field.args.values().collect::<Vec<_>>()[..] else {
            return None;
        };
        if field.ty.base() != target || !is_list(&field.ty) || !rest.path.is_literal() {
            return None;
        }
        let reads_arg = |t: &Template| {
            t.sole_var()
                .is_some_and(|v| v.scope == Scope::Args && v.path == [arg.name.clone()])
        };
        let batch = |method, query, keys| RestBatch {
            path: rest.path.clone(),
            method,
            query,
            keys,
            items: None,
            key: key.clone(),
            max_size: 100,
        };
        match rest.method {
            HttpMethod::Get => {
                let [(param, value)] = &rest.query[..] else {
                    return None;
                };
                (is_list(&arg.ty) && reads_arg(value))
                    .then(|| batch(HttpMethod::Get, Some(param.clone()), None))
            }
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch if rest.query.is_empty() => {
                if !rest.body.as_ref().is_some_and(reads_arg) {
                    return None;
                }
                if is_list(&arg.ty) {
                    return Some(batch(rest.method, None, None));
                }
                let TypeKind::Input(input) = &catalog.types.get(arg.ty.base())?.kind else {
                    return None;
                };
                let [only] = input.fields.values().collect::<Vec<_>>()[..] else {
                    return None;
                };
                is_list(&only.ty).then(|| batch(rest.method, None, Some(only.wire().to_string())))
            }
            _ => None,
        }
    });
    // A GET endpoint first (it is the plainer read), else the first body batch.
    found.min_by_key(|b| b.method != HttpMethod::Get)
}

/// `userId` / `user_id` / `UserID` → `user` (lower-case, separators dropped); `None` otherwise.
fn id_stem(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix("id")?.trim_end_matches(['_', '-']);
    (!stem.is_empty()).then(|| stem.replace(['_', '-'], ""))
}

/// The key field's own spelling without its id suffix (`authorUserId` → `authorUser`).
fn stem_spelling(name: &str) -> String {
    let cut = name.len().saturating_sub(2);
    name.get(..cut)
        .unwrap_or(name)
        .trim_end_matches(['_', '-'])
        .to_string()
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The lookup's resolver with `{{args.<arg>}}` read from `{{parent.<key>}}` instead.
fn relink(resolver: &Resolver, arg: &str, key: &str) -> Resolver {
    let swap = |t: &Template| Template {
        segments: t
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Var(var)
                    if var.scope == Scope::Args && var.path.first().is_some_and(|p| p == arg) =>
                {
                    let mut path = vec![key.to_string()];
                    path.extend(var.path.iter().skip(1).cloned());
                    Segment::Var(Var {
                        scope: Scope::Parent,
                        path,
                    })
                }
                other => other.clone(),
            })
            .collect(),
    };
    let mut relinked = resolver.clone();
    match &mut relinked.call {
        Call::Rest(rest) => {
            rest.path = swap(&rest.path);
            for (_, value) in rest.query.iter_mut().chain(rest.headers.iter_mut()) {
                *value = swap(value);
            }
            rest.body = rest.body.as_ref().map(swap);
        }
        // gRPC and Lambda send the arguments object by default: spell it out from the parent.
        Call::Grpc(grpc) => {
            grpc.body = Some(
                grpc.body
                    .as_ref()
                    .map(swap)
                    .unwrap_or_else(|| object_template(arg, key)),
            );
        }
        Call::Lambda(lambda) => {
            lambda.payload = Some(
                lambda
                    .payload
                    .as_ref()
                    .map(swap)
                    .unwrap_or_else(|| object_template(arg, key)),
            );
        }
    }
    relinked
}

/// `{"<arg>": {{parent.<key>}}}`
fn object_template(arg: &str, key: &str) -> Template {
    Template {
        segments: vec![
            Segment::Literal(format!("{{\"{arg}\": ")),
            Segment::Var(Var {
                scope: Scope::Parent,
                path: vec![key.to_string()],
            }),
            Segment::Literal("}".into()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{SdlFile, parse_files};

    /// The suggestions for `sdl`, which must be exactly one.
    fn one_suggestion(sdl: &str) -> Diagnostic {
        let catalog = parse_files(&[SdlFile::new("s.graphql", sdl)])
            .catalog
            .unwrap();
        let mut suggestions = suggest(&catalog);
        assert_eq!(suggestions.len(), 1, "{suggestions:?}");
        suggestions.remove(0)
    }

    #[test]
    fn a_user_id_field_and_a_user_lookup_suggest_a_link() {
        let sdl = r#"
schema @source(name: "blog", rest: {baseUrl: "http://127.0.0.1:1"}) { query: Query }
type Query {
  posts: [Post] @rest(source: "blog", path: "/posts")
  user(id: Int!): User @rest(source: "blog", path: "/users/{{args.id}}")
}
type Post { id: Int userId: Int title: String }
type User { id: Int name: String }
"#;
        let s = one_suggestion(sdl);
        assert_eq!((s.code, s.at.as_str()), (Code::LinkSuggestion, "Post.user"));
        assert!(
            s.message
                .contains(r#"user: User @rest(source: "blog", path: "/users/{{parent.userId}}")"#),
            "{}",
            s.message
        );
    }

    #[test]
    fn a_post_lookup_taking_a_list_of_ids_is_suggested_as_a_body_batch() {
        let sdl = r#"
schema @source(name: "blog", rest: {baseUrl: "http://127.0.0.1:1"}) { query: Query mutation: Mutation }
type Query {
  posts: [Post] @rest(source: "blog", path: "/posts")
  user(id: Int!): User @rest(source: "blog", path: "/users/{{args.id}}")
}
type Mutation {
  lookupUsers(input: LookupInput!): [User] @rest(source: "blog", method: POST, path: "/users/lookup", body: "{{args.input}}")
  sendMail(to: [Int]): [User] @rest(source: "blog", method: POST, path: "/mail", query: [{name: "to", value: "{{args.to}}"}])
}
input LookupInput { ids: [Int!]! }
type Post { id: Int userId: Int title: String }
type User { id: Int name: String }
"#;
        let s = one_suggestion(sdl);
        assert!(
            s.message.contains(
                r#"batch: {path: "/users/lookup", method: POST, keys: "ids", key: "id", maxSize: 100}"#
            ),
            "{}",
            s.message
        );
    }

    #[test]
    fn id_stems_come_from_common_spellings() {
        assert_eq!(id_stem("userId").as_deref(), Some("user"));
        assert_eq!(id_stem("user_id").as_deref(), Some("user"));
        assert_eq!(id_stem("id"), None);
    }
}
