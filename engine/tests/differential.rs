//! Differential tests: every operation runs through the plan executor and through
//! async-graphql's executor (the same gateway with the plan executor off) over the same
//! schema and the same real upstream, and the JSON responses must be byte-identical.
//!
//! Where async-graphql departs from the GraphQL spec — it omits a field whose resolver
//! failed instead of writing null, and never propagates a null to a nullable ancestor — the
//! errors must still be identical and the plan executor's data is checked against the spec.

mod common_plan;

use common_plan::{gateway, run, upstream};
use serde_json::{Value, json};

/// Runs `query` through both executors and returns (plan, oracle) bodies.
async fn both(query: &str, variables: Value) -> (String, String) {
    let (base, _hits) = upstream().await;
    let plan = gateway(&base, Some(Default::default()));
    let oracle = gateway(&base, None);
    let a = run(&plan, query, variables.clone()).await;
    let b = run(&oracle, query, variables).await;
    (a, b)
}

/// Same JSON, fields in any order: async-graphql writes the fields of one object in the
/// order their resolvers finish, so two upstream-backed siblings may swap places.
async fn equivalent(query: &str, variables: Value) -> Value {
    let (plan, oracle) = both(query, variables).await;
    let (a, b): (Value, Value) = (
        serde_json::from_str(&plan).unwrap(),
        serde_json::from_str(&oracle).unwrap(),
    );
    assert_eq!(a, b, "plan executor vs async-graphql for {query}");
    a
}

async fn identical(query: &str, variables: Value) -> Value {
    let (plan, oracle) = both(query, variables).await;
    assert_eq!(plan, oracle, "plan executor vs async-graphql for {query}");
    serde_json::from_str(&plan).unwrap()
}

#[tokio::test]
async fn plain_fields_and_links_match_byte_for_byte() {
    let out = identical(
        "{ posts { id title userId author { id name email } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        out["data"]["posts"][1]["author"],
        json!({"id": 2, "name": "user 2", "email": null})
    );
}

/// The plan executor decodes only the properties an operation reads (engine/src/projection.rs):
/// a link's parent key that is not selected, a renamed field, and one link selected twice
/// with different fields must all still answer exactly like the full decode.
#[tokio::test]
async fn projected_decoding_keeps_what_links_renames_and_aliases_need() {
    let out = identical(
        "{ posts { headline author { name } again: author { email id } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        out["data"]["posts"][1],
        json!({"headline": "second", "author": {"name": "user 2"}, "again": {"email": null, "id": 2}})
    );
}

#[tokio::test]
async fn batched_links_answer_like_one_call_per_parent() {
    let out = identical("{ posts { id user { id name } } }", json!({})).await;
    assert_eq!(
        out["data"]["posts"][3]["user"],
        json!({"id": 3, "name": "user 3"})
    );
}

#[tokio::test]
async fn fragments_inline_fragments_and_aliases_match() {
    equivalent(
        "query Q { first: post(id: 1) { ...P a: title } second: post(id: 2) { ... on Post { id headline } } }
         fragment P on Post { id headline user { ...U } }
         fragment U on User { name n2: name }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn variables_with_defaults_and_skip_include_match() {
    let query = "query Q($id: Int!, $withUser: Boolean = true, $noTitle: Boolean!) {
        post(id: $id) { id title @skip(if: $noTitle) user @include(if: $withUser) { name } }
    }";
    identical(query, json!({"id": 3, "noTitle": true, "withUser": true})).await;
    identical(query, json!({"id": 2, "noTitle": false, "withUser": false})).await;
}

/// Variable values are accepted against their declared types without validating the
/// document again (engine/src/plan/variables.rs); whatever that check does not accept is
/// validated in full. Either way the answer must be async-graphql's, valid or not, also when
/// one gateway sees the same document with good and bad values one after another.
#[tokio::test]
async fn variable_values_valid_or_not_answer_like_async_graphql() {
    let (base, _hits) = upstream().await;
    let (plan, oracle) = (
        gateway(&base, Some(Default::default())),
        gateway(&base, None),
    );
    let by_id = "query ($id: Int!) { post(id: $id) { id title } }";
    let defaulted = "query ($id: Int = 1) { post(id: $id) { id } }";
    let pets = "query ($s: Status!) { pets(status: $s) { name } }";
    let search =
        "query ($t: String) { search(term: $t) { ... on Post { id } ... on User { name } } }";
    let nullable_at_non_null = "query ($id: Int) { post(id: $id) { id } }";
    let cases = [
        (by_id, json!({"id": 2}), true),
        (by_id, json!({"id": "2"}), false),
        (by_id, json!({"id": null}), false),
        (by_id, json!({"id": 1.5}), false),
        (by_id, json!({"id": 4}), true),
        (defaulted, json!({"id": 3}), true),
        (defaulted, json!({"id": null}), false),
        (pets, json!({"s": "SOLD"}), true),
        (pets, json!({"s": "NOPE"}), false),
        (pets, json!({"s": "AVAILABLE"}), true),
        // An explicit null where every use takes one; then a nullable variable at a
        // non-null argument, which async-graphql runs with a value and refuses with null.
        (search, json!({"t": "first"}), true),
        (search, json!({"t": null}), true),
        (nullable_at_non_null, json!({"id": null}), false),
        (nullable_at_non_null, json!({"id": 1}), true),
    ];
    for (query, variables, valid) in cases {
        let a = run(&plan, query, variables.clone()).await;
        let b = run(&oracle, query, variables.clone()).await;
        assert_eq!(
            a, b,
            "plan executor vs async-graphql for {query} with {variables}"
        );
        let out: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(out.get("errors").is_none(), valid, "{variables}: {out}");
    }
}

#[tokio::test]
async fn typename_on_objects_unions_and_the_root_matches() {
    identical(
        "{ __typename search(term: \"hi\") { __typename ... on Post { id title user { name } } ... on User { id name } } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn enums_map_both_ways() {
    let out = equivalent(
        "{ pets(status: SOLD) { name status } defaulted: pets { name status } }",
        json!({}),
    )
    .await;
    assert_eq!(
        out["data"]["pets"][0],
        json!({"name": "rex sold-out", "status": "AVAILABLE"})
    );
    assert_eq!(out["data"]["pets"][1]["status"], json!("SOLD"));
    identical(
        "query ($s: Status!) { pets(status: $s) { name } }",
        json!({"s": "SOLD"}),
    )
    .await;
}

#[tokio::test]
async fn lists_of_lists_match() {
    let out = identical("{ matrix }", json!({})).await;
    assert_eq!(out["data"]["matrix"], json!([[1, 2], [], [3, null]]));
}

#[tokio::test]
async fn nested_links_below_links_match() {
    identical(
        "{ post(id: 1) { user { name posts { id user { id } } } } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn validation_errors_match() {
    identical("{ posts { nope } }", json!({})).await;
    identical("query ($id: Int!) { post(id: $id) { id } }", json!({})).await;
    identical("{ posts { id ", json!({})).await;
}

#[tokio::test]
async fn introspection_alone_matches_byte_for_byte() {
    identical(
        "{ __schema { queryType { name } } __type(name: \"Post\") { name } }",
        json!({}),
    )
    .await;
}

/// Introspection next to data runs on the plan executor too (async-graphql answers only the
/// introspection fields, from a document of their own): with aliases, variables, `@include`,
/// fragments at the root and below, and a variable only a data field reads (the
/// introspection document must leave it out to be valid). The order of the answer shows
/// which executor ran: the plan executor writes fields in document order, async-graphql in
/// the order their resolvers finish (introspection first).
#[tokio::test]
async fn introspection_mixed_with_data_runs_on_the_plan_executor() {
    let query = r#"
        query Q($t: String!, $with: Boolean!, $post: Int!) {
          failing { id }
          posts { id author { name } }
          post(id: $post) { title }
          a: __type(name: $t) { name kind fields { name } }
          ...Root
          __schema @include(if: $with) { queryType { name } }
          skipped: __schema @include(if: false) { queryType { name } }
        }
        fragment Root on Query { __typename b: __type(name: "User") { ...TypeName } }
        fragment TypeName on __Type { name fields @include(if: $with) { name } }
    "#;
    let variables = json!({"t": "Post", "with": true, "post": 2});
    let (plan, oracle) = both(query, variables).await;
    assert_eq!(errors(&plan), errors(&oracle));
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let oracle: Value = serde_json::from_str(&oracle).unwrap();
    assert_eq!(plan["data"], oracle["data"]);
    assert_eq!(plan["data"]["a"]["name"], json!("Post"));
    assert_eq!(plan["data"]["b"]["fields"][0]["name"], json!("id"));
    assert_eq!(
        plan["data"]["__schema"]["queryType"]["name"],
        json!("Query")
    );
    let keys = |answer: &Value| -> Vec<String> {
        answer["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let in_document_order = [
        "failing",
        "posts",
        "post",
        "a",
        "__typename",
        "b",
        "__schema",
    ];
    assert_eq!(keys(&plan), in_document_order);
    assert_ne!(
        keys(&oracle),
        in_document_order,
        "async-graphql's order differs"
    );
}

/// The errors of a body, parsed.
fn errors(body: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap()["errors"].clone()
}

/// The errors without `path`: async-graphql drops the path of an error on a non-null field
/// (the spec and the plan executor keep it).
fn errors_without_paths(body: &str) -> Value {
    let mut errors = errors(body);
    for e in errors.as_array_mut().into_iter().flatten() {
        e.as_object_mut().unwrap().remove("path");
    }
    errors
}

#[tokio::test]
async fn upstream_errors_carry_the_same_path_and_extensions() {
    let (plan, oracle) = both("{ failing { id } posts { id } }", json!({})).await;
    assert_eq!(errors(&plan), errors(&oracle));
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(
        plan["data"]["failing"],
        Value::Null,
        "the spec writes null for a failed nullable field"
    );
    assert_eq!(
        plan["errors"][0]["extensions"]["code"],
        json!("UPSTREAM_HTTP_STATUS")
    );
    assert_eq!(plan["errors"][0]["path"], json!(["failing"]));
}

#[tokio::test]
async fn link_errors_carry_list_indexes_in_their_paths() {
    let (plan, oracle) = both("{ orphans { id author { name } } }", json!({})).await;
    assert_eq!(errors(&plan), errors(&oracle));
    assert_eq!(errors(&plan)[0]["path"], json!(["orphans", 1, "author"]));
}

#[tokio::test]
async fn a_null_in_a_non_null_field_nulls_the_nearest_nullable_ancestor() {
    let (plan, oracle) = both("{ strictPosts { id title } }", json!({})).await;
    assert_eq!(errors_without_paths(&plan), errors_without_paths(&oracle));
    assert_eq!(errors(&plan)[0]["path"], json!(["strictPosts", 1, "title"]));
    let data: Value = serde_json::from_str::<Value>(&plan).unwrap()["data"].clone();
    assert_eq!(
        data,
        json!({"strictPosts": [{"id": 1, "title": "ok"}, null, null]})
    );

    // `[StrictPost!]`: a null item nulls the whole list.
    let (plan, oracle) = both("{ strictList { id title } posts { id } }", json!({})).await;
    assert_eq!(errors_without_paths(&plan), errors_without_paths(&oracle));
    let data: Value = serde_json::from_str::<Value>(&plan).unwrap()["data"].clone();
    assert_eq!(data["strictList"], Value::Null);
    assert_eq!(data["posts"][0], json!({"id": 1}));
}

#[tokio::test]
async fn mutations_match() {
    let (base, _hits) = upstream().await;
    let plan = gateway(&base, Some(Default::default()));
    let a = run(&plan, "mutation { bump { n } }", json!({})).await;
    let oracle = gateway(&base, None);
    let b = run(&oracle, "mutation { bump { n } }", json!({})).await;
    assert_eq!(a.replace("\"n\":1", "N"), b.replace("\"n\":2", "N"));
}
