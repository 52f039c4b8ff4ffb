//! gRPC end to end: graft's tonic test server on 127.0.0.1, described by reflection (v1 and
//! v1alpha), ingested into a catalog and queried through `Gateway::execute`.

mod grpc_server;

use std::time::Duration;

use engine::upstream::grpc::{describe, describe_descriptor_set};
use engine::{DescribeError, Gateway, GatewayOptions, RequestContext};
use grpc_server::{Reflection, TestServer};
use schema_gen::Catalog;
use schema_gen::ingest::grpc::{GrpcOptions, ingest};
use serde_json::{Value, json};

fn catalog_for(endpoint: &str, pool: &prost_reflect::DescriptorPool) -> Catalog {
    let ingested = ingest(pool, &GrpcOptions::new("kitchen", endpoint));
    ingested.catalog.expect("a catalog")
}

fn gateway(catalog: &Catalog, timeout: Duration) -> Gateway {
    let options = GatewayOptions {
        default_timeout: timeout,
        ..GatewayOptions::default()
    };
    Gateway::build(catalog, options).expect("the gateway builds")
}

async fn run(gateway: &Gateway, query: &str) -> Value {
    run_with(gateway, query, RequestContext::default()).await.0
}

async fn run_with(gateway: &Gateway, query: &str, cx: RequestContext) -> (Value, http::HeaderMap) {
    let answer = gateway
        .execute(async_graphql::Request::new(query), cx)
        .await;
    (
        serde_json::to_value(&answer.response).unwrap(),
        answer.headers,
    )
}

/// A server, described by reflection, and a gateway over it.
async fn served(reflection: Reflection) -> (TestServer, Gateway) {
    let server = grpc_server::start(reflection).await;
    let pool = describe(&server.endpoint(), Duration::from_secs(5))
        .await
        .expect("describe");
    let gateway = gateway(
        &catalog_for(&server.endpoint(), &pool),
        Duration::from_secs(5),
    );
    (server, gateway)
}

fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn reflection_v1_describes_every_service_with_its_dependencies() {
    let server = grpc_server::start(Reflection::V1AndV1alpha).await;
    let pool = describe(&server.endpoint(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(pool.get_service_by_name("graft.test.v1.Kitchen").is_some());
    assert!(pool.get_service_by_name("graft.test.v1.Shelter").is_some());
    assert!(pool.get_message_by_name("graft.other.v1.Pet").is_some());
    assert!(
        pool.get_message_by_name("google.protobuf.Timestamp")
            .is_some()
    );
    // Described and compiled descriptors make the same graph.
    assert_eq!(
        catalog_for("http://x:1", &pool),
        catalog_for("http://x:1", &server.pool)
    );
}

#[tokio::test]
async fn a_server_with_only_v1alpha_reflection_is_described_by_the_fallback() {
    let server = grpc_server::start(Reflection::V1alphaOnly).await;
    let pool = describe(&server.endpoint(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(pool.get_service_by_name("graft.test.v1.Kitchen").is_some());
}

#[tokio::test]
async fn a_server_without_reflection_is_a_describe_error_that_says_so() {
    let server = grpc_server::start(Reflection::Off).await;
    let err = describe(&server.endpoint(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, DescribeError::Reflection { .. }), "{err:?}");
    assert!(
        err.to_string().contains("does not serve reflection"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_describe_error_not_a_hang() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = describe(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, DescribeError::Fetch { .. }), "{err:?}");
}

#[tokio::test]
async fn a_descriptor_set_file_describes_like_reflection() {
    let (pool, bytes) = grpc_server::descriptors();
    let dir = std::env::temp_dir().join(format!("graft-grpc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kitchen.binpb");
    std::fs::write(&path, &bytes).unwrap();
    let described = describe_descriptor_set(&path).unwrap();
    assert_eq!(
        catalog_for("http://x:1", &described),
        catalog_for("http://x:1", &pool)
    );
    std::fs::write(&path, b"\xff\xff").unwrap();
    assert!(matches!(
        describe_descriptor_set(&path),
        Err(DescribeError::Descriptor { .. })
    ));
}

#[tokio::test]
async fn unary_queries_return_messages_with_enum_names_and_exact_64_bit_integers() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let response = run(
        &gateway,
        "{ kitchenGetPet(id: 42) { id name status tags owner { name } }
           listPets(pageSize: 2) { pets { id } nextPageToken } }",
    )
    .await;
    assert_eq!(
        response,
        json!({"data": {
            "kitchenGetPet": {"id": 42, "name": "pet 42", "status": "AVAILABLE", "tags": ["cute", "fluffy"], "owner": {"name": "ada"}},
            "listPets": {"pets": [{"id": 1}, {"id": 9_007_199_254_740_993_i64}], "nextPageToken": ""}
        }})
    );
}

#[tokio::test]
async fn every_field_kind_round_trips_through_echo() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let variables = json!({
        "byId": {"3": {"name": "c"}},
        "extra": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "packed"},
    });
    let request = async_graphql::Request::new(
        r#"query($byId: JSON, $extra: JSON) { echo(
            d: 1.5, f: 2.5, i32: -3, i64: "-9007199254740993", u32: 4294967295, u64: 18446744073709551615,
            s32: -7, s64: -8, fx32: 9, fx64: 10, sfx32: -11, sfx64: -12, flag: true, text: "hé",
            blob: "aGk=", status: ADOPTED, pet: {id: 5, name: "rex", owner: {name: "bo"}},
            tags: ["a", "b"], pets: [{id: 1}, {id: 2}], counts: {a: 1, b: 2}, petsById: $byId,
            choiceName: "chosen", nickname: "nick", at: "2024-01-02T03:04:05Z", took: "1.500s",
            maybeText: "maybe", maybeI64: 64, maybeFlag: false, maybeDouble: 0.25,
            meta: {k: [1, "x", null]}, anything: "any", list: [1, 2], mask: "a.b,c",
            extra: $extra,
            nothing: {}, inner: {note: "outer", child: {note: "inner"}}, statuses: [AVAILABLE, ADOPTED],
            otherPet: {name: "o", good: true}
          ) {
            d f i32 i64 u32 u64 s32 s64 fx32 fx64 sfx32 sfx64 flag text blob status
            pet { id name owner { name } } tags pets { id } counts petsById
            choiceName choiceNumber choicePet { id } nickname at took
            maybeText maybeI64 maybeFlag maybeDouble meta anything list extra mask nothing
            inner { note child { note child { note } } } statuses otherPet { name good }
        } }"#,
    )
    .variables(async_graphql::Variables::from_json(variables));
    let answer = gateway.execute(request, RequestContext::default()).await;
    insta::assert_json_snapshot!(serde_json::to_value(&answer.response).unwrap());
}

#[tokio::test]
async fn an_empty_response_is_true_and_mutations_send_their_arguments() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let response = run(
        &gateway,
        r#"mutation { ping createPet(id: 3, name: "new", status: ADOPTED, tags: ["x"]) { id name status tags owner { name } } }"#,
    )
    .await;
    assert_eq!(
        response,
        json!({"data": {"ping": true, "createPet": {"id": 3, "name": "new", "status": "ADOPTED", "tags": ["x"], "owner": null}}})
    );
}

#[tokio::test]
async fn two_oneof_members_in_one_input_are_refused_before_the_call() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let response = run(
        &gateway,
        r#"{ echo(choiceName: "a", choiceNumber: 2) { text } }"#,
    )
    .await;
    assert_eq!(response["data"]["echo"], Value::Null);
    assert_eq!(error_codes(&response), ["UPSTREAM_INVALID_REQUEST"]);
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("oneof"), "{message}");
}

#[tokio::test]
async fn a_grpc_status_becomes_an_error_with_its_code_name_message_and_details() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let response = run(
        &gateway,
        "{ kitchenGetPet(id: 404) { id } listPets { pets { id } } }",
    )
    .await;
    assert_eq!(response["data"]["kitchenGetPet"], Value::Null);
    // The rest of the graph keeps working.
    assert_eq!(response["data"]["listPets"]["pets"][0]["id"], json!(1));
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["code"], "NOT_FOUND");
    assert_eq!(error["message"], "no pet 404");
    assert_eq!(error["path"], json!(["kitchenGetPet"]));
    assert_eq!(
        error["extensions"]["details"],
        json!([{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "try another id"}])
    );
    let response = run(
        &gateway,
        r#"mutation { fail(code: 7, message: "nope") { id } }"#,
    )
    .await;
    assert_eq!(error_codes(&response), ["PERMISSION_DENIED"]);
}

#[tokio::test]
async fn a_slow_method_fails_with_a_timeout_when_its_deadline_passes() {
    let server = grpc_server::start(Reflection::V1AndV1alpha).await;
    let gateway = gateway(
        &catalog_for(&server.endpoint(), &server.pool),
        Duration::from_millis(300),
    );
    let started = std::time::Instant::now();
    let response = run(&gateway, "mutation { slow(millis: 3000) { id } }").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let codes = error_codes(&response);
    assert_eq!(codes, ["UPSTREAM_TIMEOUT"], "{response}");
    let fast = run(&gateway, "mutation { slow(millis: 1) { id } }").await;
    assert_eq!(fast, json!({"data": {"slow": {"id": 7}}}));
}

#[tokio::test]
async fn a_response_that_does_not_decode_is_an_invalid_response_error() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let response = run(&gateway, "{ kitchenGetPet(id: 666) { id } }").await;
    assert_eq!(error_codes(&response), ["UPSTREAM_INVALID_RESPONSE"]);
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("graft.test.v1.Pet"), "{message}");
}

#[tokio::test]
async fn an_unreachable_upstream_fails_only_its_fields() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (pool, _) = grpc_server::descriptors();
    let gateway = gateway(
        &catalog_for(&format!("http://127.0.0.1:{port}"), &pool),
        Duration::from_secs(5),
    );
    let response = run(&gateway, "{ kitchenGetPet(id: 1) { id } }").await;
    assert_eq!(response["data"], json!({"kitchenGetPet": null}));
    assert_eq!(error_codes(&response), ["UPSTREAM_UNREACHABLE"]);
}

#[tokio::test]
async fn allowlisted_headers_become_metadata_and_response_metadata_comes_back() {
    let server = grpc_server::start(Reflection::V1AndV1alpha).await;
    let mut catalog = catalog_for(&server.endpoint(), &server.pool);
    let policy = &mut catalog.sources.get_mut("kitchen").unwrap().policy;
    policy.forward_headers = vec!["x-tenant".into()];
    policy.response_headers = vec!["x-tenant-seen".into()];
    let gateway = gateway(&catalog, Duration::from_secs(5));
    let mut cx = RequestContext::default();
    cx.headers.insert("x-tenant", "acme".parse().unwrap());
    cx.headers.insert("x-secret", "no".parse().unwrap());
    let (response, headers) = run_with(&gateway, "{ kitchenGetPet(id: 1) { id } }", cx).await;
    assert_eq!(response, json!({"data": {"kitchenGetPet": {"id": 1}}}));
    assert_eq!(headers.get("x-tenant-seen").unwrap(), "acme");
}

async fn events(gateway: &Gateway, query: &str) -> Vec<Value> {
    use futures::StreamExt;
    let stream = gateway.subscribe(
        async_graphql::Request::new(query),
        RequestContext::default(),
    );
    let responses: Vec<_> =
        tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
            .await
            .expect("the stream ends");
    responses
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

#[tokio::test]
async fn a_server_stream_is_a_subscription_with_one_event_per_message() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let events = events(
        &gateway,
        "subscription { watchPets(count: 3) { id status } }",
    )
    .await;
    assert_eq!(
        events,
        [1, 2, 3].map(|id| json!({"data": {"watchPets": {"id": id, "status": "AVAILABLE"}}}))
    );
}

#[tokio::test]
async fn a_server_stream_that_fails_midway_ends_with_the_error() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    let events = events(
        &gateway,
        "subscription { watchPets(count: 2, fail: true) { id } }",
    )
    .await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[1], json!({"data": {"watchPets": {"id": 2}}}));
    assert_eq!(events[2]["errors"][0]["extensions"]["code"], "INTERNAL");
    assert_eq!(events[2]["errors"][0]["message"], "the stream broke");
}

#[tokio::test]
async fn a_subscription_to_an_unreachable_upstream_is_one_error_event() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (pool, _) = grpc_server::descriptors();
    let gateway = gateway(
        &catalog_for(&format!("http://127.0.0.1:{port}"), &pool),
        Duration::from_secs(5),
    );
    let events = events(&gateway, "subscription { watchPets(count: 2) { id } }").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["errors"][0]["extensions"]["code"],
        "UPSTREAM_UNREACHABLE"
    );
}

#[tokio::test]
async fn without_reflection_calls_fail_clearly_until_descriptors_are_registered() {
    let server = grpc_server::start(Reflection::Off).await;
    let gateway = gateway(
        &catalog_for(&server.endpoint(), &server.pool),
        Duration::from_secs(5),
    );
    let response = run(&gateway, "{ kitchenGetPet(id: 1) { id } }").await;
    assert_eq!(response["data"], json!({"kitchenGetPet": null}));
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("does not serve reflection"), "{message}");
    // A source described from a FileDescriptorSet needs no reflection at call time.
    engine::upstream::grpc::register_descriptors(&server.endpoint(), server.pool.clone());
    let response = run(&gateway, "{ kitchenGetPet(id: 1) { id } }").await;
    assert_eq!(response, json!({"data": {"kitchenGetPet": {"id": 1}}}));
}

#[tokio::test]
async fn the_plan_executor_renders_grpc_fields_like_async_graphql() {
    let (_server, gateway) = served(Reflection::V1AndV1alpha).await;
    for query in [
        "{ kitchenGetPet(id: 42) { id name status tags owner { name } } listPets { pets { id } } }",
        "{ kitchenGetPet(id: 404) { id } shelterGetPet(name: \"x\") { name good } }",
    ] {
        let planned = gateway
            .execute_rendered(
                async_graphql::Request::new(query),
                RequestContext::default(),
            )
            .await;
        let planned: Value = serde_json::from_slice(&planned.body).unwrap();
        assert_eq!(planned, run(&gateway, query).await, "{query}");
    }
}

#[test]
fn a_channel_outlives_no_runtime_so_a_second_runtime_still_calls() {
    let make_runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(grpc_server::start(Reflection::V1AndV1alpha));
    let catalog = catalog_for(&server.endpoint(), &server.pool);
    for _ in 0..2 {
        // Each runtime shuts down after its call; the pooled channel must not be reused dead.
        let rt = make_runtime();
        let response = rt.block_on(async {
            let gateway = gateway(&catalog, Duration::from_secs(5));
            run(&gateway, "{ kitchenGetPet(id: 3) { id } }").await
        });
        assert_eq!(response, json!({"data": {"kitchenGetPet": {"id": 3}}}));
    }
}

#[tokio::test]
async fn reflection_that_misses_a_dependency_is_a_descriptor_error_naming_it() {
    use prost::Message as _;
    let (pool, _) = grpc_server::descriptors();
    let mut set = prost_types::FileDescriptorSet {
        file: pool.file_descriptor_protos().cloned().collect(),
    };
    set.file.retain(|f| f.name() != "other.proto");
    let server =
        grpc_server::start_reflecting(Reflection::V1AndV1alpha, pool, set.encode_to_vec()).await;
    let err = describe(&server.endpoint(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, DescribeError::Descriptor { .. }), "{err:?}");
    assert!(err.to_string().contains("other.proto"), "{err}");
}

/// Owners served over REST by an axum upstream on 127.0.0.1; their pets come from the gRPC
/// test server, batched. Keys: numbers and a string (`"2"`), a repeat, nulls, a missing
/// field, and 903 (the batch method has no pet for ids of 900 and above).
const BATCHED_SDL: &str = r#"
schema
  @source(name: "owners", rest: {baseUrl: "{{env.OWNERS}}"})
  @source(name: "kitchen", grpc: {endpoint: "{{env.KITCHEN}}"}) { query: Query }

type Query {
  owners: [Owner] @rest(source: "owners", path: "/owners")
}

type Owner {
  name: String
  petId: JSON
  pet: Pet @grpc(source: "kitchen", method: "graft.test.v1.Kitchen/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "graft.test.v1.Kitchen/BatchGetPets", keys: "ids", items: "pets", key: "id", maxSize: 4})
  wrongItems: Pet @grpc(source: "kitchen", method: "graft.test.v1.Kitchen/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "graft.test.v1.Kitchen/BatchGetPets", keys: "ids", items: "next_page_token", key: "id"})
  noMethod: Pet @grpc(source: "kitchen", method: "graft.test.v1.Kitchen/GetPet", body: "{\"id\": {{parent.petId}}}", batch: {method: "graft.test.v1.Kitchen/BatchGetNothing", keys: "ids", items: "pets", key: "id"})
}

type Pet { id: Int64 name: String }
"#;

async fn owners_upstream() -> String {
    let owners = json!([
        {"name": "a", "petId": 1},
        {"name": "b", "petId": "2"},
        {"name": "c", "petId": 1},
        {"name": "d", "petId": null},
        {"name": "e", "petId": 903},
        {"name": "f", "petId": 3},
        {"name": "g"},
        {"name": "h", "petId": 4},
        {"name": "i", "petId": 5},
    ]);
    let app = axum::Router::new().route(
        "/owners",
        axum::routing::get(move || {
            let owners = owners.clone();
            async move { axum::Json(owners) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn batched_gateway(server: &TestServer) -> Gateway {
    let checked = schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new(
        "batched.graphql",
        BATCHED_SDL,
    )]);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let owners = owners_upstream().await;
    let kitchen = server.endpoint();
    Gateway::build_with_env(
        &checked.catalog.unwrap(),
        GatewayOptions::default(),
        &move |name| match name {
            "OWNERS" => Some(owners.clone()),
            "KITCHEN" => Some(kitchen.clone()),
            _ => None,
        },
    )
    .unwrap()
}

async fn run_plan(gateway: &Gateway, query: &str) -> Value {
    let rendered = gateway
        .execute_rendered(
            async_graphql::Request::new(query),
            RequestContext::default(),
        )
        .await;
    serde_json::from_slice(&rendered.body).unwrap()
}

#[tokio::test]
async fn a_batched_grpc_link_makes_one_call_per_max_size_keys_and_never_attaches_a_wrong_pet() {
    let server = grpc_server::start(Reflection::V1AndV1alpha).await;
    let gateway = batched_gateway(&server).await;
    let out = run_plan(&gateway, "{ owners { name petId pet { id name } } }").await;
    let owners = out["data"]["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 9, "{out:#}");
    // Six distinct keys (1 and "2" and 1 again, 903, 3, 4, 5; nulls skipped), maxSize 4:
    // two calls (concurrent: compared in a fixed order), the keys in first-seen order, "2"
    // sent as the int64 2.
    let mut calls = server.calls("BatchGetPets");
    calls.sort_by_key(|request| request["ids"].as_array().map_or(0, Vec::len));
    assert_eq!(
        calls,
        vec![json!({"ids": [4, 5]}), json!({"ids": [1, 2, 903, 3]})]
    );
    assert!(server.calls("GetPet").is_empty(), "no per-id calls");
    for owner in owners {
        let name = owner["name"].as_str().unwrap();
        match name {
            "d" | "g" | "e" => assert_eq!(owner["pet"], Value::Null, "{owner}"),
            _ => {
                // "2" (a string key) matches the pet whose int64 id is 2.
                let id = match &owner["petId"] {
                    Value::String(text) => text.parse::<i64>().unwrap(),
                    other => other.as_i64().unwrap(),
                };
                assert_eq!(
                    owner["pet"],
                    json!({"id": id, "name": format!("pet {id}")}),
                    "owner {name} got another pet"
                );
            }
        }
    }
    // Only 903 is an error: null parent keys are null without one.
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out:#}");
    assert_eq!(errors[0]["path"], json!(["owners", 4, "pet"]));
    assert_eq!(
        errors[0]["extensions"]["code"],
        json!("UPSTREAM_INVALID_RESPONSE")
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("`903`"),
        "{out:#}"
    );
}

#[tokio::test]
async fn a_grpc_batch_answer_without_its_list_or_a_missing_batch_method_is_an_error_per_field() {
    let server = grpc_server::start(Reflection::V1AndV1alpha).await;
    let gateway = batched_gateway(&server).await;
    let out = run_plan(
        &gateway,
        "{ owners { name wrongItems { id } noMethod { id } } }",
    )
    .await;
    let owners = out["data"]["owners"].as_array().unwrap();
    assert!(
        owners
            .iter()
            .all(|o| o["wrongItems"].is_null() && o["noMethod"].is_null()),
        "{out:#}"
    );
    let errors = out["errors"].as_array().unwrap();
    let at = |field: &str| -> Vec<&Value> {
        errors
            .iter()
            .filter(|e| e["path"][2] == json!(field))
            .collect()
    };
    // Seven owners have a key: one error each, per field.
    let wrong = at("wrongItems");
    assert_eq!(wrong.len(), 7, "{out:#}");
    assert!(wrong.iter().all(|e| {
        e["extensions"]["code"] == json!("UPSTREAM_INVALID_RESPONSE")
            && e["message"]
                .as_str()
                .unwrap()
                .contains("has no list at `nextPageToken`")
    }));
    let missing = at("noMethod");
    assert_eq!(missing.len(), 7, "{out:#}");
    assert!(
        missing
            .iter()
            .all(|e| e["extensions"]["code"] == json!("UNIMPLEMENTED")),
        "{out:#}"
    );
}
