//! The committed GraphQLSchema CRD is the one generated from the Rust types, and the example
//! resource in `k8s/examples` is one graft reads.

use std::path::Path;

use graft::discovery::crd::{GraphQLSchema, crd_yaml};

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn the_committed_crd_matches_the_one_generated_from_the_rust_types() {
    let generated = crd_yaml().expect("the CRD serializes");
    let committed = repo_file("k8s/base/crd-graphqlschema.yaml");
    assert!(
        committed == generated,
        "k8s/base/crd-graphqlschema.yaml is out of date; regenerate it with\n  cargo run -p graft -- crd > k8s/base/crd-graphqlschema.yaml\n--- generated ---\n{generated}"
    );
}

#[test]
fn the_example_graphql_schema_resource_is_read_by_graft() {
    let text = repo_file("k8s/examples/graphqlschema.yaml");
    let resource: GraphQLSchema =
        serde_norway::from_str(&text).expect("the example is a GraphQLSchema");
    assert!(
        resource.spec.sdl.contains("CatalogProduct"),
        "{}",
        resource.spec.sdl
    );
    assert_eq!(resource.metadata.namespace.as_deref(), Some("shop"));
}
