//! REST resolvers end to end: a real axum upstream on 127.0.0.1, an executable schema parsed
//! from SDL, and GraphQL requests through `Gateway::execute`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use engine::{Gateway, GatewayOptions, Limits, RequestContext};
use schema_gen::parse::{SdlFile, parse_files};
use serde_json::{Value, json};

/// How many times each upstream path was called.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn record(&self, path: &str) {
        *self.0.lock().unwrap().entry(path.to_string()).or_default() += 1;
    }
    fn get(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn user(State(hits): State<Hits>, Path(id): Path<String>) -> Json<Value> {
    hits.record(&format!("/users/{id}"));
    Json(
        json!({"id": id, "name": format!("user {id}"), "status": "in-stock", "unknown_extra": true}),
    )
}

async fn posts(State(hits): State<Hits>, RawQuery(query): RawQuery) -> Json<Value> {
    hits.record("/posts");
    Json(json!([
        {"id": "p1", "userId": "1", "title": "first", "query": query.clone().unwrap_or_default()},
        {"id": "p2", "userId": "2", "title": "second", "query": query.clone().unwrap_or_default()},
        {"id": "p3", "userId": null, "title": "anonymous", "query": query.unwrap_or_default()},
    ]))
}

async fn create_post(Json(body): Json<Value>) -> Json<Value> {
    Json(json!({
        "id": "p99",
        "title": body.get("title").cloned().unwrap_or(Value::Null),
        "author_id": body.get("author_id").cloned().unwrap_or(Value::Null),
        "status": "sold-out",
        "received": body,
    }))
}

/// A form-reading upstream: the content type it got and the body's decoded pairs, in order.
async fn charges(State(hits): State<Hits>, headers: HeaderMap, body: String) -> Json<Value> {
    hits.record("/charges");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    Json(json!({
        "contentType": headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        "pairs": pairs,
    }))
}

async fn echo(headers: HeaderMap) -> impl IntoResponse {
    let seen: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                Value::String(v.to_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    (
        [
            (header::SET_COOKIE, "session=abc; Path=/"),
            (header::CACHE_CONTROL, "max-age=60"),
            (header::HeaderName::from_static("x-internal"), "secret"),
        ],
        Json(
            json!({"headers": seen, "requestIds": headers.get_all("x-request-id").iter().count()}),
        ),
    )
}

async fn failing() -> impl IntoResponse {
    (StatusCode::INTERNAL_SERVER_ERROR, "database exploded")
}

async fn html() -> impl IntoResponse {
    Html("<html><body>Login required</body></html>")
}

async fn slow() -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    Json(json!({"id": "late"}))
}

async fn pets() -> Json<Value> {
    Json(json!([
        {"kind": "dog", "name": "Rex", "barks": true},
        {"kind": "cat", "name": "Tom", "lives": 9},
        {"kind": "Dog", "name": "Fido", "barks": false},
    ]))
}

async fn shapes() -> Json<Value> {
    Json(json!([{"radius": 1.5}, {"side": 2.0, "label": "sq"}, {"radius": 3.0, "label": "c"}]))
}

async fn big(Path(raw): Path<String>) -> Json<Value> {
    let value: Value = raw
        .parse::<i64>()
        .map(Value::from)
        .or_else(|_| raw.parse::<u64>().map(Value::from))
        .unwrap_or(Value::Null);
    Json(json!({"value": value, "text": raw, "doubled": value.as_i64().map(|v| v.wrapping_mul(2))}))
}

async fn find(RawQuery(query): RawQuery) -> Json<Value> {
    // Echo the wire status back so enum mapping is checked in both directions.
    let status = query
        .unwrap_or_default()
        .strip_prefix("status=")
        .unwrap_or_default()
        .to_string();
    Json(json!([{"id": "9", "name": "found", "status": status}]))
}

/// Starts the upstream on an ephemeral loopback port.
async fn upstream() -> (String, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route("/users/{id}", get(user))
        .route("/posts", get(posts).post(create_post))
        .route("/echo", get(echo))
        .route("/charges", axum::routing::post(charges))
        .route("/fail", get(failing))
        .route("/html", get(html))
        .route("/slow", get(slow))
        .route("/pets", get(pets))
        .route("/shapes", get(shapes))
        .route("/big/{n}", get(big))
        .route("/find", get(find))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

/// A port nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

const SDL: &str = r#"
schema
  @source(name: "api", rest: {baseUrl: "{{env.UPSTREAM}}"}, timeout: 2000,
          forwardHeaders: ["Authorization", "x-tenant", "host", "content-length", "x-request-id"], responseHeaders: ["set-cookie", "cache-control"])
  @source(name: "gone", rest: {baseUrl: "{{env.GONE}}"})
{ query: Query mutation: Mutation }

type Query {
  user(id: ID!): User @rest(source: "api", path: "/users/{{args.id}}")
  posts(tags: [String!], limit: Int): [Post]
    @rest(source: "api", path: "/posts", query: [{name: "tag", value: "{{args.tags}}"}, {name: "limit", value: "{{args.limit}}"}])
  echo(note: String): Echo @rest(source: "api", path: "/echo", headers: [{name: "x-note", value: "{{args.note}}"}])
  maybeUser(id: ID): User @rest(source: "api", path: "/users/{{args.id}}")
  failing: User @rest(source: "api", path: "/fail")
  html: User @rest(source: "api", path: "/html")
  slow: User @rest(source: "api", path: "/slow", timeout: 300)
  unreachable: User @rest(source: "gone", path: "/users/1")
  pets: [Pet] @rest(source: "api", path: "/pets")
  shapes: [Shape] @rest(source: "api", path: "/shapes")
  big(value: Int64!): Big @rest(source: "api", path: "/big/{{args.value}}")
  find(status: Status): [User] @rest(source: "api", path: "/find", query: [{name: "status", value: "{{args.status}}"}])
}

type Mutation {
  createPost(input: PostInput!): Post @rest(source: "api", method: POST, path: "/posts", body: "{{args.input}}")
  createCharge(input: ChargeInput!): Charge
    @rest(source: "api", method: POST, path: "/charges", body: "{{args.input}}", encoding: FORM)
  createChargeInBrackets(input: ChargeInput!): Charge
    @rest(source: "api", method: POST, path: "/charges", body: "{{args.input}}", encoding: FORM_BRACKETS)
  chargeAmount(amount: Int!): Charge
    @rest(source: "api", method: POST, path: "/charges", body: "{{args.amount}}", encoding: FORM)
}

input ChargeInput {
  amount: Int!
  currency: String!
  customerId: ID @map(from: "customer")
  capture: Boolean
  description: String
  metadata: JSON
  items: [ChargeItem!]
  expand: [String!]
  status: Status
}
input ChargeItem { price: String! quantity: Int }
type Charge { contentType: String pairs: JSON }

type User { id: ID! name: String status: Status }

type Post {
  id: ID!
  userId: ID
  "The post's headline."
  title: String
  query: String @deprecated(reason: "debugging only")
  authorId: ID @map(from: "author_id")
  status: Status
  received: JSON
  author: User @rest(source: "api", path: "/users/{{parent.userId}}")
}

input PostInput { title: String! authorId: ID! @map(from: "author_id") status: Status = IN_STOCK }

enum Status { IN_STOCK @map(from: "in-stock") SOLD_OUT @map(from: "sold-out") }

type Echo { headers: JSON requestIds: Int }

union Pet @discriminator(property: "kind", mapping: [{value: "dog", type: "Dog"}, {value: "cat", type: "Cat"}]) = Dog | Cat
type Dog { name: String barks: Boolean }
type Cat { name: String lives: Int }

union Shape = Circle | Square
type Circle { radius: Float! label: String }
type Square { side: Float! label: String }

type Big { value: Int64 text: String doubled: Int64 }
"#;

async fn gateway_with(limits: Limits) -> (Gateway, Hits) {
    let (url, hits) = upstream().await;
    let gone = closed_port().await;
    let checked = parse_files(&[SdlFile::new("test.graphql", SDL)]);
    let catalog = checked
        .catalog
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let options = GatewayOptions {
        limits,
        ..GatewayOptions::default()
    };
    let env = move |name: &str| match name {
        "UPSTREAM" => Some(url.clone()),
        "GONE" => Some(gone.clone()),
        _ => None,
    };
    (
        Gateway::build_with_env(&catalog, options, &env).unwrap(),
        hits,
    )
}

async fn gateway() -> (Gateway, Hits) {
    gateway_with(Limits::default()).await
}

async fn run(
    gateway: &Gateway,
    query: &str,
    variables: Value,
    headers: &[(&str, &str)],
) -> (Value, HeaderMap) {
    let mut cx = RequestContext {
        request_id: "req-1".into(),
        ..RequestContext::default()
    };
    for (name, value) in headers {
        cx.headers.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let answer = gateway.execute(request, cx).await;
    (
        serde_json::to_value(&answer.response).unwrap(),
        answer.headers,
    )
}

fn error_codes(response: &Value) -> Vec<(String, String)> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["path"][0].as_str().unwrap_or_default().to_string(),
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_query_renders_path_query_and_header_arguments() {
    let (gw, _) = gateway().await;
    let (response, _) = run(
        &gw,
        r#"{ user(id: "a/b c") { id name } posts(tags: ["x", "y z"], limit: null) { id query } echo(note: "hi") { headers } }"#,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    // The id stays one path segment: axum decodes it back to the original.
    assert_eq!(
        response["data"]["user"],
        json!({"id": "a/b c", "name": "user a/b c"})
    );
    // A list repeats the parameter; a null argument is omitted.
    assert_eq!(
        response["data"]["posts"][0]["query"],
        json!("tag=x&tag=y+z")
    );
    assert_eq!(response["data"]["echo"]["headers"]["x-note"], json!("hi"));
}

#[tokio::test]
async fn a_mutation_sends_its_input_as_a_json_body_in_wire_spelling() {
    let (gw, _) = gateway().await;
    let (response, _) = run(
        &gw,
        r#"mutation($input: PostInput!) { createPost(input: $input) { id title authorId status received } }"#,
        json!({"input": {"title": "hello", "authorId": "7"}}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    let post = &response["data"]["createPost"];
    assert_eq!(
        post["received"],
        json!({"title": "hello", "author_id": "7", "status": "in-stock"})
    );
    assert_eq!(post["authorId"], json!("7"));
    assert_eq!(post["status"], json!("SOLD_OUT"));
    assert_eq!(post["id"], json!("p99"));
}

#[tokio::test]
async fn a_form_encoded_mutation_sends_its_input_as_name_value_pairs_in_wire_spelling() {
    let (gw, hits) = gateway().await;
    let input = json!({
        "amount": 1999,
        "currency": "usd",
        "customerId": "cus_1",
        "capture": true,
        "description": null,
        "metadata": {"order id": "7&8=9"},
        "items": [{"price": "p_1", "quantity": 2}, {"price": "p_2"}],
        "expand": ["customer", "invoice"],
        "status": "IN_STOCK"
    });
    let (response, _) = run(
        &gw,
        "mutation($input: ChargeInput!) {
           form: createCharge(input: $input) { contentType pairs }
           brackets: createChargeInBrackets(input: $input) { contentType pairs }
         }",
        json!({"input": input}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    // Wire names (`customer`, `in-stock`), brackets for nesting, the null left out, and
    // `&` and `=` inside a value kept inside it; a list of scalars repeats its name in the
    // default form style and is indexed in brackets in the other.
    for (alias, expand) in [
        (
            "form",
            json!([["expand", "customer"], ["expand", "invoice"]]),
        ),
        (
            "brackets",
            json!([["expand[0]", "customer"], ["expand[1]", "invoice"]]),
        ),
    ] {
        let charge = &response["data"][alias];
        assert_eq!(
            charge["contentType"],
            json!("application/x-www-form-urlencoded")
        );
        let mut expected = vec![
            json!(["amount", "1999"]),
            json!(["currency", "usd"]),
            json!(["customer", "cus_1"]),
            json!(["capture", "true"]),
            json!(["metadata[order id]", "7&8=9"]),
            json!(["items[0][price]", "p_1"]),
            json!(["items[0][quantity]", "2"]),
            json!(["items[1][price]", "p_2"]),
        ];
        expected.extend(expand.as_array().unwrap().iter().cloned());
        expected.push(json!(["status", "in-stock"]));
        assert_eq!(charge["pairs"], Value::Array(expected), "{alias}");
    }

    // A value that is not an object has no names: the field fails before anything is sent.
    let (response, _) = run(
        &gw,
        "mutation { chargeAmount(amount: 5) { pairs } }",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(response["data"]["chargeAmount"], Value::Null);
    assert_eq!(
        error_codes(&response),
        [(
            "chargeAmount".to_string(),
            "UPSTREAM_INVALID_REQUEST".to_string()
        )]
    );
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("a form body must be an object"),
        "{message}"
    );
    assert_eq!(hits.get("/charges"), 2);
}

#[tokio::test]
async fn a_link_field_reads_its_parent_and_identical_calls_run_once() {
    let (gw, hits) = gateway().await;
    let (response, _) = run(
        &gw,
        r#"{ posts { id author { name } } again: posts { author { id } } u: user(id: "1") { name } }"#,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    assert_eq!(
        response["data"]["posts"][0]["author"]["name"],
        json!("user 1")
    );
    assert_eq!(
        response["data"]["posts"][1]["author"]["name"],
        json!("user 2")
    );
    // A null link key is a null field, without a call or an error.
    assert_eq!(response["data"]["posts"][2]["author"], Value::Null);
    assert_eq!(hits.get("/posts"), 1);
    assert_eq!(
        hits.get("/users/1"),
        1,
        "posts[0].author, again[0].author and u share one call"
    );
    assert_eq!(hits.get("/users/2"), 1);
}

/// An upstream host that never answers the connection (its listen queue is full, so the
/// kernel drops the handshake): the field's timeout still ends the call, with a coded error
/// on that field only, and the request does not hang.
#[tokio::test]
async fn a_connection_that_is_never_accepted_times_out_on_its_field() {
    let (url, _) = upstream().await;
    // Backlog 0: one connection fills the queue, and nothing ever accepts it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let silent = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let attempt = tokio::net::TcpStream::connect(silent);
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(100), attempt).await {
            fillers.push(stream);
        }
    }
    let hangs = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(silent),
    )
    .await;
    assert!(hangs.is_err(), "a new connection must hang for this test");

    let sdl = r#"
schema
  @source(name: "api", rest: {baseUrl: "{{env.UPSTREAM}}"})
  @source(name: "silent", rest: {baseUrl: "{{env.SILENT}}"})
{ query: Query }
type Query {
  user(id: ID!): User @rest(source: "api", path: "/users/{{args.id}}")
  stuck: User @rest(source: "silent", path: "/users/1", timeout: 300)
}
type User { id: ID! name: String }
"#;
    let checked = parse_files(&[SdlFile::new("silent.graphql", sdl)]);
    let catalog = checked
        .catalog
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let silent_url = format!("http://{silent}");
    let env = move |name: &str| match name {
        "UPSTREAM" => Some(url.clone()),
        "SILENT" => Some(silent_url.clone()),
        _ => None,
    };
    let gw = Gateway::build_with_env(&catalog, GatewayOptions::default(), &env).unwrap();
    let started = std::time::Instant::now();
    let rendered = gw
        .execute_rendered(
            async_graphql::Request::new(r#"{ user(id: "1") { name } stuck { name } }"#),
            RequestContext::default(),
        )
        .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    let response: Value = serde_json::from_slice(&rendered.body).unwrap();
    assert_eq!(
        response["data"]["user"]["name"],
        json!("user 1"),
        "{response}"
    );
    assert_eq!(response["data"]["stuck"], Value::Null);
    assert_eq!(
        error_codes(&response),
        vec![("stuck".to_string(), "UPSTREAM_TIMEOUT".to_string())]
    );
    drop((fillers, listener));
}

#[tokio::test]
async fn failing_fields_give_partial_data_with_coded_errors() {
    let (gw, _) = gateway().await;
    let started = std::time::Instant::now();
    let (response, _) = run(
        &gw,
        r#"{ user(id: "1") { name } failing { name } html { name } slow { name } unreachable { name } }"#,
        json!({}),
        &[],
    )
    .await;
    // `slow` has a 300 ms field timeout, which wins over its source's 2000 ms.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let data = &response["data"];
    assert_eq!(data["user"]["name"], json!("user 1"));
    for field in ["failing", "html", "slow", "unreachable"] {
        assert_eq!(
            data.get(field),
            Some(&Value::Null),
            "{field} is present and null"
        );
    }
    let mut codes = error_codes(&response);
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("failing".into(), "UPSTREAM_HTTP_STATUS".into()),
            ("html".into(), "UPSTREAM_INVALID_JSON".into()),
            ("slow".into(), "UPSTREAM_TIMEOUT".into()),
            ("unreachable".into(), "UPSTREAM_UNREACHABLE".into()),
        ]
    );
    let errors = response["errors"].as_array().unwrap();
    let failing = errors.iter().find(|e| e["path"][0] == "failing").unwrap();
    assert_eq!(failing["extensions"]["status"], json!(500));
    assert_eq!(failing["extensions"]["source"], json!("api"));
    assert!(
        failing["message"]
            .as_str()
            .unwrap()
            .contains("database exploded"),
        "{failing}"
    );
    let unreachable = errors
        .iter()
        .find(|e| e["path"][0] == "unreachable")
        .unwrap();
    assert_eq!(unreachable["extensions"]["source"], json!("gone"));
}

#[tokio::test]
async fn only_allowlisted_headers_reach_the_upstream_and_named_response_headers_come_back() {
    let (gw, _) = gateway().await;
    let (response, headers) = run(
        &gw,
        "{ echo { headers requestIds } }",
        json!({}),
        &[
            ("authorization", "Bearer t"),
            ("x-tenant", "acme"),
            ("cookie", "private=1"),
            ("x-other", "no"),
            ("host", "client.example"),
            ("content-length", "12345"),
            ("x-request-id", "client-chosen"),
        ],
    )
    .await;
    let seen = &response["data"]["echo"]["headers"];
    assert_eq!(seen["authorization"], json!("Bearer t"));
    assert_eq!(seen["x-tenant"], json!("acme"));
    assert_eq!(seen["x-request-id"], json!("req-1"));
    assert_eq!(response["data"]["echo"]["requestIds"], json!(1));
    assert_eq!(seen.get("cookie"), None);
    assert_eq!(seen.get("x-other"), None);
    // Connection-level headers are never forwarded, even when allowlisted.
    assert_ne!(seen["host"], json!("client.example"));
    assert_eq!(seen.get("content-length"), None);
    assert_eq!(headers.get("set-cookie").unwrap(), "session=abc; Path=/");
    assert_eq!(headers.get("cache-control").unwrap(), "max-age=60");
    assert_eq!(headers.get("x-internal"), None);
}

#[tokio::test]
async fn enum_arguments_go_out_in_wire_spelling_and_come_back_as_graphql_names() {
    let (gw, _) = gateway().await;
    let (response, _) = run(
        &gw,
        "{ find(status: SOLD_OUT) { name status } }",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    assert_eq!(
        response["data"]["find"],
        json!([{"name": "found", "status": "SOLD_OUT"}])
    );
}

#[tokio::test]
async fn unions_resolve_by_discriminator_and_structurally() {
    let (gw, _) = gateway().await;
    let (response, _) = run(
        &gw,
        r#"{ pets { __typename ... on Dog { name barks } ... on Cat { name lives } }
             shapes { __typename ... on Circle { radius } ... on Square { side label } } }"#,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(response.get("errors"), None, "{response}");
    assert_eq!(
        response["data"]["pets"],
        json!([
            {"__typename": "Dog", "name": "Rex", "barks": true},
            {"__typename": "Cat", "name": "Tom", "lives": 9},
            {"__typename": "Dog", "name": "Fido", "barks": false},
        ])
    );
    assert_eq!(
        response["data"]["shapes"],
        json!([
            {"__typename": "Circle", "radius": 1.5},
            {"__typename": "Square", "side": 2.0, "label": "sq"},
            {"__typename": "Circle", "radius": 3.0},
        ])
    );
}

#[tokio::test]
async fn int64_values_above_2_pow_53_round_trip_exactly() {
    let (gw, _) = gateway().await;
    let query = "query($v: Int64!) { big(value: $v) { value text } }";
    for (given, expected) in [
        (json!(9007199254740993u64), "9007199254740993"),
        (json!("9223372036854775807"), "9223372036854775807"),
        (json!(-9007199254740993i64), "-9007199254740993"),
    ] {
        let (response, _) = run(&gw, query, json!({"v": given}), &[]).await;
        assert_eq!(response.get("errors"), None, "{response}");
        assert_eq!(response["data"]["big"]["text"], json!(expected));
        let text = serde_json::to_string(&response).unwrap();
        assert!(text.contains(&format!("\"value\":{expected}")), "{text}");
    }
    let refuses_int64 = |response: &Value| {
        response.get("data").is_none_or(Value::is_null)
            && response["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Int64"))
    };
    let (response, _) = run(&gw, r#"{ big(value: "12x") { value } }"#, json!({}), &[]).await;
    assert!(refuses_int64(&response), "{response}");
    // The same refusal for a variable: a string that is no 64-bit integer never takes the
    // variables shortcut (same validator), so async-graphql reports it.
    for bad in [json!("12x"), json!("99999999999999999999")] {
        let (response, _) = run(&gw, query, json!({"v": bad}), &[]).await;
        assert!(refuses_int64(&response), "{response}");
    }
}

#[tokio::test]
async fn each_limit_refuses_with_its_own_code() {
    let limited = |change: fn(&mut Limits)| {
        let mut limits = Limits::default();
        change(&mut limits);
        gateway_with(limits)
    };

    let (gw, _) = limited(|l| l.max_depth = 2).await;
    let (response, _) = run(&gw, "{ posts { author { name } } }", json!({}), &[]).await;
    assert_eq!(
        error_codes(&response),
        vec![(String::new(), "DEPTH_LIMIT".into())],
        "{response}"
    );
    assert_eq!(response["data"], Value::Null);

    let (gw, _) = limited(|l| l.max_complexity = 3).await;
    let (response, _) = run(
        &gw,
        r#"{ user(id: "1") { id name status } }"#,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(
        error_codes(&response),
        vec![(String::new(), "COMPLEXITY_LIMIT".into())],
        "{response}"
    );

    let (gw, hits) = limited(|l| l.max_aliases = 1).await;
    let (response, _) = run(
        &gw,
        r#"{ a: user(id: "1") { id } b: user(id: "2") { id } }"#,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(
        error_codes(&response),
        vec![(String::new(), "ALIAS_LIMIT".into())],
        "{response}"
    );
    assert_eq!(hits.get("/users/1"), 0, "refused requests call nothing");

    let (gw, _) = limited(|l| l.max_upstream_calls = 2).await;
    let (response, _) = run(
        &gw,
        r#"{ a: user(id: "1") { id } b: user(id: "2") { id } user(id: "3") { id } }"#,
        json!({}),
        &[],
    )
    .await;
    let codes = error_codes(&response);
    assert_eq!(codes.len(), 1, "{response}");
    assert_eq!(codes[0].1, "UPSTREAM_CALL_LIMIT");
    let answered = ["a", "b", "user"]
        .iter()
        .filter(|k| response["data"][**k].is_object())
        .count();
    assert_eq!(answered, 2, "{response}");
}

#[tokio::test]
async fn introspection_is_limited_by_depth_and_can_be_switched_off() {
    let (gw, _) = gateway().await;
    let (response, _) = run(&gw, "{ __schema { queryType { name } } }", json!({}), &[]).await;
    assert_eq!(
        response["data"]["__schema"]["queryType"]["name"],
        json!("Query")
    );
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } }";
    let (response, _) = run(&gw, deep, json!({}), &[]).await;
    assert_eq!(
        error_codes(&response),
        vec![(String::new(), "DEPTH_LIMIT".into())]
    );

    let catalog = gw.catalog().clone();
    let closed = Gateway::build_with_env(
        &catalog,
        GatewayOptions {
            introspection: false,
            ..GatewayOptions::default()
        },
        &|_| Some("http://127.0.0.1:9".into()),
    )
    .unwrap();
    let (response, _) = run(
        &closed,
        "{ __schema { queryType { name } } }",
        json!({}),
        &[],
    )
    .await;
    assert!(
        response["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{response}"
    );
}

#[tokio::test]
async fn the_served_sdl_has_no_graft_directives_and_declares_the_scalars() {
    let (gw, _) = gateway().await;
    let sdl = gw.sdl();
    assert!(sdl.contains("scalar Int64"), "{sdl}");
    assert!(sdl.contains("scalar JSON"), "{sdl}");
    assert!(!sdl.contains("@rest"), "{sdl}");
    assert!(sdl.contains("union Pet = Dog | Cat"), "{sdl}");
    assert!(sdl.contains("The post's headline."), "{sdl}");
    assert!(
        sdl.contains("@deprecated(reason: \"debugging only\")"),
        "{sdl}"
    );
}

#[tokio::test]
async fn a_missing_environment_variable_fails_the_build_with_its_name() {
    let checked = parse_files(&[SdlFile::new("test.graphql", SDL)]);
    let catalog = checked.catalog.unwrap();
    let error =
        Gateway::build_with_env(&catalog, GatewayOptions::default(), &|_| None).unwrap_err();
    assert!(error.to_string().contains("UPSTREAM"), "{error}");
}

/// Errors in a stable order, so two executors that finish fields in different orders compare.
fn normalized(mut response: Value) -> Value {
    if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e["path"].to_string());
    }
    response
}

#[tokio::test]
async fn the_plan_executor_answers_the_rest_suite_like_async_graphql() {
    let (gw, _) = gateway().await;
    let cases: &[(&str, Value)] = &[
        (
            r#"{ user(id: "a/b c") { id name } posts(tags: ["x", "y z"]) { id query author { name } } }"#,
            json!({}),
        ),
        (
            "mutation($input: PostInput!) { createPost(input: $input) { id authorId status received } }",
            json!({"input": {"title": "t", "authorId": "7"}}),
        ),
        (
            r#"{ user(id: "1") { name } failing { name } html { name } unreachable { name } }"#,
            json!({}),
        ),
        ("{ echo { headers } }", json!({})),
        ("{ find(status: SOLD_OUT) { name status } }", json!({})),
        (
            "{ pets { __typename ... on Dog { name } ... on Cat { lives } } shapes { __typename ... on Square { side } } }",
            json!({}),
        ),
        (
            "query($v: Int64!) { big(value: $v) { value text } }",
            json!({"v": 9007199254740993u64}),
        ),
        // A decimal string takes the variables shortcut.
        (
            "query($v: Int64!) { big(value: $v) { value text } }",
            json!({"v": "-12"}),
        ),
    ];
    for (query, variables) in cases {
        let cx = || RequestContext {
            request_id: "req-1".into(),
            headers: [(header::AUTHORIZATION, "Bearer t".parse().unwrap())]
                .into_iter()
                .collect(),
        };
        let request = || {
            async_graphql::Request::new(*query)
                .variables(async_graphql::Variables::from_json(variables.clone()))
        };
        let oracle = gw.execute(request(), cx()).await;
        let planned = gw.execute_rendered(request(), cx()).await;
        let planned_json: Value = serde_json::from_slice(&planned.body).unwrap();
        assert_eq!(
            normalized(planned_json),
            normalized(serde_json::to_value(&oracle.response).unwrap()),
            "{query}"
        );
        assert_eq!(planned.headers, oracle.headers, "{query}");
    }
}

#[tokio::test]
async fn a_missing_path_argument_is_an_error_not_another_url() {
    let (gw, hits) = gateway().await;
    let (response, _) = run(&gw, "{ maybeUser { id } }", json!({}), &[]).await;
    assert_eq!(
        error_codes(&response),
        vec![("maybeUser".into(), "UPSTREAM_INVALID_REQUEST".into())]
    );
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("args.id"),
        "{response}"
    );
    assert_eq!(hits.get("/users/"), 0);
}

#[tokio::test]
async fn prepare_types_the_selected_operation_once_and_names_why_none_runs() {
    use async_graphql::parser::types::OperationType;
    use engine::gateway::NotRunnable;
    use engine::plan::compile::NoOperation;
    let (gateway, _) = gateway().await;
    let prepare = |query: &str, name: Option<&str>| {
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = name {
            request = request.operation_name(name);
        }
        gateway.prepare(request).map(|p| p.operation_type())
    };
    let doc = "query A { __typename } mutation B { __typename }";
    assert_eq!(prepare(doc, Some("A")), Ok(OperationType::Query));
    assert_eq!(prepare(doc, Some("B")), Ok(OperationType::Mutation));
    // The second answer comes from the plan cache and must agree.
    assert_eq!(prepare(doc, Some("B")), Ok(OperationType::Mutation));
    assert_eq!(
        prepare(doc, Some("C")),
        Err(NotRunnable::NoOperation(NoOperation::Unknown("C".into())))
    );
    assert_eq!(
        prepare(doc, None),
        Err(NotRunnable::NoOperation(NoOperation::NameRequired))
    );
    assert!(matches!(prepare("{ a", None), Err(NotRunnable::Parse(_))));
    // A document over the limits is not cached, and is still typed.
    let (limited, _) = gateway_with(Limits {
        max_depth: 1,
        ..Limits::default()
    })
    .await;
    let deep =
        async_graphql::Request::new("mutation M { createPost(input: {title: \"t\"}) { id } }");
    let prepared = limited.prepare(deep).unwrap();
    assert_eq!(prepared.operation_type(), OperationType::Mutation);
    let rendered = limited
        .execute_prepared(prepared, RequestContext::default())
        .await;
    let answer: Value = serde_json::from_slice(&rendered.body).unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "DEPTH_LIMIT",
        "{answer}"
    );
}

#[tokio::test]
async fn a_union_member_that_no_fragment_selects_is_an_empty_object() {
    // The spec's CompleteValue: the member's (empty) sub-selection executes to `{}`.
    // async-graphql's executor answers `null` here; the plan executor, which serves
    // requests, follows the spec.
    let (gw, _) = gateway().await;
    let request = async_graphql::Request::new("{ pets { ... on Dog { name } } }");
    let rendered = gw
        .execute_rendered(request, RequestContext::default())
        .await;
    let response: Value = serde_json::from_slice(&rendered.body).unwrap();
    assert_eq!(response.get("errors"), None, "{response}");
    let pets = response["data"]["pets"].as_array().unwrap();
    assert!(pets.iter().any(|p| p.get("name").is_some()), "{response}");
    assert!(pets.iter().any(|p| *p == json!({})), "{response}");
}
