//! Shared harness for the Lambda tests: emulators (cargo-lambda, moto) started as child
//! processes on 127.0.0.1 and stopped with their whole process group when dropped, and a
//! gateway built from SDL with an injected AWS environment.
//!
//! A tool that is not installed skips the test with a printed reason, except under `CI=true`,
//! where it fails: CI must install it (`pip install cargo-lambda "moto[server]"`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::parse::{SdlFile, parse_files};
use serde_json::Value;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// True when `tool` is on PATH. When it is not: panics under `CI=true`, else prints why the
/// test is skipped and returns false.
pub fn require(tool: &str, install: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("`{tool}` is not installed; CI must install it ({install})");
    }
    eprintln!("SKIPPED: `{tool}` is not installed ({install})");
    false
}

/// A free TCP port on 127.0.0.1 (released before the emulator binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process in its own process group, killed with the group on drop (emulators spawn
/// children of their own: cargo-lambda runs each function as `cargo run`).
pub struct Emulator {
    child: Child,
    pub url: String,
    pub log: PathBuf,
    /// Where graft's test functions append every payload they receive (`GRAFT_CALL_LOG`).
    pub calls: PathBuf,
}

impl Emulator {
    /// The payloads the functions that log (`graft-batch`) received so far, in order.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut command: Command, port: u16, name: &str) -> Emulator {
    let log = workspace()
        .join("target")
        .join(format!("{name}-{port}.log"));
    let calls = call_log(port);
    let _ = std::fs::remove_file(&calls);
    let file = std::fs::File::create(&log).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .process_group(0);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Emulator {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        calls,
    }
}

/// The call log of the emulator on `port` ([`Emulator::calls`]).
fn call_log(port: u16) -> PathBuf {
    workspace()
        .join("target")
        .join(format!("lambda-calls-{port}.jsonl"))
}

/// Waits until `ready` holds, or panics with the emulator's log after `limit`.
pub async fn wait_until<F, Fut>(emulator: &Emulator, limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(&emulator.log).unwrap_or_default();
    panic!(
        "{} did not become ready within {limit:?}; log:\n{log}",
        emulator.url
    );
}

/// `cargo lambda watch` serving `tests/lambda-functions` (built first, so no invocation waits
/// for a compiler), ready to invoke. `None` when cargo-lambda is missing outside CI.
pub async fn cargo_lambda() -> Option<Emulator> {
    if !require("cargo-lambda", "pip install cargo-lambda") {
        return None;
    }
    let functions = workspace().join("tests/lambda-functions");
    let target = workspace().join("target/lambda-functions");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked"])
        .current_dir(&functions)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(built.success(), "building tests/lambda-functions failed");
    let port = free_port();
    let call_log = format!("GRAFT_CALL_LOG={}", call_log(port).display());
    let mut command = Command::new(env!("CARGO"));
    command
        .args([
            "lambda",
            "watch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--env-var",
            &call_log,
        ])
        .current_dir(&functions)
        .env("CARGO_TARGET_DIR", &target);
    let emulator = spawn(command, port, "cargo-lambda");
    let client = reqwest::Client::new();
    let url = format!("{}/2015-03-31/functions/graft-ok/invocations", emulator.url);
    wait_until(&emulator, Duration::from_secs(300), || {
        let request = client
            .post(&url)
            .body("{}")
            .timeout(Duration::from_secs(120));
        async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    Some(emulator)
}

/// `moto_server` with Lambda in docker-less mode. `auth` makes moto check access keys
/// (`INITIAL_NO_AUTH_ACTION_COUNT=0`), so unknown keys are refused.
pub async fn moto(auth: bool) -> Option<Emulator> {
    if !require("moto_server", "pip install \"moto[server]\"") {
        return None;
    }
    let port = free_port();
    let mut command = Command::new("moto_server");
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    if auth {
        command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    }
    let emulator = spawn(command, port, "moto");
    let client = reqwest::Client::new();
    let url = format!("{}/moto-api/config", emulator.url);
    wait_until(&emulator, Duration::from_secs(60), || {
        let request = client
            .post(&url)
            .json(&serde_json::json!({"lambda": {"use_docker": false}}));
        async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    Some(emulator)
}

/// An environment reader with only `vars` set.
pub fn env(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> + Sync {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Test credentials for emulators, which accept any key.
pub fn test_env(endpoint: &str) -> impl Fn(&str) -> Option<String> + Sync {
    env(vec![
        ("LAMBDA_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "secret".into()),
        ("AWS_REGION", "us-east-1".into()),
    ])
}

/// A gateway for `sdl`, reading `{{env.X}}` and AWS settings from `env`.
pub fn gateway(sdl: &str, env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Gateway {
    let checked = parse_files(&[SdlFile::new("lambda.graphql", sdl)]);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let catalog = checked.catalog.unwrap();
    Gateway::build_with_env(&catalog, GatewayOptions::default(), env).unwrap()
}

/// Runs `query` and returns the JSON response.
pub async fn run(gateway: &Gateway, query: &str, variables: Value) -> Value {
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let rendered = gateway
        .execute_rendered(request, RequestContext::default())
        .await;
    serde_json::from_slice(&rendered.body).unwrap()
}

/// The error on `path` (a response path such as `["fail"]`), or a panic showing the response.
pub fn error_at<'a>(response: &'a Value, path: &[&str]) -> &'a Value {
    response["errors"]
        .as_array()
        .and_then(|errors| {
            errors.iter().find(|e| {
                e["path"].as_array().is_some_and(|p| {
                    p.iter()
                        .map(|s| s.as_str().unwrap_or(""))
                        .eq(path.iter().copied())
                })
            })
        })
        .unwrap_or_else(|| panic!("no error at {path:?} in {response:#}"))
}
