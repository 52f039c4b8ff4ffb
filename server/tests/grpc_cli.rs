//! The gRPC pipeline through the real `graft` binary: `gen grpc` (reflection and
//! `--descriptor-set`) → `check` → `serve`, queried over HTTP, against graft's tonic test server.

#[path = "../../engine/tests/grpc_server/mod.rs"]
mod grpc_server;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const GRAFT: &str = env!("CARGO_BIN_EXE_graft");

fn graft(args: &[&str]) -> Output {
    Command::new(GRAFT).args(args).output().unwrap()
}

fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("graft-grpc-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `graft serve`, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `graft serve SCHEMA` and posts `query` once it answers (within 10 s).
async fn serve_and_query(schema: &std::path::Path, query: &str) -> Value {
    let listen = format!("127.0.0.1:{}", free_port());
    let _serving = Serving(
        Command::new(GRAFT)
            .args(["serve", schema.to_str().unwrap(), "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let url = format!("http://{listen}/graphql");
    for _ in 0..100 {
        if let Ok(response) = client
            .post(&url)
            .json(&json!({ "query": query }))
            .send()
            .await
        {
            return response.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("graft serve never answered on {listen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_grpc_by_reflection_checks_and_serves_the_upstream() {
    let upstream = grpc_server::start(grpc_server::Reflection::V1alphaOnly).await;
    let dir = temp_dir("reflection");
    let schema = dir.join("kitchen.graphql");
    let addr = upstream.addr.to_string();
    let out = graft(&[
        "gen",
        "grpc",
        &addr,
        "--name",
        "kitchen",
        "-o",
        schema.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sdl = std::fs::read_to_string(&schema).unwrap();
    assert!(
        sdl.contains(r#"@grpc(source: "kitchen", method: "graft.test.v1.Kitchen/ListPets")"#),
        "{sdl}"
    );

    let out = graft(&["check", schema.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let answer = serve_and_query(&schema, "{ listPets { pets { id name status } } }").await;
    assert_eq!(
        answer["data"]["listPets"]["pets"][1],
        json!({"id": 9_007_199_254_740_993_i64, "name": "pet 9007199254740993", "status": "AVAILABLE"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_reflection_is_served_through_its_descriptor_set() {
    let upstream = grpc_server::start(grpc_server::Reflection::Off).await;
    let (_, bytes) = grpc_server::descriptors();
    let dir = temp_dir("no-reflection");
    let set = dir.join("kitchen.binpb");
    std::fs::write(&set, bytes).unwrap();
    let schema = dir.join("kitchen.graphql");
    let addr = upstream.addr.to_string();
    let out = graft(&[
        "gen",
        "grpc",
        &addr,
        "--descriptor-set",
        set.to_str().unwrap(),
        "--name",
        "kitchen",
        "-o",
        schema.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sdl = std::fs::read_to_string(&schema).unwrap();
    assert!(sdl.contains("descriptorSet: "), "{sdl}");

    let answer = serve_and_query(&schema, "{ listPets { pets { id status } } }").await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    assert_eq!(
        answer["data"]["listPets"]["pets"][1]["status"], "AVAILABLE",
        "{answer}"
    );
}

#[test]
fn gen_grpc_from_a_descriptor_set_needs_no_server() {
    let (_, bytes) = grpc_server::descriptors();
    let dir = temp_dir("descriptor-set");
    let set = dir.join("kitchen.binpb");
    std::fs::write(&set, bytes).unwrap();
    let out = graft(&[
        "gen",
        "grpc",
        "127.0.0.1:9",
        "--descriptor-set",
        set.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sdl = String::from_utf8(out.stdout).unwrap();
    assert!(
        sdl.contains(r#"grpc: {endpoint: "http://127.0.0.1:9", descriptorSet: "#),
        "{sdl}"
    );
    assert!(sdl.contains("subscription: Subscription"), "{sdl}");
}

#[test]
fn gen_grpc_against_nothing_fails_with_a_message_not_a_panic() {
    let port = free_port();
    let out = graft(&["gen", "grpc", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect") || stderr.contains("cannot fetch"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let dir = temp_dir("bad-set");
    let set = dir.join("bad.binpb");
    std::fs::write(&set, b"\xff\xff").unwrap();
    let out = graft(&[
        "gen",
        "grpc",
        "127.0.0.1:9",
        "--descriptor-set",
        set.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unusable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_endpoint_is_described_over_tls() {
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = ca.cert.pem();
    let upstream = grpc_server::start_tls(&cert, &ca.signing_key.serialize_pem()).await;
    let dir = temp_dir("tls");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let endpoint = format!("https://{}", upstream.addr);
    // rustls-native-certs reads SSL_CERT_FILE: the test CA is the only trusted root.
    let run = move |trust: bool| {
        let mut command = Command::new(GRAFT);
        command.args(["gen", "grpc", &endpoint, "--name", "kitchen"]);
        if trust {
            command.env("SSL_CERT_FILE", &ca_file);
        }
        command.output().unwrap()
    };
    let trusted = tokio::task::spawn_blocking(move || (run(true), run(false)))
        .await
        .unwrap();
    let (ok, untrusted) = trusted;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let sdl = String::from_utf8(ok.stdout).unwrap();
    assert!(
        sdl.contains(&format!(
            r#"grpc: {{endpoint: "https://{}"}}"#,
            upstream.addr
        )),
        "{sdl}"
    );
    assert_eq!(
        untrusted.status.code(),
        Some(1),
        "an unknown CA must not be trusted"
    );
}
