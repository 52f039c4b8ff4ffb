//! A gRPC server not written in Rust: Python grpcio serving `grpc.health.v1.Health` with
//! reflection v1alpha only (`tests/grpc/health_server.py`), described and queried through graft.
//!
//! Needs `python3` with `pip install -r tests/grpc/requirements.txt`. Without them the tests
//! are skipped with a printed reason, except under `CI=true`, where they fail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use engine::upstream::grpc::describe;
use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::ingest::grpc::{GrpcOptions, ingest};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/grpc/health_server.py"
);

/// The Python server; killed when dropped.
struct PythonServer {
    child: Child,
    port: u16,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server, or explains why it cannot (`Err`: skip, unless in CI).
fn start() -> Result<PythonServer, String> {
    let probe = Command::new("python3")
        .args(["-c", "import grpc, grpc_reflection, grpc_health"])
        .output()
        .map_err(|e| format!("python3 is not runnable: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "python3 lacks grpcio (pip install -r tests/grpc/requirements.txt): {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {SCRIPT}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("the server printed {line:?} instead of its port"))?;
    Ok(PythonServer { child, port })
}

fn server_or_skip(test: &str) -> Option<PythonServer> {
    match start() {
        Ok(server) => Some(server),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: the Python gRPC server is required in CI: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}

#[tokio::test]
async fn python_grpcio_health_is_described_by_v1alpha_reflection_and_queried_through_graft() {
    let Some(server) = server_or_skip("python_grpcio_health") else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let pool = describe(&endpoint, Duration::from_secs(10))
        .await
        .expect("describe by v1alpha");
    // The endpoint stays a template so the snapshot does not depend on the port.
    let ingested = ingest(&pool, &GrpcOptions::new("health", "{{env.HEALTH_URL}}"));
    let catalog = ingested.catalog.expect("a catalog");
    insta::assert_snapshot!(schema_gen::emit::sdl(&catalog));

    let env = |name: &str| (name == "HEALTH_URL").then(|| endpoint.clone());
    let gateway =
        Gateway::build_with_env(&catalog, GatewayOptions::default(), &env).expect("gateway");
    let run = |query: &'static str| {
        let gateway = &gateway;
        async move {
            let answer = gateway
                .execute(
                    async_graphql::Request::new(query),
                    RequestContext::default(),
                )
                .await;
            serde_json::to_value(&answer.response).unwrap()
        }
    };
    assert_eq!(
        run(r#"{ all: check(service: "") { status } demo: check(service: "graft.demo") { status } down: check(service: "graft.down") { status } }"#).await,
        json!({"data": {"all": {"status": "SERVING"}, "demo": {"status": "SERVING"}, "down": {"status": "NOT_SERVING"}}})
    );
    // Health/Watch is server streaming: a Subscription whose first event is the status.
    let mut watch = gateway.subscribe(
        async_graphql::Request::new(r#"subscription { watch(service: "graft.demo") { status } }"#),
        RequestContext::default(),
    );
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        futures::StreamExt::next(&mut watch),
    )
    .await
    .expect("a first event in time")
    .expect("an event");
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        json!({"data": {"watch": {"status": "SERVING"}}})
    );
    drop(watch);
    let missing = run(r#"{ check(service: "nope") { status } }"#).await;
    assert_eq!(missing["data"], json!({"check": null}));
    assert_eq!(
        missing["errors"][0]["extensions"]["code"],
        Value::from("NOT_FOUND")
    );
}
