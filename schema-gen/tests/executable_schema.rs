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

const BATCHED_LINKS: &str = r#"
schema
  @source(name: "pets", grpc: {endpoint: "http://127.0.0.1:50051"})
  @source(name: "fns", lambda: {region: "us-east-1"}) { query: Query }

type Query {
  owners: [Owner] @lambda(source: "fns", function: "list-owners")
}

type Owner {
  id: ID
  petId: Int64
  pet: Pet @grpc(source: "pets", method: "graft.test.v1.Kitchen/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "graft.test.v1.Kitchen/BatchGetPets", keys: "ids", items: "pets", key: "id", maxSize: 3})
  profile: Profile @lambda(source: "fns", function: "get-profile", payload: "{{parent.id}}", batch: {key: "ownerId"})
  account: Profile @lambda(source: "fns", function: "get-profile", payload: "{\"id\": \"{{parent.id}}\"}", batch: {function: "get-profiles", keys: "ids", items: "profiles", key: "ownerId", maxSize: 25})
}

type Pet { id: Int64 name: String }

type Profile { ownerId: ID bio: String }
"#;

#[test]
fn grpc_and_lambda_batches_parse_and_emit_back_unchanged() {
    use schema_gen::catalog::{Call, GrpcBatch, LambdaBatch};
    let checked = parse_files(&[SdlFile::new("batched.graphql", BATCHED_LINKS)]);
    assert!(report(&checked).is_empty(), "{}", report(&checked));
    let catalog = checked.catalog.unwrap();
    let owner = catalog.object("Owner").unwrap();
    let call = |name: &str| owner.fields[name].resolver.as_ref().unwrap().call.clone();
    let Call::Grpc(pet) = call("pet") else {
        panic!("pet is a gRPC call")
    };
    assert_eq!(
        pet.batch,
        Some(GrpcBatch {
            method: "graft.test.v1.Kitchen/BatchGetPets".into(),
            keys: "ids".into(),
            items: "pets".into(),
            key: "id".into(),
            max_size: 3,
        })
    );
    let Call::Lambda(profile) = call("profile") else {
        panic!("profile is a Lambda call")
    };
    assert_eq!(
        profile.batch,
        Some(LambdaBatch {
            function: None,
            keys: None,
            items: None,
            key: "ownerId".into(),
            max_size: 100,
        }),
        "optional fields stay unset and maxSize defaults to 100"
    );
    assert_eq!(call("profile").parent_key(), Some(&["id".to_string()][..]));
    assert_eq!(call("pet").parent_key(), Some(&["petId".to_string()][..]));

    let emitted = schema_gen::emit::sdl(&catalog);
    assert!(
        emitted.contains(r#"batch: {method: "graft.test.v1.Kitchen/BatchGetPets", keys: "ids", items: "pets", key: "id", maxSize: 3}"#),
        "{emitted}"
    );
    assert!(
        emitted.contains(r#"batch: {function: "get-profiles", keys: "ids", items: "profiles", key: "ownerId", maxSize: 25}"#),
        "{emitted}"
    );
    let again = parse_files(&[SdlFile::new("emitted.graphql", emitted)]);
    assert_eq!(again.catalog.as_ref(), Some(&catalog), "{}", report(&again));
}

#[test]
fn bad_grpc_and_lambda_batches_are_diagnostics_with_coordinates() {
    let sdl = r#"
schema
  @source(name: "pets", grpc: {endpoint: "http://127.0.0.1:50051"})
  @source(name: "fns", lambda: {region: "us-east-1"}) { query: Query }

type Query {
  pet(id: Int64): Pet @grpc(source: "pets", method: "p.S/GetPet", batch: {method: "p.S/BatchGetPets", keys: "ids", items: "pets", key: "id"})
  owners: [Owner] @lambda(source: "fns", function: "list-owners")
}

type Owner {
  id: ID
  petId: Int64
  zero: Pet @grpc(source: "pets", method: "p.S/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "p.S/BatchGetPets", keys: "ids", items: "pets", key: "id", maxSize: 0})
  badMethod: Pet @grpc(source: "pets", method: "p.S/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "BatchGetPets", keys: "ids", items: "pets", key: "id"})
  noItems: Pet @grpc(source: "pets", method: "p.S/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "p.S/BatchGetPets", keys: "ids", key: "id"})
  noKey: Pet @lambda(source: "fns", function: "get-pet", payload: "{{parent.petId}}", batch: {keys: "ids"})
  unknown: Pet @lambda(source: "fns", function: "get-pet", payload: "{{parent.petId}}", batch: {key: "id", list: "x"})
  unkeyed: Pet @lambda(source: "fns", function: "get-pet", batch: {key: "id"})
}

type Pet { id: Int64 name: String }
"#;
    let checked = parse_files(&[SdlFile::new("bad.graphql", sdl)]);
    assert!(checked.catalog.is_none());
    let found = |code: &str, at: &str, words: &str| {
        checked.diagnostics.iter().any(|d| {
            d.is_error() && d.code.as_str() == code && d.at == at && d.message.contains(words)
        })
    };
    let report = report(&checked);
    for (code, at, words) in [
        (
            "INVALID_ARGUMENT",
            "Query.pet @grpc(batch)",
            "batching needs a parent",
        ),
        (
            "INVALID_ARGUMENT",
            "Owner.zero @grpc(batch.maxSize)",
            "positive integer",
        ),
        (
            "INVALID_ARGUMENT",
            "Owner.badMethod @grpc(batch.method)",
            "package.Service/Method",
        ),
        ("MISSING_ARGUMENT", "Owner.noItems @grpc(batch)", "items"),
        ("MISSING_ARGUMENT", "Owner.noKey @lambda(batch)", "key"),
        (
            "UNKNOWN_ARGUMENT",
            "Owner.unknown @lambda(batch)",
            "LambdaBatch has no field `list`",
        ),
        (
            "INVALID_ARGUMENT",
            "Owner.unkeyed @lambda(batch)",
            "the payload must read",
        ),
    ] {
        assert!(
            found(code, at, words),
            "no {code} at {at} ({words}) in:\n{report}"
        );
    }
}

#[test]
fn http_cache_on_a_lambda_source_is_refused_rather_than_ignored() {
    let sdl = r#"
schema
  @source(name: "fns", lambda: {region: "us-east-1"}, httpCache: true)
  @source(name: "api", rest: {baseUrl: "http://127.0.0.1:9"}, httpCache: true) { query: Query }

type Query {
  owners: [String] @lambda(source: "fns", function: "list-owners")
  pets: [String] @rest(source: "api", path: "/pets")
}
"#;
    let checked = parse_files(&[SdlFile::new("cache.graphql", sdl)]);
    assert!(checked.catalog.is_none());
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors.len(), 1, "{}", report(&checked));
    assert_eq!(errors[0].code.as_str(), "INVALID_ARGUMENT");
    assert_eq!(errors[0].at, "schema @source(name: \"fns\")");
    assert!(
        errors[0].message.contains("cacheTtl"),
        "{}",
        errors[0].message
    );
}

#[test]
fn rest_batches_by_query_or_by_body_parse_and_emit_back_unchanged() {
    use schema_gen::catalog::{Call, HttpMethod};
    let sdl = r#"
schema @source(name: "api", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query }
type Query { posts: [Post] @rest(source: "api", path: "/posts") }
type Post {
  userId: Int
  user: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", query: "id", key: "id"})
  poster: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.users", key: "id", maxSize: 20})
  plain: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users/many", method: PUT, key: "id"})
}
type User { id: Int }
"#;
    let checked = parse_files(&[SdlFile::new("rest.graphql", sdl)]);
    assert!(report(&checked).is_empty(), "{}", report(&checked));
    let catalog = checked.catalog.unwrap();
    let batch = |name: &str| match &catalog.object("Post").unwrap().fields[name]
        .resolver
        .as_ref()
        .unwrap()
        .call
    {
        Call::Rest(rest) => rest.batch.clone().unwrap(),
        _ => panic!("{name} is a REST call"),
    };
    let (user, poster, plain) = (batch("user"), batch("poster"), batch("plain"));
    assert_eq!(
        (user.method, user.query.as_deref()),
        (HttpMethod::Get, Some("id"))
    );
    assert_eq!(
        (
            poster.method,
            poster.keys.as_deref(),
            poster.items.as_deref()
        ),
        (HttpMethod::Post, Some("ids"), Some("data.users"))
    );
    assert_eq!(
        (plain.method, plain.keys, plain.items),
        (HttpMethod::Put, None, None)
    );
    let emitted = schema_gen::emit::sdl(&catalog);
    for expected in [
        r#"batch: {path: "/users", query: "id", key: "id", maxSize: 100}"#,
        r#"batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.users", key: "id", maxSize: 20}"#,
        r#"batch: {path: "/users/many", method: PUT, key: "id", maxSize: 100}"#,
    ] {
        assert!(emitted.contains(expected), "{expected} not in:\n{emitted}");
    }
    let again = parse_files(&[SdlFile::new("emitted.graphql", emitted)]);
    assert_eq!(again.catalog.as_ref(), Some(&catalog), "{}", report(&again));
}

#[test]
fn rest_batches_that_mix_query_and_body_are_diagnostics() {
    let sdl = r#"
schema @source(name: "api", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query }
type Query { posts: [Post] @rest(source: "api", path: "/posts") }
type Post {
  userId: Int
  noQuery: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", key: "id"})
  getKeys: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", query: "id", keys: "ids", key: "id"})
  postQuery: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", method: POST, query: "id", key: "id"})
  deleting: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", method: DELETE, key: "id"})
  badItems: User @rest(source: "api", path: "/users/{{parent.userId}}", batch: {path: "/users", method: POST, items: "data..users", key: "id"})
}
type User { id: Int }
"#;
    let checked = parse_files(&[SdlFile::new("bad.graphql", sdl)]);
    assert!(checked.catalog.is_none());
    let report = report(&checked);
    for (code, at, words) in [
        (
            "MISSING_ARGUMENT",
            "Post.noQuery @rest(batch)",
            "a GET batch needs query",
        ),
        (
            "INVALID_ARGUMENT",
            "Post.getKeys @rest(batch.keys)",
            "GET batch sends its keys in query",
        ),
        (
            "INVALID_ARGUMENT",
            "Post.postQuery @rest(batch.query)",
            "query is for GET batches",
        ),
        (
            "INVALID_ARGUMENT",
            "Post.deleting @rest(batch.method)",
            "POST, PUT or PATCH",
        ),
        (
            "INVALID_ARGUMENT",
            "Post.badItems @rest(batch.items)",
            "not a property path",
        ),
    ] {
        let found = checked.diagnostics.iter().any(|d| {
            d.is_error() && d.code.as_str() == code && d.at == at && d.message.contains(words)
        });
        assert!(found, "no {code} at {at} ({words}) in:\n{report}");
    }
}

#[test]
fn form_encoded_bodies_parse_and_emit_back_unchanged() {
    use schema_gen::catalog::{BodyEncoding, Call, OperationKind};
    let sdl = r#"
schema @source(name: "api", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query mutation: Mutation }
type Query { ping: String @rest(source: "api", path: "/ping") }
type Mutation {
  charge(input: ChargeInput!): JSON @rest(source: "api", method: POST, path: "/charges", body: "{{args.input}}", encoding: FORM)
  note(input: ChargeInput!): JSON @rest(source: "api", method: POST, path: "/notes", body: "{{args.input}}", encoding: JSON)
  deep(input: ChargeInput!): JSON @rest(source: "api", method: POST, path: "/deep", body: "{{args.input}}", encoding: FORM_BRACKETS)
}
input ChargeInput { amount: Int! }
"#;
    let checked = parse_files(&[SdlFile::new("form.graphql", sdl)]);
    assert!(report(&checked).is_empty(), "{}", report(&checked));
    let catalog = checked.catalog.unwrap();
    let encoding = |name: &str| match &catalog.root(OperationKind::Mutation).unwrap().fields[name]
        .resolver
        .as_ref()
        .unwrap()
        .call
    {
        Call::Rest(rest) => rest.encoding,
        _ => panic!("{name} is a REST call"),
    };
    assert_eq!(encoding("charge"), BodyEncoding::Form);
    assert_eq!(encoding("note"), BodyEncoding::Json);
    assert_eq!(encoding("deep"), BodyEncoding::FormBrackets);
    let emitted = schema_gen::emit::sdl(&catalog);
    assert!(
        emitted.contains(r#"body: "{{args.input}}", encoding: FORM)"#),
        "{emitted}"
    );
    assert!(
        emitted.contains(r#"body: "{{args.input}}", encoding: FORM_BRACKETS)"#),
        "{emitted}"
    );
    // JSON is the default and is not written out.
    assert_eq!(emitted.matches("encoding:").count(), 2, "{emitted}");
    let again = parse_files(&[SdlFile::new("emitted.graphql", emitted)]);
    assert_eq!(again.catalog.as_ref(), Some(&catalog), "{}", report(&again));
}

#[test]
fn form_encodings_without_an_object_to_encode_are_diagnostics() {
    let sdl = r#"
schema @source(name: "api", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query mutation: Mutation }
type Query { ping: String @rest(source: "api", path: "/ping") }
type Mutation {
  text(amount: Int!): JSON @rest(source: "api", method: POST, path: "/c", body: "amount={{args.amount}}", encoding: FORM)
  none: JSON @rest(source: "api", method: POST, path: "/c", encoding: FORM)
  xml(amount: Int!): JSON @rest(source: "api", method: POST, path: "/c", body: "{{args.amount}}", encoding: XML)
}
"#;
    let checked = parse_files(&[SdlFile::new("bad.graphql", sdl)]);
    assert!(checked.catalog.is_none());
    let report = report(&checked);
    for (at, words) in [
        (
            "Mutation.text @rest(encoding)",
            "a form body must be exactly one {{...}} naming an object",
        ),
        (
            "Mutation.none @rest(encoding)",
            "a form body must be exactly one {{...}} naming an object",
        ),
        (
            "Mutation.xml @rest(encoding)",
            "`XML` is not a body encoding (JSON, FORM or FORM_BRACKETS)",
        ),
    ] {
        let found = checked.diagnostics.iter().any(|d| {
            d.is_error()
                && d.code.as_str() == "INVALID_ARGUMENT"
                && d.at == at
                && d.message.contains(words)
        });
        assert!(found, "no INVALID_ARGUMENT at {at} ({words}) in:\n{report}");
    }
}
