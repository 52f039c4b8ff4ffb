//! Executable schema: parse, merge, validate and emit, snapshot-tested on fixtures.

use schema_gen::parse::{Checked, SdlFile, parse_files};

fn fixture(name: &str) -> SdlFile {
    let path = format!("{}/tests/fixtures/sdl/{name}", env!("CARGO_MANIFEST_DIR"));
    SdlFile::new(name, std::fs::read_to_string(path).unwrap())
}

fn report(checked: &Checked) -> String {
    checked
        .diagnostics
        .iter()
        .map(|d| format!("{d}\n"))
        .collect()
}

#[test]
fn a_valid_schema_parses_into_a_catalog_and_emits_back_to_equivalent_sdl() {
    let checked = parse_files(&[fixture("blog.graphql")]);
    let catalog = checked
        .catalog
        .clone()
        .unwrap_or_else(|| panic!("{}", report(&checked)));
    let emitted = schema_gen::emit::sdl(&catalog);
    insta::assert_snapshot!("blog_emitted", emitted);
    let again = parse_files(&[SdlFile::new("emitted.graphql", emitted.clone())]);
    assert_eq!(again.catalog.as_ref(), Some(&catalog), "{}", report(&again));
    assert!(report(&checked).is_empty(), "{}", report(&checked));
}

#[test]
fn several_files_merge_into_one_graph() {
    let checked = parse_files(&[fixture("blog.graphql"), fixture("second.graphql")]);
    let catalog = checked
        .catalog
        .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    let query = catalog.object("Query").unwrap();
    assert!(query.fields.contains_key("users") && query.fields.contains_key("posts"));
    let user = catalog.object("User").unwrap();
    assert_eq!(
        user.fields.keys().collect::<Vec<_>>(),
        ["id", "name", "email"]
    );
}

#[test]
fn conflicting_files_are_diagnostics_not_a_merge() {
    let checked = parse_files(&[fixture("blog.graphql"), fixture("conflict.graphql")]);
    assert!(checked.catalog.is_none());
    insta::assert_snapshot!("conflict_diagnostics", report(&checked));
}

#[test]
fn every_problem_in_a_broken_schema_is_reported_with_a_code_and_a_coordinate() {
    let checked = parse_files(&[fixture("broken.graphql")]);
    assert!(checked.catalog.is_none());
    insta::assert_snapshot!("broken_diagnostics", report(&checked));
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let checked = parse_files(&[fixture("syntax.graphql")]);
    insta::assert_snapshot!("syntax_diagnostics", report(&checked));
}

#[test]
fn diagnostics_serialize_to_json_for_tools() {
    let checked = parse_files(&[fixture("syntax.graphql")]);
    let json = serde_json::to_value(&checked.diagnostics).unwrap();
    assert_eq!(json[0]["code"], "SDL_SYNTAX");
    assert_eq!(json[0]["severity"], "error");
    assert_eq!(json[0]["file"], "syntax.graphql");
}

#[test]
fn the_directive_definitions_are_valid_sdl() {
    async_graphql_parser::parse_schema(schema_gen::directives::DIRECTIVES_SDL).unwrap();
}

#[test]
fn the_readme_documents_the_directive_vocabulary_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(
        readme.contains(schema_gen::directives::DIRECTIVES_SDL),
        "README.md's directive block differs from schema-gen/src/directives.rs: copy DIRECTIVES_SDL into it"
    );
}
