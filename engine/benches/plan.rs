//! Criterion benches of the plan executor's hot path: a whole request (plan cache lookup,
//! validation cache, level-by-level execution, batch mapping, JSON writing) with every
//! upstream answer served from the in-memory response cache, so no network is measured.
//!
//! `cargo bench -p engine --bench plan`. The upstream (127.0.0.1, ephemeral port) is only
//! called once per distinct request while warming up; the fields declare `cacheTtl`.

use std::sync::Arc;

use axum::Json;
use axum::extract::RawQuery;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use engine::plan::PlanOptions;
use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::parse::{SdlFile, parse_files};
use serde_json::{Value, json};

const SDL: &str = r#"
schema @source(name: "placeholder", rest: {baseUrl: "{{env.UPSTREAM_URL}}"}) { query: Query }
type Query { posts: [Post] @rest(source: "placeholder", path: "/posts", cacheTtl: 3600) }
type Post {
  id: Int!
  userId: Int!
  title: String!
  body: String!
  user: User @rest(source: "placeholder", path: "/users/{{parent.userId}}", cacheTtl: 3600,
                   batch: {path: "/users", query: "id", key: "id", maxSize: 100})
}
type User { id: Int! name: String! username: String! email: String! phone: String website: String }
"#;

fn user(id: u64) -> Value {
    json!({"id": id, "name": format!("Name {id}"), "username": format!("user{id}"), "email": format!("u{id}@example.com"),
           "phone": "1-770-736-8031", "website": "example.org", "address": {"street": "Main", "city": "X"}})
}

async fn upstream() -> String {
    let posts: Value = (1..=100u64)
        .map(|i| json!({"id": i, "userId": (i - 1) / 10 + 1, "title": format!("title {i} lorem ipsum"), "body": "b".repeat(200)}))
        .collect();
    let app = axum::Router::new()
        .route(
            "/posts",
            get(move || {
                let posts = posts.clone();
                async move { Json(posts) }
            }),
        )
        .route(
            "/users",
            get(|RawQuery(q): RawQuery| async move {
                let ids = q.unwrap_or_default();
                Json(
                    ids.split('&')
                        .filter_map(|kv| kv.strip_prefix("id=")?.parse().ok())
                        .map(user)
                        .collect::<Value>(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(upstream());
    let catalog = parse_files(&[SdlFile::new("bench.graphql", SDL)])
        .catalog
        .unwrap();
    let gateway = Arc::new(
        Gateway::build_with_plan(
            &catalog,
            GatewayOptions::default(),
            Some(PlanOptions::default()),
            &|name| (name == "UPSTREAM_URL").then(|| base.clone()),
        )
        .unwrap(),
    );
    for (name, query) in [
        ("q1 {posts{id title}}", "{posts{id title}}"),
        (
            "q2 {posts{id userId title user{id name email}}}",
            "{posts{id userId title user{id name email}}}",
        ),
    ] {
        let run = || {
            let gateway = Arc::clone(&gateway);
            async move {
                let rendered = gateway
                    .execute_rendered(
                        async_graphql::Request::new(query),
                        RequestContext::default(),
                    )
                    .await;
                assert!(!rendered.has_errors);
                rendered.body.len()
            }
        };
        runtime.block_on(run());
        c.bench_function(&format!("execute_rendered (cached upstream) {name}"), |b| {
            b.to_async(&runtime).iter(run)
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
