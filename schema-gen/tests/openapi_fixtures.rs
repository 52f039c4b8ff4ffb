//! OpenAPI fixtures that reproduce real-world quirks, ingested and emitted as executable SDL;
//! each snapshot holds the diagnostics and the SDL.

use std::path::{Path, PathBuf};

use schema_gen::ingest::Ingested;
use schema_gen::ingest::openapi::{DocumentLoader, OpenApiOptions, ingest};
use schema_gen::parse::{SdlFile, parse_files};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi")
}

/// Reads external documents from the fixtures directory; URIs are fixture-relative, so
/// snapshots do not depend on where the repository is checked out.
struct Fixtures;

impl DocumentLoader for Fixtures {
    fn load(&self, uri: &str) -> Result<String, String> {
        std::fs::read_to_string(fixtures().join(uri)).map_err(|_| format!("no file `{uri}`"))
    }
}

fn ingest_fixture(file: &str, options: OpenApiOptions) -> Ingested {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    ingest(&text, &Fixtures, &options.with_location(file))
}

/// Diagnostics, then the SDL; the SDL must also pass `parse_files` without errors.
fn render(ingested: &Ingested) -> String {
    let mut out = String::from("# diagnostics\n");
    for d in &ingested.diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    if let Some(catalog) = &ingested.catalog {
        let sdl = schema_gen::emit::sdl(catalog);
        let checked = parse_files(&[SdlFile::new("generated.graphql", sdl.clone())]);
        let errors: Vec<String> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            checked.catalog.as_ref(),
            Some(catalog),
            "parse(emit(catalog)) differs"
        );
        assert!(
            errors.is_empty(),
            "the emitted SDL does not check:\n{}\n{sdl}",
            errors.join("\n")
        );
        out.push_str("# sdl\n");
        out.push_str(&sdl);
    }
    out
}

fn snapshot(name: &str, file: &str) {
    let ingested = ingest_fixture(file, OpenApiOptions::new("api"));
    insta::assert_snapshot!(name, render(&ingested));
}

#[test]
fn swagger_2_specs_use_host_base_path_definitions_and_body_parameters() {
    snapshot("swagger2", "swagger2.yaml");
}

#[test]
fn openapi_3_1_type_arrays_boolean_schemas_and_ref_siblings_are_understood() {
    snapshot("openapi31", "openapi31.yaml");
}

#[test]
fn recursive_schemas_become_recursive_types() {
    snapshot("recursive", "recursive.yaml");
}

#[test]
fn one_of_of_objects_becomes_a_union_with_or_without_a_discriminator() {
    snapshot("one_of", "one_of.yaml");
}

#[test]
fn operations_without_operation_id_are_named_from_method_and_path() {
    snapshot("no_operation_ids", "no_operation_ids.yaml");
}

#[test]
fn path_level_parameters_headers_and_bodies_become_arguments() {
    snapshot("path_level_parameters", "path_level_parameters.yaml");
}

#[test]
fn server_variables_fill_the_base_url() {
    snapshot("server_variables", "server_variables.yaml");
}

#[test]
fn callbacks_given_as_refs_numeric_patterns_and_missing_types_do_not_break_ingest() {
    snapshot("messy", "messy.yaml");
}

#[test]
fn untranslatable_parts_are_skipped_with_warnings_and_the_rest_is_used() {
    snapshot("skipped_parts", "skipped_parts.yaml");
}

#[test]
fn url_encoded_form_bodies_become_inputs_sent_as_forms() {
    snapshot("form_bodies", "form_bodies.yaml");
}

#[test]
fn relative_external_refs_are_loaded_through_the_loader() {
    snapshot("external_refs", "external/main.yaml");
}

#[test]
fn a_ref_cycle_is_reported_and_replaced_by_json() {
    snapshot("ref_cycle", "ref_cycle.yaml");
}

#[test]
fn a_dangling_ref_is_reported_and_the_operation_still_works() {
    snapshot("dangling_ref", "dangling_ref.json");
}

#[test]
fn a_spec_with_no_usable_operation_is_rejected() {
    let ingested = ingest_fixture("nothing_usable.yaml", OpenApiOptions::new("api"));
    assert!(ingested.catalog.is_none());
    insta::assert_snapshot!("nothing_usable", render(&ingested));
}

#[test]
fn a_document_that_is_not_openapi_is_rejected() {
    let ingested = ingest_fixture("not_openapi.json", OpenApiOptions::new("api"));
    assert!(ingested.catalog.is_none());
    insta::assert_snapshot!("not_openapi", render(&ingested));
}

#[test]
fn truncated_json_is_a_syntax_error_with_its_line() {
    let ingested = ingest_fixture("truncated.json", OpenApiOptions::new("api"));
    assert!(ingested.catalog.is_none());
    insta::assert_snapshot!("truncated", render(&ingested));
}

#[test]
fn without_servers_the_base_url_comes_from_the_environment() {
    snapshot("no_servers", "no_servers.yaml");
}

#[test]
fn a_relative_server_resolves_against_the_spec_url() {
    let text = std::fs::read_to_string(fixtures().join("no_servers.yaml")).unwrap();
    let options =
        OpenApiOptions::new("pets").with_location("http://127.0.0.1:8080/specs/openapi.yaml");
    let catalog = ingest(&text, &Fixtures, &options).catalog.unwrap();
    let sdl = schema_gen::emit::sdl(&catalog);
    assert!(sdl.contains(r#"baseUrl: "http://127.0.0.1:8080""#), "{sdl}");
}

#[test]
fn the_base_url_option_overrides_the_spec() {
    let options = OpenApiOptions::new("pets").with_base_url("{{env.PETS_URL}}/v9/");
    let ingested = ingest_fixture("swagger2.yaml", options);
    let sdl = schema_gen::emit::sdl(&ingested.catalog.unwrap());
    assert!(sdl.contains(r#"baseUrl: "{{env.PETS_URL}}/v9""#), "{sdl}");
}

#[test]
fn an_empty_name_is_derived_from_the_title() {
    let ingested = ingest_fixture("no_servers.yaml", OpenApiOptions::new(""));
    let catalog = ingested.catalog.unwrap();
    assert_eq!(catalog.sources.keys().collect::<Vec<_>>(), ["local_pets"]);
}

#[test]
fn yaml_and_json_documents_give_the_same_catalog() {
    let yaml = std::fs::read_to_string(fixtures().join("one_of.yaml")).unwrap();
    let value: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    let json = serde_json::to_string_pretty(&value).unwrap();
    let options = OpenApiOptions::new("api");
    let from_yaml = ingest(&yaml, &Fixtures, &options).catalog.unwrap();
    let from_json = ingest(&json, &Fixtures, &options).catalog.unwrap();
    assert_eq!(from_yaml, from_json);
}

/// Every node of a fixture replaced, one at a time, by each odd value: ingest must answer
/// with diagnostics (or a catalog), never panic.
#[test]
fn odd_values_anywhere_in_a_spec_never_panic() {
    let yaml = std::fs::read_to_string(fixtures().join("one_of.yaml")).unwrap();
    let spec: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    let mut pointers = Vec::new();
    let mut stack = vec![(String::new(), &spec)];
    while let Some((pointer, value)) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    stack.push((format!("{pointer}/{key}"), v));
                }
            }
            serde_json::Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{pointer}/{i}"), v)),
                );
            }
            _ => {}
        }
        pointers.push(pointer);
    }
    let odd = [
        serde_json::json!(null),
        serde_json::json!(42),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(true),
        serde_json::json!({"$ref": "#"}),
        serde_json::json!({"$ref": 7}),
    ];
    for pointer in &pointers {
        for value in &odd {
            let mut mutated = spec.clone();
            *mutated.pointer_mut(pointer).unwrap() = value.clone();
            let text = serde_json::to_string(&mutated).unwrap();
            let ingested = ingest(&text, &Fixtures, &OpenApiOptions::new("api"));
            if let Some(catalog) = &ingested.catalog {
                let _ = schema_gen::emit::sdl(catalog);
            }
        }
    }
}

#[test]
fn deeply_nested_schemas_are_cut_off_with_a_warning() {
    let mut schema = serde_json::json!({"type": "string"});
    for _ in 0..100 {
        schema = serde_json::json!({"type": "array", "items": schema});
    }
    let mut components = serde_json::Map::new();
    for i in 0..500 {
        components.insert(
            format!("S{i}"),
            serde_json::json!({"type": "array", "items": {"$ref": format!("#/components/schemas/S{}", i + 1)}}),
        );
    }
    components.insert("S500".into(), schema.clone());
    let spec = serde_json::json!({
        "openapi": "3.0.0", "info": {"title": "deep", "version": "1"},
        "servers": [{"url": "http://127.0.0.1:1"}],
        "paths": {
            "/a": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}}},
            "/b": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}}}
        },
        "components": {"schemas": components}
    });
    let ingested = ingest(&spec.to_string(), &Fixtures, &OpenApiOptions::new("api"));
    assert!(ingested.catalog.is_some());
    // 500 array aliases, each referencing the next: cut off rather than overflowing the stack.
    assert!(
        ingested
            .diagnostics
            .iter()
            .any(|d| d.message.contains("too deeply")),
        "{:#?}",
        ingested.diagnostics
    );
}

#[test]
fn empty_binary_and_alias_bomb_inputs_get_precise_errors() {
    let bomb = "openapi: 3.0.0\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    let cases = [
        ("", "SPEC_NOT_OPENAPI"),
        ("\u{0}\u{1}\u{2}garbage\u{ff}: [", "SPEC_SYNTAX"),
        ("[1, 2]", "SPEC_NOT_OPENAPI"),
        ("swagger: '1.2'", "SPEC_NOT_OPENAPI"),
        (
            "openapi: 3.0\ninfo: {title: t, version: '1'}\npaths: {}",
            "NOTHING_USABLE",
        ),
        (bomb, "SPEC_SYNTAX"),
    ];
    for (text, code) in cases {
        let ingested = ingest(text, &Fixtures, &OpenApiOptions::new("api"));
        assert!(ingested.catalog.is_none(), "{text:?}");
        let codes: Vec<&str> = ingested
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        assert_eq!(
            codes.last(),
            Some(&code),
            "{text:?}: {:#?}",
            ingested.diagnostics
        );
    }
}
