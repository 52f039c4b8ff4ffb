//! Shared fixtures of the plan executor's tests: a real axum upstream on 127.0.0.1 (posts,
//! users with a batch endpoint, unions, enums, lists of lists, failures, answers with the
//! `Cache-Control` a test asks for) and gateways built over it with and without the plan
//! executor.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use engine::plan::PlanOptions;
use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::parse::{SdlFile, parse_files};
use serde_json::{Value, json};

pub const SDL: &str = r#"
schema @source(name: "up", rest: {baseUrl: "{{env.UP}}"}, forwardHeaders: ["authorization"]) { query: Query mutation: Mutation }

type Query {
  posts: [Post] @rest(source: "up", path: "/posts")
  post(id: Int!): Post @rest(source: "up", path: "/posts/{{args.id}}")
  strictPosts: [StrictPost] @rest(source: "up", path: "/posts-bad")
  strictList: [StrictPost!] @rest(source: "up", path: "/posts-bad")
  failing: [Post] @rest(source: "up", path: "/fail")
  search(term: String = "any"): [SearchResult] @rest(source: "up", path: "/search", query: [{name: "q", value: "{{args.term}}"}])
  matrix: [[Int]] @rest(source: "up", path: "/matrix")
  pets(status: Status = AVAILABLE): [Pet] @rest(source: "up", path: "/pets", query: [{name: "status", value: "{{args.status}}"}])
  orphans: [Post] @rest(source: "up", path: "/orphans")
  cached: Counter @rest(source: "up", path: "/counter", cacheTtl: 60)
  uncached: Counter @rest(source: "up", path: "/counter")
  slow(tag: String = "a"): Counter @rest(source: "up", path: "/slow", query: [{name: "tag", value: "{{args.tag}}"}])
}

type Post {
  id: Int!
  userId: Int
  title: String!
  headline: String @map(from: "title")
  author: User @rest(source: "up", path: "/users/{{parent.userId}}")
  user: User @rest(source: "up", path: "/users/{{parent.userId}}", batch: {path: "/users", query: "id", key: "id", maxSize: 2})
  poster: User @rest(source: "up", path: "/users/{{parent.userId}}", batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.users", key: "id", maxSize: 2})
  cachedPoster: User @rest(source: "up", path: "/users/{{parent.userId}}", cacheTtl: 60, batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.users", key: "id"})
  misplaced: User @rest(source: "up", path: "/users/{{parent.userId}}", batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.people", key: "id"})
  broken: User @rest(source: "up", path: "/users/{{parent.userId}}", batch: {path: "/fail", query: "id", key: "id"})
}

type StrictPost { id: Int! title: String! }

type User { id: Int! name: String! email: String posts: [Post] @rest(source: "up", path: "/posts") }

union SearchResult @discriminator(property: "kind", mapping: [{value: "post", type: "Post"}, {value: "user", type: "User"}]) = Post | User

enum Status { AVAILABLE @map(from: "available") SOLD @map(from: "sold-out") }

type Pet { name: String! status: Status! }

type Counter { n: Int! }

type Mutation { bump: Counter @rest(source: "up", method: POST, path: "/bump") }
"#;

/// Calls per upstream path (with query string).
#[derive(Clone, Default)]
pub struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn record(&self, path: String) {
        *self.0.lock().unwrap().entry(path).or_default() += 1;
    }
    pub fn get(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    pub fn total(&self) -> usize {
        self.0.lock().unwrap().values().sum()
    }
    pub fn batch_calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("/users?"))
            .cloned()
            .collect();
        calls.sort();
        calls
    }
    /// The recorded calls that start with `prefix`, sorted.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        let mut calls: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        calls.sort();
        calls
    }
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

fn user_json(id: i64) -> Value {
    json!({"id": id, "name": format!("user {id}"), "email": if id == 2 { Value::Null } else { json!(format!("u{id}@example.com")) }})
}

fn posts_json() -> Value {
    json!([
        {"id": 1, "userId": 1, "title": "first"},
        {"id": 2, "userId": 2, "title": "second"},
        {"id": 3, "userId": 1, "title": "third"},
        {"id": 4, "userId": 3, "title": "fourth"},
        {"id": 5, "userId": 2, "title": "fifth"},
    ])
}

async fn route(
    State(hits): State<Hits>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> axum::response::Response {
    let full = match &query {
        Some(q) => format!("/{path}?{q}"),
        None => format!("/{path}"),
    };
    hits.record(full);
    let ids: Vec<i64> = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("id="))
        .filter_map(|v| v.parse().ok())
        .collect();
    let body = match path.as_str() {
        "posts" => posts_json(),
        "posts-bad" => json!([{"id": 1, "title": "ok"}, {"id": 2, "title": null}, {"id": 3}]),
        "orphans" => json!([
            {"id": 7, "userId": 1, "title": "a"},
            {"id": 8, "userId": 99, "title": "b"},
            {"id": 10, "userId": null, "title": "nobody's"},
            {"id": 9, "userId": 2, "title": "c"},
        ]),
        "fail" => return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "search" => json!([
            {"kind": "post", "id": 1, "userId": 2, "title": "first"},
            {"kind": "user", "id": 3, "name": "user 3"},
        ]),
        "matrix" => json!([[1, 2], [], [3, null]]),
        "pets" => {
            let status = query
                .as_deref()
                .unwrap_or("")
                .trim_start_matches("status=")
                .to_string();
            json!([{"name": format!("rex {status}"), "status": "available"}, {"name": "tom", "status": "sold-out"}])
        }
        "counter" => json!({"n": 1}),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            json!({"n": 2})
        }
        // The batch endpoint (see `sloppy_users`).
        "users" => Value::Array(sloppy_users(&ids)),
        other => match other
            .strip_prefix("users/")
            .and_then(|id| id.parse::<i64>().ok())
        {
            Some(id) if id <= 10 => user_json(id),
            Some(_) => return (StatusCode::NOT_FOUND, "no such user").into_response(),
            None => match other
                .strip_prefix("posts/")
                .and_then(|id| id.parse::<usize>().ok())
            {
                Some(id) => posts_json()
                    .get(id.wrapping_sub(1))
                    .cloned()
                    .unwrap_or(Value::Null),
                None => return (StatusCode::NOT_FOUND, "no route").into_response(),
            },
        },
    };
    Json(body).into_response()
}

/// The body batch endpoint: `POST /users/lookup {"ids": [...]}` answers `{"data": {"users":
/// [...]}}` as sloppily as `GET /users` (reverse order, a duplicate, an extra user, nothing
/// for ids above 10). Recorded as `POST /users/lookup <ids>`.
async fn lookup(State(hits): State<Hits>, Json(body): Json<Value>) -> Json<Value> {
    let ids: Vec<i64> = body["ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    hits.record(format!("POST /users/lookup {}", body["ids"]));
    Json(json!({"data": {"users": sloppy_users(&ids)}, "next": null}))
}

/// A batch endpoint's answer for `ids`: in reverse order, with a duplicate and an extra user,
/// and no item for ids above 10.
fn sloppy_users(ids: &[i64]) -> Vec<Value> {
    let mut users: Vec<Value> = ids
        .iter()
        .rev()
        .filter(|id| **id <= 10)
        .map(|id| user_json(*id))
        .collect();
    if let Some(first) = users.first().cloned() {
        users.push(first);
    }
    users.push(user_json(42));
    users
}

async fn bump(State(hits): State<Hits>) -> Json<Value> {
    hits.record("POST /bump".to_string());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Json(json!({"n": hits.get("POST /bump")}))
}

/// `/cc/{tag}` (GET and POST): `{"n": calls of this tag so far, "auth": the request's
/// Authorization}`, with the `Cache-Control` of `?cc=` and the `Age` of `?age=`;
/// `?status=500` answers that status, `?body=text` a body that is not JSON.
async fn cache_control(
    State(hits): State<Hits>,
    Path(tag): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let path = format!("/cc/{tag}");
    hits.record(path.clone());
    let mut response = match (params.get("status"), params.get("body")) {
        (Some(status), _) => {
            let status = status
                .parse()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok());
            (
                status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "failed",
            )
                .into_response()
        }
        (None, Some(_)) => "not json".into_response(),
        (None, None) => {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            Json(json!({"n": hits.get(&path), "auth": auth})).into_response()
        }
    };
    for (param, header) in [("cc", "cache-control"), ("age", "age")] {
        if let Some(value) = params.get(param) {
            response
                .headers_mut()
                .insert(header, value.parse().unwrap());
        }
    }
    response
}

/// Starts the upstream on an ephemeral 127.0.0.1 port; returns its base URL and hit counter.
pub async fn upstream() -> (String, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route("/bump", post(bump))
        .route("/users/lookup", post(lookup))
        .route("/cc/{tag}", get(cache_control).post(cache_control))
        .route("/{*path}", get(route))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

/// A gateway over [`SDL`] with default options.
pub fn gateway(base: &str, plan: Option<PlanOptions>) -> Gateway {
    gateway_for(SDL, base, GatewayOptions::default(), plan)
}

/// A gateway over `sdl`, whose sources reach the upstream at `base` through `{{env.UP}}`.
pub fn gateway_for(
    sdl: &str,
    base: &str,
    options: GatewayOptions,
    plan: Option<PlanOptions>,
) -> Gateway {
    let checked = parse_files(&[SdlFile::new("test.graphql", sdl)]);
    let catalog = checked
        .catalog
        .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    let base = base.to_string();
    Gateway::build_with_plan(&catalog, options, plan, &move |name| {
        (name == "UP").then(|| base.clone())
    })
    .unwrap()
}

pub async fn run(gateway: &Gateway, query: &str, variables: Value) -> String {
    run_as(gateway, query, variables, None).await
}

/// Runs a query with an `authorization` header (forwarded to the upstream) when given.
pub async fn run_as(
    gateway: &Gateway,
    query: &str,
    variables: Value,
    authorization: Option<&str>,
) -> String {
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let mut cx = RequestContext::default();
    if let Some(auth) = authorization {
        cx.headers.insert("authorization", auth.parse().unwrap());
    }
    let rendered = gateway.execute_rendered(request, cx).await;
    String::from_utf8(rendered.body.to_vec()).unwrap()
}
