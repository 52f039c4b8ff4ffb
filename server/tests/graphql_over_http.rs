//! GraphQL over HTTP, rule by rule, against graft serving a real upstream over real sockets.

mod common;

use common::{Answer, GQL, JSON, client, post, sha256_hex, start};
use graft::config::Config;
use serde_json::json;

#[tokio::test]
async fn a_post_query_is_answered_with_data_in_graphql_response_json() {
    let graft = start(Config::default()).await;
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ user(id: 1) { name } }" }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.content_type.starts_with(GQL),
        "{}",
        answer.content_type
    );
    assert_eq!(
        answer.body,
        json!({ "data": { "user": { "name": "Ada Lovelace" } } })
    );
}

#[tokio::test]
async fn a_missing_accept_header_gets_graphql_response_json() {
    let graft = start(Config::default()).await;
    let answer = post(&graft, None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with(GQL),
        "{}",
        answer.content_type
    );
}

#[tokio::test]
async fn accept_star_star_gets_graphql_response_json() {
    let graft = start(Config::default()).await;
    let answer = post(&graft, Some("*/*"), json!({ "query": "{ __typename }" })).await;
    assert!(
        answer.content_type.starts_with(GQL),
        "{}",
        answer.content_type
    );
}

#[tokio::test]
async fn accept_application_json_gets_application_json() {
    let graft = start(Config::default()).await;
    let answer = post(&graft, Some(JSON), json!({ "query": "{ __typename }" })).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with(JSON),
        "{}",
        answer.content_type
    );
    assert_eq!(answer.body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn an_accept_header_with_no_supported_type_gets_406() {
    let graft = start(Config::default()).await;
    let answer = post(
        &graft,
        Some("text/plain, image/png"),
        json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(answer.status, 406);
    assert_eq!(answer.code(), "NOT_ACCEPTABLE");
    assert!(!answer.has_data());
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_400_without_data_under_both_media_types() {
    let graft = start(Config::default()).await;
    for accept in [GQL, JSON] {
        for body in [
            "{\"query\": ",
            "not json",
            "[1,2]",
            "\"{ __typename }\"",
            "",
        ] {
            let response = client()
                .post(graft.graphql())
                .header("content-type", "application/json")
                .header("accept", accept)
                .body(body)
                .send()
                .await
                .unwrap();
            let answer = Answer::from(response).await;
            assert_eq!(answer.status, 400, "{accept} {body:?}: {}", answer.text);
            assert_eq!(answer.code(), "BAD_REQUEST");
            assert!(!answer.has_data(), "{}", answer.text);
            assert!(answer.content_type.starts_with(accept));
        }
    }
}

#[tokio::test]
async fn ill_typed_request_parameters_get_400() {
    let graft = start(Config::default()).await;
    for body in [
        json!({}),
        json!({ "query": null }),
        json!({ "query": 42 }),
        json!({ "query": "{ __typename }", "variables": "x" }),
        json!({ "query": "{ __typename }", "variables": [1] }),
        json!({ "query": "{ __typename }", "operationName": 3 }),
        json!({ "query": "{ __typename }", "extensions": "x" }),
    ] {
        let answer = post(&graft, Some(GQL), body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert_eq!(answer.code(), "BAD_REQUEST", "{body}");
        assert!(!answer.has_data());
    }
}

#[tokio::test]
async fn a_content_type_other_than_application_json_gets_415() {
    let graft = start(Config::default()).await;
    for content_type in [
        Some("text/plain"),
        Some("application/graphql"),
        Some("application/json; charset=latin1"),
        Some("???"),
        None,
    ] {
        let mut request = client()
            .post(graft.graphql())
            .header("accept", GQL)
            .body(r#"{"query":"{ __typename }"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let answer = Answer::from(request.send().await.unwrap()).await;
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_eq!(answer.code(), "UNSUPPORTED_MEDIA_TYPE");
    }
    let ok = client()
        .post(graft.graphql())
        .header("content-type", "application/json; charset=UTF-8")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_parse_error_is_400_without_data_under_graphql_response_json_and_200_under_json() {
    let graft = start(Config::default()).await;
    let strict = post(&graft, Some(GQL), json!({ "query": "{ user(id: " })).await;
    assert_eq!(strict.status, 400);
    assert_eq!(strict.code(), "GRAPHQL_PARSE_FAILED");
    assert!(!strict.has_data());
    let legacy = post(&graft, Some(JSON), json!({ "query": "{ user(id: " })).await;
    assert_eq!(legacy.status, 200);
    assert!(!legacy.has_data());
    assert!(legacy.body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn a_validation_error_is_400_without_data_under_graphql_response_json_and_200_under_json() {
    let graft = start(Config::default()).await;
    let strict = post(&graft, Some(GQL), json!({ "query": "{ nosuchfield }" })).await;
    assert_eq!(strict.status, 400, "{}", strict.text);
    assert!(!strict.has_data(), "{}", strict.text);
    assert!(!strict.body["errors"].as_array().unwrap().is_empty());
    let legacy = post(&graft, Some(JSON), json!({ "query": "{ nosuchfield }" })).await;
    assert_eq!(legacy.status, 200);
    assert!(!legacy.has_data());
}

#[tokio::test]
async fn variables_are_used_and_invalid_variable_values_are_request_errors() {
    let graft = start(Config::default()).await;
    let query = "query ($id: Int!) { user(id: $id) { name } }";
    let ok = post(
        &graft,
        Some(GQL),
        json!({ "query": query, "variables": { "id": 2 } }),
    )
    .await;
    assert_eq!(
        ok.body["data"]["user"]["name"], "Alan Turing",
        "{}",
        ok.text
    );
    let missing = post(
        &graft,
        Some(GQL),
        json!({ "query": query, "variables": {} }),
    )
    .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(!missing.has_data());
    let wrong = post(
        &graft,
        Some(GQL),
        json!({ "query": query, "variables": { "id": { "no": 1 } } }),
    )
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(!wrong.has_data());
}

#[tokio::test]
async fn several_operations_select_by_operation_name() {
    let graft = start(Config::default()).await;
    let document = "query A { user(id: 1) { name } } query B { user(id: 3) { name } }";
    let b = post(
        &graft,
        Some(GQL),
        json!({ "query": document, "operationName": "B" }),
    )
    .await;
    assert_eq!(b.body["data"]["user"]["name"], "Grace Hopper", "{}", b.text);
    let unknown = post(
        &graft,
        Some(GQL),
        json!({ "query": document, "operationName": "C" }),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.code(), "OPERATION_NOT_FOUND");
    assert!(!unknown.has_data());
    let unnamed = post(&graft, Some(GQL), json!({ "query": document })).await;
    assert_eq!(unnamed.status, 400);
    assert_eq!(unnamed.code(), "OPERATION_NAME_REQUIRED");
    let legacy = post(
        &graft,
        Some(JSON),
        json!({ "query": document, "operationName": "C" }),
    )
    .await;
    assert_eq!(legacy.status, 200);
    assert_eq!(legacy.code(), "OPERATION_NOT_FOUND");
}

#[tokio::test]
async fn extensions_are_accepted() {
    let graft = start(Config::default()).await;
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ __typename }", "extensions": { "trace": { "on": true } } }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_get_query_is_answered_from_url_parameters() {
    let graft = start(Config::default()).await;
    let response = client()
        .get(graft.graphql())
        .query(&[
            ("query", "query Q($id: Int!) { user(id: $id) { name } }"),
            ("variables", r#"{"id": 3}"#),
            ("operationName", "Q"),
            ("extensions", "{}"),
        ])
        .header("accept", GQL)
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["data"]["user"]["name"], "Grace Hopper");
}

#[tokio::test]
async fn a_get_with_unparsable_variables_gets_400() {
    let graft = start(Config::default()).await;
    let response = client()
        .get(graft.graphql())
        .query(&[("query", "{ __typename }"), ("variables", "{nope")])
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "BAD_REQUEST");
}

#[tokio::test]
async fn a_get_without_a_query_gets_400() {
    let graft = start(Config::default()).await;
    let answer = Answer::from(
        client()
            .get(graft.graphql())
            .header("accept", GQL)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "BAD_REQUEST");
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_with_405_and_allow_post() {
    let graft = start(Config::default()).await;
    let mutation = r#"mutation { createPost(input: {userId: 1, title: "t", body: "b"}) { id } }"#;
    let response = client()
        .get(graft.graphql())
        .query(&[("query", mutation)])
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await;
    assert_eq!(answer.status, 405, "{}", answer.text);
    assert_eq!(answer.headers.get("allow").unwrap(), "POST");
    assert_eq!(answer.code(), "METHOD_NOT_ALLOWED");
    // Nothing was created: the post count is unchanged.
    let posts = post(&graft, Some(GQL), json!({ "query": "{ posts { id } }" })).await;
    assert_eq!(
        posts.body["data"]["posts"].as_array().map(Vec::len),
        Some(4),
        "{}",
        posts.text
    );
}

#[tokio::test]
async fn a_mutation_over_post_runs() {
    let graft = start(Config::default()).await;
    let mutation = r#"mutation { createPost(input: {userId: 2, title: "New", body: "Text"}) { id title author { name } } }"#;
    let answer = post(&graft, Some(GQL), json!({ "query": mutation })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["data"]["createPost"]["title"], "New");
}

#[tokio::test]
async fn other_methods_get_405_with_an_allow_header() {
    let graft = start(Config::default()).await;
    let response = client()
        .put(graft.graphql())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response
        .headers()
        .get("allow")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn an_upstream_failure_is_partial_data_with_200() {
    let graft = start(Config::default()).await;
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ user(id: 99) { name } posts { id } }" }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.has_data());
    assert!(answer.body["data"]["user"].is_null());
    assert!(answer.body["data"]["posts"].is_array());
    assert!(!answer.body["errors"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn deeply_nested_documents_and_bodies_are_refused_without_a_crash() {
    let graft = start(Config::default()).await;
    let depth = 20_000;
    let query = format!("{}{}", "{ posts ".repeat(depth), "}".repeat(depth));
    let answer = post(&graft, Some(GQL), json!({ "query": query })).await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        &answer.text[..answer.text.len().min(300)]
    );
    assert!(!answer.has_data());
    let list = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let variables = format!(r#"{{"query": "{{ __typename }}", "variables": {{"v": {list}}}}}"#);
    let response = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .body(variables)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let query = format!("{{ user(id: {value}) {{ name }} }}");
    let answer = post(&graft, Some(GQL), json!({ "query": query })).await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        &answer.text[..answer.text.len().min(300)]
    );
    let after = post(&graft, Some(GQL), json!({ "query": "{ __typename }" })).await;
    assert_eq!(after.status, 200);
}

/// GET /graphql with URL parameters.
async fn get_with(graft: &common::Graft, accept: &str, params: &[(&str, String)]) -> Answer {
    let request = client()
        .get(graft.graphql())
        .header("accept", accept)
        .query(params);
    Answer::from(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_persisted_query_is_asked_for_once_then_run_by_its_hash_over_post_and_get() {
    let graft = start(Config::default()).await;
    let query = "{ user(id: 1) { name } }";
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}});
    let hashed = json!({ "extensions": extensions });

    // Unknown: answered 200 under both media types (clients then send the text).
    for accept in [GQL, JSON] {
        let answer = post(&graft, Some(accept), hashed.clone()).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(
            answer.body["errors"][0]["message"],
            "PersistedQueryNotFound"
        );
        assert!(!answer.has_data());
    }

    let full = json!({ "query": query, "extensions": extensions });
    let answer = post(&graft, Some(GQL), full).await;
    let expected = json!({ "data": { "user": { "name": "Ada Lovelace" } } });
    assert_eq!(answer.body, expected, "{}", answer.text);

    let answer = post(&graft, Some(GQL), hashed).await;
    assert_eq!(answer.body, expected, "{}", answer.text);
    let params = [("extensions", extensions.to_string())];
    let answer = get_with(&graft, GQL, &params).await;
    assert_eq!(answer.body, expected, "{}", answer.text);

    // A text that is not what the hash says is refused, and nothing is kept under it.
    let other = json!({ "query": "{ user(id: 2) { name } }", "extensions": extensions });
    let answer = post(&graft, Some(JSON), other).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.code(), "PERSISTED_QUERY_HASH_MISMATCH");
    let answer = get_with(&graft, GQL, &params).await;
    assert_eq!(answer.body, expected, "{}", answer.text);

    // A mutation known by its hash is still refused over GET.
    let mutation = r#"mutation { createPost(input: {userId: 1, title: "t", body: "b"}) { id } }"#;
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(mutation)}});
    let registered = post(
        &graft,
        Some(GQL),
        json!({ "query": mutation, "extensions": ext }),
    )
    .await;
    assert!(
        registered.body["data"]["createPost"]["id"].is_number(),
        "{}",
        registered.text
    );
    let answer = get_with(&graft, GQL, &[("extensions", ext.to_string())]).await;
    assert_eq!(answer.status, 405, "{}", answer.text);
}

#[tokio::test]
async fn with_persisted_queries_off_a_hash_alone_is_not_supported() {
    let mut config = Config::default();
    config.persisted_queries.enabled = false;
    let graft = start(config).await;
    let query = "{ user(id: 1) { name } }";
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}});
    let answer = post(&graft, Some(GQL), json!({ "extensions": extensions })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_SUPPORTED");
    let full = json!({ "query": query, "extensions": extensions });
    let answer = post(&graft, Some(GQL), full).await;
    assert_eq!(
        answer.body,
        json!({ "data": { "user": { "name": "Ada Lovelace" } } })
    );
}

#[tokio::test]
async fn with_only_listed_operations_the_manifest_is_a_safelist_over_post_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let listed = "query Ada { user(id: 1) { name } }";
    std::fs::write(
        dir.path().join("manifest.json"),
        json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{"id": "ada-1", "name": "Ada", "type": "query", "body": listed}],
        })
        .to_string(),
    )
    .unwrap();
    let yaml = format!(
        "persisted_queries:\n  manifest: {}\n  only_listed: true\n",
        dir.path().join("manifest.json").display()
    );
    // Read as `graft serve --config` reads it, manifest checked included.
    let graft = start(Config::from_yaml(&yaml).unwrap()).await;
    let expected = json!({ "data": { "user": { "name": "Ada Lovelace" } } });
    let by_id = json!({"persistedQuery": {"version": 1, "sha256Hash": "ada-1"}});
    let answer = post(&graft, Some(GQL), json!({ "extensions": by_id })).await;
    assert_eq!(answer.body, expected, "{}", answer.text);
    let answer = get_with(&graft, GQL, &[("extensions", by_id.to_string())]).await;
    assert_eq!(answer.body, expected, "{}", answer.text);
    let answer = post(&graft, Some(GQL), json!({ "query": listed })).await;
    assert_eq!(answer.body, expected, "{}", answer.text);

    // Another text, even a registration with its correct hash, and an unknown id: 400.
    let other = "{ user(id: 2) { name } }";
    let apq = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(other)}});
    for body in [
        json!({ "query": other }),
        json!({ "query": other, "extensions": apq }),
        json!({ "extensions": apq }),
    ] {
        for accept in [GQL, JSON] {
            let answer = post(&graft, Some(accept), body.clone()).await;
            assert_eq!(answer.status, 400, "{}", answer.text);
            assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_IN_LIST");
            assert!(!answer.has_data());
        }
    }
    let answer = get_with(&graft, GQL, &[("query", other.to_string())]).await;
    assert_eq!(
        answer.code(),
        "PERSISTED_QUERY_NOT_IN_LIST",
        "{}",
        answer.text
    );

    // A manifest that cannot be used stops the config from loading, and says why.
    std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
    let err = Config::from_yaml(&yaml).unwrap_err();
    assert!(
        err.contains("persisted_queries.manifest") && err.contains("lists no operations"),
        "{err}"
    );
    let err = Config::from_yaml("persisted_queries:\n  only_listed: true\n").unwrap_err();
    assert!(err.contains("needs persisted_queries.manifest"), "{err}");
}
