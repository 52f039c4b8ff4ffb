//! `graft demo`: the zero-setup tour. Starts a sample REST upstream (users and posts, with
//! its own OpenAPI 3 document at `/openapi.json`) and a sample gRPC upstream (the standard
//! health service, with server reflection) on 127.0.0.1, compiles them with the OpenAPI and
//! gRPC ingest, adds two hand-written links, and serves the unified graph with the explorer,
//! printing the URL to open.
//!
//! The sample upstream is also what the server's tests query through graft.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use schema_gen::ingest::openapi::{self, NoExternalRefs, OpenApiOptions};
use schema_gen::parse::SdlFile;

use crate::commands::serve::CommonArgs;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(args: DemoArgs) -> ExitCode {
    let mut config = match args.common.config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("graft: {message}");
            return ExitCode::FAILURE;
        }
    };
    // The demo listens on loopback unless told otherwise.
    if args.common.listen.is_none() && args.common.config.is_none() {
        config.listen = "127.0.0.1:8080".into();
    }
    crate::telemetry::init_logs(config.log_format);
    let upstream = match start_upstream().await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("graft: cannot start the demo upstream: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "demo REST upstream on http://{upstream} (OpenAPI document at http://{upstream}/openapi.json)"
    );
    let mut files = match schema_files(upstream) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("graft: {message}");
            return ExitCode::FAILURE;
        }
    };
    match grpc_schema_file().await {
        Ok((endpoint, file)) => {
            eprintln!(
                "demo gRPC upstream on {endpoint} (grpc.health.v1.Health, server reflection)"
            );
            files.push(file);
        }
        Err(message) => {
            eprintln!("graft: {message}");
            return ExitCode::FAILURE;
        }
    }
    let checked = schema_gen::parse::parse_files(&files);
    for diagnostic in checked.diagnostics.iter().filter(|d| d.is_error()) {
        eprintln!("{diagnostic}");
    }
    let Some(catalog) = checked.catalog else {
        eprintln!("graft: the demo schema does not compile (a bug)");
        return ExitCode::FAILURE;
    };
    eprintln!(
        "open the explorer at the URL below in a browser; try {{ posts {{ title author {{ name }} }} }}"
    );
    crate::commands::serve::serve_catalog(catalog, config).await
}

/// The executable schema files of the demo graph for an upstream at `upstream`: what the
/// OpenAPI ingest makes of [`OPENAPI`], plus [`LINKS`] between its types.
pub fn schema_files(upstream: SocketAddr) -> Result<Vec<SdlFile>, String> {
    let options = OpenApiOptions::new("demo").with_base_url(format!("http://{upstream}"));
    let ingested = openapi::ingest(OPENAPI, &NoExternalRefs, &options);
    let Some(catalog) = ingested.catalog else {
        let found: Vec<String> = ingested
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(format!(
            "the demo spec does not compile: {}",
            found.join("; ")
        ));
    };
    Ok(vec![
        SdlFile::new("demo.graphql", schema_gen::emit::sdl(&catalog)),
        SdlFile::new("demo-links.graphql", LINKS),
    ])
}

/// Starts the sample gRPC upstream — `grpc.health.v1.Health` with server reflection — and
/// compiles it the way `graft gen grpc` does: described by reflection, then ingested.
pub async fn grpc_schema_file() -> Result<(String, SdlFile), String> {
    let addr = start_grpc_upstream()
        .await
        .map_err(|e| format!("cannot start the demo gRPC upstream: {e}"))?;
    let endpoint = format!("http://{addr}");
    let pool = engine::upstream::grpc::describe(&endpoint, std::time::Duration::from_secs(10))
        .await
        .map_err(|e| format!("cannot describe the demo gRPC upstream: {e}"))?;
    let options = schema_gen::ingest::grpc::GrpcOptions::new("health", endpoint.clone());
    let ingested = schema_gen::ingest::grpc::ingest(&pool, &options);
    let catalog = ingested
        .catalog
        .ok_or("the demo gRPC upstream does not compile (a bug)")?;
    Ok((
        endpoint,
        SdlFile::new("demo-grpc.graphql", schema_gen::emit::sdl(&catalog)),
    ))
}

/// Serves tonic's `grpc.health.v1.Health` (reporting `demo.Blog` as SERVING) with reflection
/// v1 and v1alpha on an ephemeral loopback port.
pub async fn start_grpc_upstream() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("demo.Blog", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = reflection().build_v1().map_err(std::io::Error::other)?;
    let v1alpha = reflection()
        .build_v1alpha()
        .map_err(std::io::Error::other)?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        // The reporter owns the statuses Watch streams follow: keep it as long as the server.
        let _reporter = reporter;
        let served = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(v1)
            .add_service(v1alpha)
            .serve_with_incoming(incoming)
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the demo gRPC upstream stopped");
        }
    });
    Ok(addr)
}

/// Links the generated graph cannot know about, written by hand as users would.
pub const LINKS: &str = r#"type User {
  "Their posts."
  posts: [Post!] @rest(source: "demo", path: "/users/{{parent.id}}/posts")
}

type Post {
  "Who wrote it (batched: one call for every post of a response)."
  author: User @rest(source: "demo", path: "/users/{{parent.userId}}", batch: {path: "/users", query: "id", key: "id"})
}
"#;

/// The sample upstream's OpenAPI 3 document.
pub const OPENAPI: &str = r##"{
  "openapi": "3.0.3",
  "info": { "title": "graft demo blog", "version": "1.0.0" },
  "paths": {
    "/users": {
      "get": {
        "operationId": "users",
        "summary": "Every user (or those whose ids are given).",
        "parameters": [{ "name": "id", "in": "query", "schema": { "type": "array", "items": { "type": "integer" } } }],
        "responses": { "200": { "description": "Users", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/User" } } } } } }
      }
    },
    "/users/{id}": {
      "get": {
        "operationId": "user",
        "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
        "responses": {
          "200": { "description": "The user", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } } },
          "404": { "description": "No such user" }
        }
      }
    },
    "/users/{id}/posts": {
      "get": {
        "operationId": "userPosts",
        "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
        "responses": { "200": { "description": "Their posts", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Post" } } } } } }
      }
    },
    "/posts": {
      "get": {
        "operationId": "posts",
        "responses": { "200": { "description": "Posts", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Post" } } } } } }
      },
      "post": {
        "operationId": "createPost",
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewPost" } } } },
        "responses": { "201": { "description": "Created", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Post" } } } } }
      }
    },
    "/posts/{id}": {
      "get": {
        "operationId": "post",
        "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
        "responses": {
          "200": { "description": "The post", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Post" } } } },
          "404": { "description": "No such post" }
        }
      }
    }
  },
  "components": {
    "schemas": {
      "User": {
        "type": "object",
        "description": "A person who writes posts.",
        "required": ["id", "name", "email"],
        "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "email": { "type": "string", "format": "email" } }
      },
      "Post": {
        "type": "object",
        "description": "A blog post.",
        "required": ["id", "userId", "title", "body"],
        "properties": { "id": { "type": "integer" }, "userId": { "type": "integer" }, "title": { "type": "string" }, "body": { "type": "string" } }
      },
      "NewPost": {
        "type": "object",
        "required": ["userId", "title", "body"],
        "properties": { "userId": { "type": "integer" }, "title": { "type": "string" }, "body": { "type": "string" } }
      }
    }
  }
}
"##;

#[derive(Default)]
struct Blog {
    users: Vec<Value>,
    posts: Vec<Value>,
}

type Shared = Arc<Mutex<Blog>>;

fn seed() -> Blog {
    let users = [
        (1, "Ada Lovelace", "ada@example.com"),
        (2, "Alan Turing", "alan@example.com"),
        (3, "Grace Hopper", "grace@example.com"),
    ]
    .into_iter()
    .map(|(id, name, email)| json!({ "id": id, "name": name, "email": email }))
    .collect();
    let posts = [
        (
            1,
            1,
            "Notes on the Analytical Engine",
            "It weaves algebraic patterns.",
        ),
        (
            2,
            2,
            "Computing Machinery and Intelligence",
            "Can machines think?",
        ),
        (3, 3, "The first bug", "A moth in relay 70."),
        (4, 1, "Bernoulli numbers", "Note G."),
    ]
    .into_iter()
    .map(
        |(id, user, title, body)| json!({ "id": id, "userId": user, "title": title, "body": body }),
    )
    .collect();
    Blog { users, posts }
}

/// The sample REST upstream as an axum app (fresh data per call).
pub fn upstream_app() -> Router {
    let blog: Shared = Arc::new(Mutex::new(seed()));
    Router::new()
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    OPENAPI,
                )
            }),
        )
        .route("/users", get(users))
        .route("/users/{id}", get(user))
        .route("/users/{id}/posts", get(user_posts))
        .route("/posts", get(posts).post(create_post))
        .route("/posts/{id}", get(post))
        .with_state(blog)
}

/// Serves [`upstream_app`] on an ephemeral loopback port.
pub async fn start_upstream() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, upstream_app()).await {
            tracing::error!(error = %e, "the demo upstream stopped");
        }
    });
    Ok(addr)
}

fn lock(blog: &Shared) -> std::sync::MutexGuard<'_, Blog> {
    // A poisoned lock still holds consistent JSON values.
    blog.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "message": format!("no such {what}") })),
    )
        .into_response()
}

/// `GET /users?id=1&id=2`: the batch endpoint behind `Post.author`.
async fn users(State(blog): State<Shared>, RawQuery(query): RawQuery) -> Json<Value> {
    let ids: Vec<i64> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let blog = lock(&blog);
    let users = blog
        .users
        .iter()
        .filter(|u| ids.is_empty() || ids.iter().any(|id| u["id"] == *id))
        .cloned()
        .collect();
    Json(Value::Array(users))
}

async fn user(State(blog): State<Shared>, Path(id): Path<i64>) -> Response {
    lock(&blog)
        .users
        .iter()
        .find(|u| u["id"] == id)
        .map_or_else(|| not_found("user"), |u| Json(u.clone()).into_response())
}

async fn user_posts(State(blog): State<Shared>, Path(id): Path<i64>) -> Json<Value> {
    Json(Value::Array(
        lock(&blog)
            .posts
            .iter()
            .filter(|p| p["userId"] == id)
            .cloned()
            .collect(),
    ))
}

async fn posts(State(blog): State<Shared>) -> Json<Value> {
    Json(Value::Array(lock(&blog).posts.clone()))
}

async fn post(State(blog): State<Shared>, Path(id): Path<i64>) -> Response {
    lock(&blog)
        .posts
        .iter()
        .find(|p| p["id"] == id)
        .map_or_else(|| not_found("post"), |p| Json(p.clone()).into_response())
}

async fn create_post(State(blog): State<Shared>, Json(input): Json<Value>) -> Response {
    let (Some(user), Some(title), Some(body)) = (
        input["userId"].as_i64(),
        input["title"].as_str(),
        input["body"].as_str(),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "message": "userId, title and body are required" })),
        )
            .into_response();
    };
    let mut blog = lock(&blog);
    let id = blog.posts.len() as i64 + 1;
    let post = json!({ "id": id, "userId": user, "title": title, "body": body });
    blog.posts.push(post.clone());
    (StatusCode::CREATED, Json(post)).into_response()
}
