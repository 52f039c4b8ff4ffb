//! The `graft` binary as users and Kubernetes run it: exit codes, config, the config schema
//! drift check, graceful shutdown on SIGTERM, JSON logs, `graft demo`, and reading a spec over
//! HTTPS and through a proxy.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const GRAFT: &str = env!("CARGO_BIN_EXE_graft");

fn graft() -> Command {
    configure(Command::new(GRAFT))
}

/// The settings every spawned graft gets: no inherited listen address, log format or filter.
fn configure(mut command: Command) -> Command {
    command
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .env_remove("GRAFT_LISTEN")
        .env_remove("GRAFT_LOG_FORMAT")
        .env_remove("RUST_LOG");
    command
}

async fn output(args: &[&str]) -> std::process::Output {
    let run = graft().args(args).output();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("graft did not finish")
        .unwrap()
}

/// Writes the test graph for `upstream` into `dir`, returning the file paths.
fn write_schema(dir: &Path, upstream: std::net::SocketAddr) -> Vec<PathBuf> {
    common::schema_files(upstream)
        .into_iter()
        .map(|file| {
            let path = dir.join(&file.path);
            std::fs::write(&path, file.text).unwrap();
            path
        })
        .collect()
}

/// A running `graft serve`, its GraphQL URL read from its first stdout line.
struct Running {
    child: Child,
    url: String,
    stderr: tokio::task::JoinHandle<Vec<String>>,
}

async fn spawn(args: &[String]) -> Running {
    spawn_with_env(args, &[]).await
}

async fn spawn_with_env(args: &[String], env: &[(&str, &str)]) -> Running {
    spawn_command(graft(), args, env).await
}

async fn spawn_command(mut command: Command, args: &[String], env: &[(&str, &str)]) -> Running {
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    let line = match first {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.kill().await;
            let log = stderr.await.unwrap_or_default().join("\n");
            panic!("graft did not print its URL ({other:?}); stderr:\n{log}");
        }
    };
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Running { child, url, stderr }
}

fn terminate(child: &Child) {
    signal(child, "-TERM");
}

fn signal(child: &Child, signal: &str) {
    let pid = child.id().expect("the process already exited");
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn exit_code(child: &mut Child, within: Duration) -> i32 {
    let status = tokio::time::timeout(within, child.wait())
        .await
        .expect("graft did not exit in time")
        .unwrap();
    status.code().expect("graft was killed by a signal")
}

#[tokio::test]
async fn graft_without_a_command_is_a_usage_error_with_exit_code_2() {
    assert_eq!(output(&[]).await.status.code(), Some(2));
    assert_eq!(
        output(&["serve", "--no-such-flag", "x.graphql"])
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(output(&["serve"]).await.status.code(), Some(2));
    assert_eq!(output(&["--help"]).await.status.code(), Some(0));
}

#[tokio::test]
async fn serve_with_a_missing_file_exits_1_with_a_message() {
    let out = output(&[
        "serve",
        "/nonexistent/schema.graphql",
        "--listen",
        "127.0.0.1:0",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/schema.graphql"), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_a_schema_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.graphql");
    std::fs::write(&path, "type Query { a: String @nosuch }").unwrap();
    let out = output(&["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UNKNOWN_DIRECTIVE"), "{stderr}");
}

#[tokio::test]
async fn serve_rejects_a_config_file_with_unknown_keys_or_a_bad_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("s.graphql");
    std::fs::write(&schema, "type Query { a: String }").unwrap();
    let config = dir.path().join("graft.yaml");
    std::fs::write(&config, "limits:\n  max_deepth: 3\n").unwrap();
    let out = output(&[
        "serve",
        schema.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_deepth"));
    let out = output(&[
        "serve",
        schema.to_str().unwrap(),
        "--listen",
        "not-an-address",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn the_committed_config_schema_matches_the_generated_one() {
    let out = output(&["config-schema"]).await;
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/config.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/config.schema.json is out of date; regenerate it with\n  cargo run -p graft -- config-schema > schemas/config.schema.json"
    );
    let schema: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(schema["additionalProperties"], false);
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_and_exits_0() {
    let upstream = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["serve".to_owned()];
    args.extend(
        write_schema(dir.path(), upstream)
            .iter()
            .map(|p| p.display().to_string()),
    );
    args.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
    let mut running = spawn(&args).await;
    let url = running.url.clone();
    let before = common::SLOW_STARTED.load(std::sync::atomic::Ordering::SeqCst);
    let in_flight = tokio::spawn(async move {
        common::client()
            .post(url)
            .header("content-type", "application/json")
            .body(json!({ "query": "{ slow(ms: 1500) { ms } }" }).to_string())
            .send()
            .await
    });
    common::slow_call_started(before).await;
    let signalled = Instant::now();
    terminate(&running.child);
    // New connections are refused once the signal is handled (polled: under load that
    // takes a moment), while the in-flight request keeps running.
    let addr = running
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/graphql")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "graft still accepts connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was cut off");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["slow"]["ms"], 1500, "{body}");
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_drain_is_bounded_by_the_configured_time() {
    let upstream = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("graft.yaml");
    std::fs::write(&config, "timeouts:\n  drain_ms: 300\n").unwrap();
    let mut args = vec!["serve".to_owned()];
    args.extend(
        write_schema(dir.path(), upstream)
            .iter()
            .map(|p| p.display().to_string()),
    );
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ]
        .map(str::to_owned),
    );
    let mut running = spawn(&args).await;
    let url = running.url.clone();
    let before = common::SLOW_STARTED.load(std::sync::atomic::Ordering::SeqCst);
    let in_flight = tokio::spawn(async move {
        common::client()
            .post(url)
            .header("content-type", "application/json")
            .body(json!({ "query": "{ slow(ms: 15000) { ms } }" }).to_string())
            .send()
            .await
    });
    common::slow_call_started(before).await;
    let signalled = Instant::now();
    // Ctrl+C (SIGINT) drains like SIGTERM.
    signal(&running.child, "-INT");
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the slow request should have been cut off"
    );
}

#[tokio::test]
async fn json_access_logs_carry_the_request_id() {
    let upstream = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["serve".to_owned()];
    args.extend(
        write_schema(dir.path(), upstream)
            .iter()
            .map(|p| p.display().to_string()),
    );
    let config = dir.path().join("graft.yaml");
    std::fs::write(&config, "access_log: true\n").unwrap();
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--config",
            config.to_str().unwrap(),
        ]
        .map(str::to_owned),
    );
    let mut running = spawn(&args).await;
    let response = common::client()
        .post(&running.url)
        .header("content-type", "application/json")
        .header("x-request-id", "log-me-123")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    terminate(&running.child);
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
    let lines = running.stderr.await.unwrap();
    let logs: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !logs.is_empty(),
        "no JSON log lines in:\n{}",
        lines.join("\n")
    );
    assert!(
        logs.iter().any(|l| l.to_string().contains("log-me-123")),
        "request id not logged:\n{}",
        lines.join("\n")
    );
}

/// The demo's graph answers a query joining its REST posts, their linked authors and the
/// gRPC health check.
async fn assert_demo_answers(url: &str) {
    let response = common::client()
        .post(url)
        .header("content-type", "application/json")
        .body(json!({ "query": r#"{ posts { title author { name } } check(service: "demo.Blog") { status } }"# }).to_string())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["posts"][0]["author"]["name"], "Ada Lovelace",
        "{body}"
    );
    assert_eq!(body["data"]["check"]["status"], "SERVING", "{body}");
}

/// With one CPU (here an affinity mask; in a pod, a CPU quota of one core) graft runs tokio's
/// single-threaded scheduler, and still serves REST and gRPC fields and drains on SIGTERM.
#[tokio::test]
async fn on_one_cpu_graft_runs_the_single_threaded_scheduler_and_serves() {
    let mut one_cpu = Command::new("taskset");
    one_cpu.args(["-c", "0", GRAFT]);
    let args = ["demo", "--listen", "127.0.0.1:0"].map(str::to_owned);
    let mut running = spawn_command(configure(one_cpu), &args, &[]).await;
    assert_demo_answers(&running.url).await;
    // Every transport's calls are measured, the gRPC one included.
    let metrics_url = running.url.replace("/graphql", "/metrics");
    let metrics = common::client().get(&metrics_url).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for source in ["demo", "health"] {
        let counted = format!("graft_upstream_calls_total{{source=\"{source}\",outcome=\"ok\"}}");
        assert!(
            metrics.contains(&counted),
            "{counted} missing from:\n{metrics}"
        );
    }
    terminate(&running.child);
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
    let logs = running.stderr.await.unwrap().join("\n");
    assert!(
        logs.contains("async runtime") && logs.contains("current_thread"),
        "{logs}"
    );
}

#[tokio::test]
async fn graft_demo_serves_the_rest_and_grpc_samples_as_one_graph() {
    let mut running = spawn(&[
        "demo".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ])
    .await;
    assert_demo_answers(&running.url).await;
    terminate(&running.child);
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
}

#[tokio::test]
async fn the_listen_address_and_log_format_can_come_from_the_environment() {
    let upstream = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["serve".to_owned()];
    args.extend(
        write_schema(dir.path(), upstream)
            .iter()
            .map(|p| p.display().to_string()),
    );
    let env = [
        ("GRAFT_LISTEN", "127.0.0.1:0"),
        ("GRAFT_LOG_FORMAT", "json"),
    ];
    let mut running = spawn_with_env(&args, &env).await;
    let health = common::client()
        .get(running.url.replace("/graphql", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    terminate(&running.child);
    assert_eq!(
        exit_code(&mut running.child, Duration::from_secs(10)).await,
        0
    );
    let lines = running.stderr.await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{}",
        lines.join("\n")
    );
}

/// A one-operation OpenAPI spec, served by the HTTPS and proxy tests below.
const PETS_SPEC: &str = r#"{"openapi": "3.0.0", "info": {"title": "pets", "version": "1"},
    "paths": {"/pets": {"get": {"operationId": "listPets", "responses": {"200": {
    "description": "ok", "content": {"application/json": {"schema": {"type": "array",
    "items": {"type": "string"}}}}}}}}}}"#;

/// An HTTPS server on 127.0.0.1 with a self-signed certificate for that address, answering
/// every request with `body`; returns its address and the certificate (PEM).
async fn https_upstream(body: &'static str) -> (std::net::SocketAddr, String) {
    use std::sync::Arc;
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(ca.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ca.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let answer = hyper::service::service_fn(|_request| async {
                    let body =
                        http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes()));
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), answer)
                    .await;
            });
        }
    });
    (addr, ca.cert.pem())
}

/// HTTPS goes through the upstream client's TLS path (reqwest, rustls, the system's roots):
/// a spec is read from a server whose certificate is trusted, and refused from one whose
/// certificate is not.
#[tokio::test]
async fn a_spec_is_read_over_https_only_from_a_trusted_server() {
    let (addr, cert) = https_upstream(PETS_SPEC).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, cert).unwrap();
    let url = format!("https://{addr}/spec.json");
    let generate = |trusted: bool| {
        let mut command = graft();
        command.args(["gen", "openapi", &url, "--name", "pets"]);
        // rustls-native-certs reads SSL_CERT_FILE: the test's certificate is the only root.
        if trusted {
            command.env("SSL_CERT_FILE", &ca_file);
        }
        command.output()
    };
    let trusted = generate(true).await.unwrap();
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(stdout.contains("listPets"), "{stdout}");

    let untrusted = generate(false).await.unwrap();
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success());
    assert!(
        stderr.contains(&url) && stderr.to_lowercase().contains("certificate"),
        "{stderr}"
    );
}

/// An HTTP server on 127.0.0.1 that answers every request with `body` and records the request
/// targets it was asked for: as a forward proxy, absolute URLs; as a server, paths.
async fn recording_server(
    body: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let answer = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    log.lock().unwrap().push(request.uri().to_string());
                    let body =
                        http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes()));
                    async move { Ok::<_, std::convert::Infallible>(hyper::Response::new(body)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), answer)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// While `HTTP_PROXY` is set, plain-HTTP targets go through it (the upstream client hands
/// them to reqwest, which applies the system proxy): a spec on a host that does not resolve
/// is read through the proxy, and one on a host `NO_PROXY` names is read directly.
#[tokio::test]
async fn with_a_proxy_configured_plain_http_goes_through_it_unless_no_proxy_names_the_host() {
    let (proxy, seen) = recording_server(PETS_SPEC).await;
    let proxy_url = format!("http://{proxy}");
    // `graft gen openapi <url>` with the proxy set, and `NO_PROXY` set to `no_proxy` or unset;
    // it must succeed.
    let gen_spec = |url: String, no_proxy: Option<&'static str>| {
        let mut command = graft();
        command
            .args(["gen", "openapi", &url, "--name", "pets"])
            .env("HTTP_PROXY", &proxy_url)
            .env("http_proxy", &proxy_url);
        match no_proxy {
            Some(hosts) => command.env("NO_PROXY", hosts).env("no_proxy", hosts),
            None => command.env_remove("NO_PROXY").env_remove("no_proxy"),
        };
        async move {
            let out = command.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let url = "http://spec.example.invalid/spec.json";
    assert!(gen_spec(url.to_string(), None).await.contains("listPets"));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![url.to_string()],
        "asked in absolute form"
    );

    // NO_PROXY names the hosts reached directly.
    let (direct, asked) = recording_server(PETS_SPEC).await;
    gen_spec(format!("http://{direct}/spec.json"), Some("127.0.0.1")).await;
    assert_eq!(*asked.lock().unwrap(), vec!["/spec.json".to_string()]);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the proxy was not asked again"
    );
}
