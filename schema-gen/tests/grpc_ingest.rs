//! gRPC ingest on the shared test protos (`tests/grpc/protos`): generated SDL snapshots,
//! the Query/Mutation rule, naming across packages and bad descriptor sets.

use prost_reflect::prost::Message;
use schema_gen::Code;
use schema_gen::catalog::{Call, OperationKind};
use schema_gen::ingest::grpc::{GrpcOptions, ingest, ingest_descriptor_set};

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/grpc/protos");

fn compiler() -> protox::Compiler {
    let mut compiler = protox::Compiler::new([PROTOS]).unwrap();
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file("kitchen.proto").unwrap();
    compiler
}

fn options() -> GrpcOptions {
    GrpcOptions::new("kitchen", "http://127.0.0.1:50051")
}

#[test]
fn the_kitchen_sink_proto_generates_the_expected_sdl() {
    let ingested = ingest(&compiler().descriptor_pool(), &options());
    let catalog = ingested.catalog.expect("a catalog");
    insta::assert_snapshot!(schema_gen::emit::sdl(&catalog));
    insta::assert_yaml_snapshot!("kitchen_diagnostics", ingested.diagnostics);
}

#[test]
fn the_generated_sdl_parses_back_into_an_equal_catalog() {
    let ingested = ingest(&compiler().descriptor_pool(), &options());
    let catalog = ingested.catalog.expect("a catalog");
    let sdl = schema_gen::emit::sdl(&catalog);
    let checked =
        schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new("kitchen.graphql", &sdl)]);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{sdl}");
    assert_eq!(
        schema_gen::emit::sdl(&checked.catalog.expect("parsed")),
        sdl
    );
}

#[test]
fn reads_are_queries_writes_are_mutations_and_server_streams_are_subscriptions() {
    let catalog = ingest(&compiler().descriptor_pool(), &options())
        .catalog
        .unwrap();
    let method = |kind: OperationKind, field: &str| -> String {
        let root = catalog
            .root(kind)
            .unwrap_or_else(|| panic!("no {kind:?} root"));
        match &root.fields[field].resolver.as_ref().unwrap().call {
            Call::Grpc(call) => call.method.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        method(OperationKind::Query, "listPets"),
        "graft.test.v1.Kitchen/ListPets"
    );
    // NO_SIDE_EFFECTS makes a query of a name without a read verb.
    assert_eq!(
        method(OperationKind::Query, "echo"),
        "graft.test.v1.Kitchen/Echo"
    );
    assert_eq!(
        method(OperationKind::Mutation, "createPet"),
        "graft.test.v1.Kitchen/CreatePet"
    );
    assert_eq!(
        method(OperationKind::Subscription, "watchPets"),
        "graft.test.v1.Kitchen/WatchPets"
    );
    // GetPet exists in two services: both are qualified by their service.
    assert_eq!(
        method(OperationKind::Query, "kitchenGetPet"),
        "graft.test.v1.Kitchen/GetPet"
    );
    assert_eq!(
        method(OperationKind::Query, "shelterGetPet"),
        "graft.test.v1.Shelter/GetPet"
    );
}

#[test]
fn client_streaming_and_bidi_methods_are_skipped_with_a_warning() {
    let ingested = ingest(&compiler().descriptor_pool(), &options());
    let skipped: Vec<_> = ingested
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::OperationSkipped)
        .map(|d| d.at.as_str())
        .collect();
    assert_eq!(
        skipped,
        ["graft.test.v1.Kitchen/Upload", "graft.test.v1.Kitchen/Chat"]
    );
}

#[test]
fn a_descriptor_set_file_ingests_like_a_pool() {
    let bytes = compiler().encode_file_descriptor_set();
    let from_bytes = ingest_descriptor_set(&bytes, &options());
    let from_pool = ingest(&compiler().descriptor_pool(), &options());
    assert_eq!(from_bytes.catalog, from_pool.catalog);
}

#[test]
fn a_descriptor_set_missing_a_dependency_is_a_diagnostic_not_a_panic() {
    let mut set = compiler().file_descriptor_set();
    set.file.retain(|f| f.name() != "other.proto");
    let ingested = ingest_descriptor_set(&set.encode_to_vec(), &options());
    assert!(ingested.catalog.is_none());
    assert_eq!(ingested.diagnostics.len(), 1);
    assert_eq!(ingested.diagnostics[0].code, Code::DescriptorInvalid);
    assert!(
        ingested.diagnostics[0].message.contains("other.proto"),
        "{}",
        ingested.diagnostics[0].message
    );
}

#[test]
fn garbage_bytes_are_a_diagnostic() {
    let ingested = ingest_descriptor_set(&[0xff, 0xff, 0xff], &options());
    assert!(ingested.catalog.is_none());
    assert_eq!(ingested.diagnostics[0].code, Code::DescriptorInvalid);
}

#[test]
fn a_pool_without_services_has_nothing_usable() {
    let mut compiler = protox::Compiler::new([PROTOS]).unwrap();
    compiler.open_file("other.proto").unwrap();
    let ingested = ingest(&compiler.descriptor_pool(), &options());
    assert!(ingested.catalog.is_none());
    assert_eq!(ingested.diagnostics[0].code, Code::NothingUsable);
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grpc");

#[test]
fn edge_cases_make_valid_sdl_that_parses_back() {
    let mut compiler = protox::Compiler::new([FIXTURES]).unwrap();
    compiler.include_source_info(true);
    compiler.open_file("edge.proto").unwrap();
    let ingested = ingest(&compiler.descriptor_pool(), &options());
    let sdl = schema_gen::emit::sdl(&ingested.catalog.expect("a catalog"));
    insta::assert_snapshot!(sdl);
    let checked =
        schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new("edge.graphql", &sdl)]);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{sdl}");
}
