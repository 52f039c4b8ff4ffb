//! Transforms: pure rewrites of a whole catalog, applied before graphs are merged.
//!
//! [`prefix`] keeps two upstreams that were generated independently (and so may both have a
//! `Query.list` or a `Pet` type) from colliding when they are merged into one graph:
//!
//! ```
//! use schema_gen::catalog::{Catalog, Field, ObjectType, TypeDef, TypeKind, TypeRef};
//! let mut catalog = Catalog::default();
//! let mut query = ObjectType::default();
//! query.fields.insert("pets".into(), Field::new("pets", TypeRef::list(TypeRef::named("Pet"))));
//! catalog.types.insert("Query".into(), TypeDef { name: "Query".into(), description: None, kind: TypeKind::Object(query) });
//! catalog.types.insert("Pet".into(), TypeDef { name: "Pet".into(), description: None, kind: TypeKind::Object(ObjectType::default()) });
//! let prefixed = schema_gen::transform::prefix(catalog, "shop");
//! assert!(prefixed.root(schema_gen::catalog::OperationKind::Query).unwrap().fields.contains_key("shopPets"));
//! assert!(prefixed.types.contains_key("ShopPet"));
//! ```

use indexmap::IndexMap;

use crate::catalog::{Catalog, Field, InputValue, TypeDef, TypeKind, TypeRef};

/// Prefixes a catalog's names: every root field becomes `prefix` + its capitalised name
/// (`pets` → `shopPets`) and every type except the roots and custom scalars gets the
/// capitalised prefix (`Pet` → `ShopPet`), with every reference to it rewritten. Scalars keep
/// their names because equal scalars from two sources merge harmlessly (`JSON`, `Int64`).
/// Wire names are kept, so calls and response shaping are unchanged. An empty prefix returns
/// the catalog as it is.
pub fn prefix(catalog: Catalog, prefix: &str) -> Catalog {
    if prefix.is_empty() {
        return catalog;
    }
    let type_prefix = capitalize(prefix);
    let roots = catalog.roots.clone();
    let is_root = |name: &str| {
        name == roots.query
            || roots.mutation.as_deref() == Some(name)
            || roots.subscription.as_deref() == Some(name)
    };
    let renamed: IndexMap<String, String> = catalog
        .types
        .values()
        .filter(|def| !is_root(&def.name) && !matches!(def.kind, TypeKind::Scalar))
        .map(|def| (def.name.clone(), format!("{type_prefix}{}", def.name)))
        .collect();
    let rename = |name: &str| {
        renamed
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };

    let mut types = IndexMap::with_capacity(catalog.types.len());
    for (_, def) in catalog.types {
        let root = is_root(&def.name);
        let name = rename(&def.name);
        let kind = match def.kind {
            TypeKind::Object(mut object) => {
                object.fields = object
                    .fields
                    .into_iter()
                    .map(|(field_name, field)| {
                        let field_name = if root {
                            format!("{prefix}{}", capitalize(&field_name))
                        } else {
                            field_name
                        };
                        let field = rewrite_field(field, &field_name, &rename);
                        (field_name, field)
                    })
                    .collect();
                TypeKind::Object(object)
            }
            TypeKind::Input(mut input) => {
                input.fields = input
                    .fields
                    .into_iter()
                    .map(|(n, v)| (n, rewrite_input(v, &rename)))
                    .collect();
                TypeKind::Input(input)
            }
            TypeKind::Union(mut union) => {
                union.members = union.members.iter().map(|m| rename(m)).collect();
                if let Some(discriminator) = union.discriminator.as_mut() {
                    for (_, member) in discriminator.mapping.iter_mut() {
                        *member = rename(member);
                    }
                }
                TypeKind::Union(union)
            }
            other @ (TypeKind::Enum(_) | TypeKind::Scalar) => other,
        };
        types.insert(name.clone(), TypeDef { name, kind, ..def });
    }
    Catalog {
        sources: catalog.sources,
        types,
        roots,
    }
}

fn rewrite_field(field: Field, name: &str, rename: &dyn Fn(&str) -> String) -> Field {
    Field {
        name: name.to_string(),
        ty: rewrite_ref(field.ty, rename),
        args: field
            .args
            .into_iter()
            .map(|(n, v)| (n, rewrite_input(v, rename)))
            .collect(),
        ..field
    }
}

fn rewrite_input(value: InputValue, rename: &dyn Fn(&str) -> String) -> InputValue {
    InputValue {
        ty: rewrite_ref(value.ty, rename),
        ..value
    }
}

fn rewrite_ref(ty: TypeRef, rename: &dyn Fn(&str) -> String) -> TypeRef {
    match ty {
        TypeRef::Named(name) => TypeRef::Named(rename(&name)),
        TypeRef::List(inner) => TypeRef::List(Box::new(rewrite_ref(*inner, rename))),
        TypeRef::NonNull(inner) => TypeRef::NonNull(Box::new(rewrite_ref(*inner, rename))),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{SdlFile, parse_files};

    const SDL: &str = r#"
schema @source(name: "shop", rest: {baseUrl: "http://127.0.0.1:1"}) { query: Query mutation: Mutation }
type Query {
  pets(filter: PetFilter, kind: Kind): [Pet!] @rest(source: "shop", path: "/pets")
  thing: Thing @rest(source: "shop", path: "/thing")
}
type Mutation { addPet(input: PetFilter): Pet @rest(source: "shop", method: POST, path: "/pets") }
type Pet { id: ID! owner: Owner extra: JSON }
type Owner { name: String }
type Cat { meow: String }
type Dog { woof: String }
union Thing @discriminator(property: "kind", mapping: [{value: "cat", type: "Cat"}]) = Cat | Dog
input PetFilter { kind: Kind }
enum Kind { CAT DOG }
scalar JSON
"#;

    fn catalog() -> Catalog {
        let checked = parse_files(&[SdlFile::new("shop.graphql", SDL)]);
        checked
            .catalog
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics))
    }

    #[test]
    fn root_fields_and_types_are_prefixed_and_the_result_is_still_valid() {
        let prefixed = prefix(catalog(), "store");
        let sdl = crate::emit::sdl(&prefixed);
        let checked = parse_files(&[SdlFile::new("prefixed.graphql", sdl.clone())]);
        assert!(
            checked.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}\n{sdl}",
            checked.diagnostics
        );
        let names: Vec<&str> = prefixed.types.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "Query",
                "Mutation",
                "StorePet",
                "StoreOwner",
                "StoreCat",
                "StoreDog",
                "StoreThing",
                "StorePetFilter",
                "StoreKind"
            ]
        );
        let query = prefixed.object("Query").unwrap();
        assert_eq!(
            query.fields.keys().collect::<Vec<_>>(),
            ["storePets", "storeThing"]
        );
        let pets = &query.fields["storePets"];
        assert_eq!(pets.ty.to_string(), "[StorePet!]");
        assert_eq!(pets.args["filter"].ty.to_string(), "StorePetFilter");
        assert_eq!(
            prefixed.object("Mutation").unwrap().fields["storeAddPet"]
                .ty
                .to_string(),
            "StorePet"
        );
        assert_eq!(
            prefixed.object("StorePet").unwrap().fields["extra"]
                .ty
                .to_string(),
            "JSON"
        );
        assert!(pets.resolver.is_some(), "calls are unchanged");
        let TypeKind::Union(union) = &prefixed.types["StoreThing"].kind else {
            panic!("not a union")
        };
        assert_eq!(union.members, ["StoreCat", "StoreDog"]);
        assert_eq!(
            union.discriminator.as_ref().unwrap().mapping,
            [("cat".to_string(), "StoreCat".to_string())]
        );
    }

    #[test]
    fn an_empty_prefix_changes_nothing() {
        assert_eq!(prefix(catalog(), ""), catalog());
    }
}
