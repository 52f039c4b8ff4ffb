//! `graft serve --discover kubernetes` end to end: the real binary, a fake Kubernetes API
//! server that speaks the real HTTP protocol (PyPI `kmock`, `tests/kmock/serve.py`), and real
//! REST upstreams on 127.0.0.1 that the Services point at with `graft.dev/url`.
//!
//! Without `kmock` installed these tests print why and pass, except under `CI=true`, where
//! they fail: install it with `pip install kmock`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use graft::discovery::crd::{GraphQLSchema, GraphQLSchemaSpec};
use k8s_openapi::api::core::v1::Service;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::{Value, json};

/// How long a change may take to show in the served schema (the contract is 30 s; tests
/// configure a 1 s refresh, so this is generous).
const CONVERGE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------

/// `python3 tests/kmock/serve.py PORT`, stopped on drop.
struct Kmock {
    child: Child,
    port: u16,
}

impl Kmock {
    /// Starts the emulator, or returns `None` (with the reason printed) when `kmock` is not
    /// installed outside CI. Under `CI=true` a missing `kmock` fails the test.
    fn start(port: u16) -> Option<Kmock> {
        let available = Command::new("python3")
            .args(["-c", "import kmock"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            let reason = "python3 with the PyPI package `kmock` is needed (pip install kmock)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{reason}");
            }
            eprintln!("skipped: {reason}");
            return None;
        }
        let script = workspace().join("tests/kmock/serve.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kmock");
        let stdout = child.stdout.take().expect("kmock stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("kmock's first line");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("kmock said {line:?}"));
        Some(Kmock { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig that points at this emulator, written into `dir`.
    fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig.yaml");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kmock\n  cluster:\n    server: {}\nusers:\n- name: test\n  user:\n    token: test-token\ncontexts:\n- name: kmock\n  context:\n    cluster: kmock\n    user: test\n    namespace: default\ncurrent-context: kmock\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for Kmock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A kube client of the test itself, creating and deleting objects in the emulator.
async fn kube_client(kubeconfig: &Path) -> Client {
    let config = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("kube client")
}

/// The emulator stores objects as given, so the test plays the API server's part of
/// stamping a resource version (the watch protocol needs one) and a creation time.
static VERSION: AtomicU64 = AtomicU64::new(100);

fn next_version() -> String {
    VERSION.fetch_add(1, Ordering::SeqCst).to_string()
}

fn service(name: &str, annotations: &[(&str, &str)]) -> Service {
    let created = format!(
        "2026-01-01T00:00:{:02}Z",
        VERSION.load(Ordering::SeqCst) % 60
    );
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "default",
            "resourceVersion": next_version(),
            "creationTimestamp": created,
            "labels": {"graft.dev/discover": "true"},
            "annotations": annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        },
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }))
    .expect("a Service")
}

fn rest_service(name: &str, upstream: &Upstream, extra: &[(&str, &str)]) -> Service {
    let url = upstream.url();
    let mut annotations = vec![
        ("graft.dev/openapi", "/openapi.json"),
        ("graft.dev/url", url.as_str()),
    ];
    annotations.extend_from_slice(extra);
    service(name, &annotations)
}

async fn create(api: &Api<Service>, service: Service) {
    api.create(&PostParams::default(), &service)
        .await
        .expect("create Service");
}

async fn delete(api: &Api<Service>, name: &str) {
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete Service");
}

// ---------------------------------------------------------------------------------------
// REST upstreams
// ---------------------------------------------------------------------------------------

/// An axum upstream serving an OpenAPI spec at `/openapi.json` (replaceable, or failing
/// with 500 when absent) and fixed JSON answers by path.
#[derive(Clone)]
struct Upstream {
    port: u16,
    spec: Arc<Mutex<Option<Value>>>,
    answers: Arc<BTreeMap<String, Value>>,
}

impl Upstream {
    async fn start(spec: Option<Value>, answers: &[(&str, Value)]) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let port = listener.local_addr().expect("upstream address").port();
        let upstream = Upstream {
            port,
            spec: Arc::new(Mutex::new(spec)),
            answers: Arc::new(
                answers
                    .iter()
                    .map(|(p, v)| (p.to_string(), v.clone()))
                    .collect(),
            ),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        upstream
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set_spec(&self, spec: Option<Value>) {
        *self.spec.lock().expect("spec lock") = spec;
    }
}

async fn answer(State(upstream): State<Upstream>, uri: Uri) -> Response {
    if uri.path() == "/openapi.json" {
        return match upstream.spec.lock().expect("spec lock").clone() {
            Some(spec) => Json(spec).into_response(),
            None => (StatusCode::INTERNAL_SERVER_ERROR, "spec unavailable").into_response(),
        };
    }
    match upstream.answers.get(uri.path()) {
        Some(value) => Json(value.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An OpenAPI 3.0 document with one GET operation per `(path, operationId, response schema)`
/// and the given component schemas.
fn spec(title: &str, operations: &[(&str, &str, Value)], schemas: Value) -> Value {
    let paths: serde_json::Map<String, Value> = operations
        .iter()
        .map(|(path, id, schema)| {
            let op = json!({"get": {"operationId": id, "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}}});
            (path.to_string(), op)
        })
        .collect();
    json!({"openapi": "3.0.3", "info": {"title": title, "version": "1"}, "paths": paths, "components": {"schemas": schemas}})
}

fn pets_spec(with_tag: bool, with_count: bool) -> Value {
    let mut properties = json!({"id": {"type": "string"}, "name": {"type": "string"}, "ownerId": {"type": "string"}});
    if with_tag {
        properties["tag"] = json!({"type": "string"});
    }
    let mut operations = vec![(
        "/pets",
        "pets",
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}),
    )];
    if with_count {
        operations.push(("/pets/count", "petCount", json!({"type": "integer"})));
    }
    spec(
        "pets",
        &operations,
        json!({"Pet": {"type": "object", "properties": properties}}),
    )
}

fn owners_spec() -> Value {
    spec(
        "owners",
        &[
            ("/owners", "owners", json!({"type": "array", "items": {"$ref": "#/components/schemas/Owner"}})),
            ("/owners/{id}", "owner", json!({"$ref": "#/components/schemas/Owner"})),
        ],
        json!({"Owner": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}),
    )
    .as_object()
    .cloned()
    .map(|mut spec| {
        // `/owners/{id}` needs its path parameter declared.
        spec["paths"]["/owners/{id}"]["get"]["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        Value::Object(spec)
    })
    .unwrap_or_default()
}

async fn pets_upstream() -> Upstream {
    Upstream::start(
        Some(pets_spec(true, false)),
        &[
            (
                "/pets",
                json!([{"id": "1", "name": "Rex", "tag": "dog", "ownerId": "7"}]),
            ),
            ("/pets/count", json!(1)),
        ],
    )
    .await
}

async fn owners_upstream() -> Upstream {
    Upstream::start(
        Some(owners_spec()),
        &[
            ("/owners", json!([{"id": "7", "name": "Ada"}])),
            ("/owners/7", json!({"id": "7", "name": "Ada"})),
        ],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// graft
// ---------------------------------------------------------------------------------------

/// The real `graft serve --discover kubernetes` process, stopped on drop.
struct Graft {
    child: Child,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Graft {
    fn start(kubeconfig: &Path, dir: &Path, files: &[&Path]) -> Graft {
        let config = dir.join("graft.yaml");
        std::fs::write(&config, "discovery:\n  refresh_ms: 1000\n  describe_timeout_ms: 3000\ntimeouts:\n  drain_ms: 0\n").expect("write config");
        let log = dir.join("graft.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_graft"))
            .args([
                "serve",
                "--discover",
                "kubernetes",
                "--listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .args(files)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,tower_http=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("graft log"))
            .spawn()
            .expect("start graft");
        let stdout = child.stdout.take().expect("graft stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("graft's first line");
        let url = line
            .trim()
            .strip_prefix("graft serving ")
            .unwrap_or_else(|| {
                panic!(
                    "graft said {line:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let base = url.trim_end_matches("/graphql").to_string();
        Graft {
            child,
            base,
            log,
            http: reqwest::Client::new(),
        }
    }

    async fn query(&self, query: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query}))
            .send()
            .await;
        match response {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(e) => json!({"transport_error": e.to_string()}),
        }
    }

    async fn readyz(&self) -> Value {
        match self.http.get(format!("{}/readyz", self.base)).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    async fn metrics(&self) -> String {
        match self.http.get(format!("{}/metrics", self.base)).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until `check` holds for the answer to `query`; fails with the last answer and
    /// graft's log.
    async fn wait_for_answer(
        &self,
        what: &str,
        query: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let answer = self.query(query).await;
            if check(&answer) {
                return answer;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: not within {CONVERGE:?}; last answer {answer}\n--- graft log ---\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_for_readyz(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let answer = self.readyz().await;
            if check(&answer) {
                return answer;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: not within {CONVERGE:?}; last /readyz {answer:#}\n--- graft log ---\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Graft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_data(answer: &Value, pointer: &str, expected: &Value) -> bool {
    answer.pointer(pointer) == Some(expected) && answer.get("errors").is_none()
}

/// True when the answer is a validation error naming `field` (it is not in the schema).
fn unknown_field(answer: &Value, field: &str) -> bool {
    answer["errors"].as_array().is_some_and(|errors| {
        errors
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains(field)))
    }) && answer.get("data").is_none_or(Value::is_null)
}

fn service_status<'a>(readyz: &'a Value, service: &str) -> Option<&'a Value> {
    readyz["discovery"]["services"]
        .as_array()?
        .iter()
        .find(|s| s["service"] == format!("default/{service}"))
}

/// A query sent in a loop while the graph reloads; every answer must be a 200 with data.
struct Hammer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hammer {
    fn start(base: &str) -> Hammer {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (url, stop2, sent2, failures2) = (
            format!("{base}/graphql"),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&failures),
        );
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            // Bounded: at most 20 000 requests, one every 10 ms.
            for _ in 0..20_000 {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let outcome = http
                    .post(&url)
                    .json(&json!({"query": "{ __typename }"}))
                    .send()
                    .await;
                sent2.fetch_add(1, Ordering::SeqCst);
                let failure = match outcome {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(body) if body["data"]["__typename"] == "Query" => None,
                        Ok(body) => Some(body.to_string()),
                        Err(e) => Some(e.to_string()),
                    },
                    Ok(r) => Some(format!("HTTP {}", r.status())),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(failure) = failure {
                    failures2.lock().expect("failures lock").push(failure);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Hammer {
            stop,
            sent,
            failures,
            task,
        }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let failures = self.failures.lock().expect("failures lock").clone();
        (self.sent.load(Ordering::SeqCst), failures)
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_schema_follows_services_as_they_are_added_changed_and_deleted() {
    let Some(kmock) = Kmock::start(0) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kmock.kubeconfig(dir.path());
    let api: Api<Service> = Api::namespaced(kube_client(&kubeconfig).await, "default");
    let (pets, owners) = (pets_upstream().await, owners_upstream().await);
    let graft = Graft::start(&kubeconfig, dir.path(), &[]);

    create(&api, rest_service("pets", &pets, &[])).await;
    graft
        .wait_for_answer(
            "a new Service's fields appear",
            "{ pets { name tag } }",
            |a| has_data(a, "/data/pets/0/name", &json!("Rex")),
        )
        .await;
    let hammer = Hammer::start(&graft.base);

    create(
        &api,
        rest_service("owners", &owners, &[("graft.dev/field-prefix", "crm")]),
    )
    .await;
    graft
        .wait_for_answer(
            "a second Service joins the first",
            "{ pets { name } crmOwners { name } }",
            |a| {
                has_data(a, "/data/pets/0/name", &json!("Rex"))
                    && has_data(a, "/data/crmOwners/0/name", &json!("Ada"))
            },
        )
        .await;

    let patch = json!({"metadata": {"resourceVersion": next_version(), "annotations": {"graft.dev/field-prefix": "people"}}});
    api.patch("owners", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch Service");
    graft
        .wait_for_answer(
            "an updated Service's new prefix applies",
            "{ peopleOwners { name } }",
            |a| has_data(a, "/data/peopleOwners/0/name", &json!("Ada")),
        )
        .await;
    graft
        .wait_for_answer("and its old fields go", "{ crmOwners { name } }", |a| {
            unknown_field(a, "crmOwners")
        })
        .await;

    pets.set_spec(Some(pets_spec(false, true)));
    graft
        .wait_for_answer("a spec changed upstream shows up", "{ petCount }", |a| {
            has_data(a, "/data/petCount", &json!(1))
        })
        .await;
    graft
        .wait_for_answer("a field removed upstream goes", "{ pets { tag } }", |a| {
            unknown_field(a, "tag")
        })
        .await;
    let metrics = graft.metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("graft_schema_breaking_changes_total{change=\"field_removed\"}")),
        "the removed field is counted as a breaking change:\n{metrics}"
    );
    assert!(
        graft.log_text().contains("breaking schema change"),
        "and logged"
    );

    delete(&api, "pets").await;
    graft
        .wait_for_answer("a deleted Service's fields go", "{ pets { name } }", |a| {
            unknown_field(a, "pets")
        })
        .await;
    let still = graft.query("{ peopleOwners { name } }").await;
    assert!(
        has_data(&still, "/data/peopleOwners/0/name", &json!("Ada")),
        "the rest of the graph stays: {still}"
    );

    let (sent, failures) = hammer.finish().await;
    assert!(sent > 10, "the hammer ran ({sent} requests)");
    assert!(
        failures.is_empty(),
        "no request failed while the graph reloaded: {failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_services_are_reported_in_readyz_and_metrics_and_the_rest_of_the_graph_keeps_serving() {
    let Some(kmock) = Kmock::start(0) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kmock.kubeconfig(dir.path());
    let api: Api<Service> = Api::namespaced(kube_client(&kubeconfig).await, "default");
    let (pets, owners) = (pets_upstream().await, owners_upstream().await);
    let broken = Upstream::start(
        Some(json!({"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {}})),
        &[],
    )
    .await;
    let graft = Graft::start(&kubeconfig, dir.path(), &[]);

    create(&api, rest_service("pets", &pets, &[])).await;
    graft
        .wait_for_answer("the good Service serves", "{ pets { name } }", |a| {
            has_data(a, "/data/pets/0/name", &json!("Rex"))
        })
        .await;
    create(&api, rest_service("broken-spec", &broken, &[])).await;
    create(
        &api,
        service(
            "unreachable",
            &[
                ("graft.dev/openapi", "/openapi.json"),
                ("graft.dev/url", "http://127.0.0.1:9"),
            ],
        ),
    )
    .await;
    create(
        &api,
        rest_service("same-name", &owners, &[("graft.dev/source-name", "pets")]),
    )
    .await;
    create(
        &api,
        rest_service("same-fields", &pets, &[("graft.dev/source-name", "pets2")]),
    )
    .await;
    create(
        &api,
        service("malformed", &[("graft.dev/grpc", "descriptors")]),
    )
    .await;
    let mut opted_out = rest_service("opted-out", &owners, &[]);
    opted_out.metadata.labels =
        Some([("graft.dev/discover".to_string(), "false".to_string())].into());
    create(&api, opted_out).await;

    let readyz = graft
        .wait_for_readyz("every bad Service is reported", |r| {
            r["discovery"]["services"]
                .as_array()
                .is_some_and(|s| s.len() == 6)
        })
        .await;
    let status = |name: &str| {
        service_status(&readyz, name).map(|s| {
            (
                s["status"].as_str().unwrap_or("").to_string(),
                s["message"].as_str().unwrap_or("").to_string(),
            )
        })
    };
    let expect = |name: &str, wanted: &str, says: &str| {
        let (got, message) =
            status(name).unwrap_or_else(|| panic!("{name} missing from {readyz:#}"));
        assert_eq!(got, wanted, "{name}: {message}");
        assert!(
            message.contains(says),
            "{name}'s message {message:?} should say {says:?}"
        );
    };
    expect("pets", "ok", "");
    expect("broken-spec", "failed", "unusable");
    expect("unreachable", "failed", "127.0.0.1:9");
    expect(
        "same-name",
        "rejected",
        "source pets is already claimed by Service default/pets",
    );
    expect(
        "same-fields",
        "rejected",
        "field Query.pets is already claimed by Service default/pets",
    );
    expect("malformed", "rejected", "graft.dev/grpc");
    assert_eq!(readyz["status"], "ready");
    let log = graft.log_text();
    for left_out in [
        "default/same-name",
        "default/same-fields",
        "default/malformed",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("left out of the graph") && l.contains(left_out)),
            "{left_out} is logged:\n{log}"
        );
    }
    assert!(
        log.contains("default/unreachable"),
        "a failing describe is logged:\n{log}"
    );
    let answer = graft.query("{ pets { name } }").await;
    assert!(
        has_data(&answer, "/data/pets/0/name", &json!("Rex")),
        "{answer}"
    );

    let metrics = graft.metrics().await;
    for line in [
        "graft_discovery_sources{status=\"ok\"} 1",
        "graft_discovery_sources{status=\"failed\"} 2",
        "graft_discovery_sources{status=\"rejected\"} 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .contains("graft_discovery_describe_failures_total{service=\"default/unreachable\"}"),
        "{metrics}"
    );

    // The good source's spec now fails: its last good version keeps serving, marked stale.
    pets.set_spec(None);
    let readyz = graft
        .wait_for_readyz("a failing describe marks the source stale", |r| {
            service_status(r, "pets").is_some_and(|s| s["status"] == "stale")
        })
        .await;
    assert!(
        service_status(&readyz, "pets")
            .is_some_and(|s| s["message"].as_str().is_some_and(|m| m.contains("500"))),
        "{readyz:#}"
    );
    let answer = graft.query("{ pets { name } }").await;
    assert!(
        has_data(&answer, "/data/pets/0/name", &json!("Rex")),
        "the last good version serves: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_recovers_after_the_api_server_restarts() {
    let port = free_port();
    let Some(kmock) = Kmock::start(port) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kmock.kubeconfig(dir.path());
    let (pets, owners) = (pets_upstream().await, owners_upstream().await);
    let graft = Graft::start(&kubeconfig, dir.path(), &[]);
    {
        let api: Api<Service> = Api::namespaced(kube_client(&kubeconfig).await, "default");
        create(&api, rest_service("pets", &pets, &[])).await;
    }
    graft
        .wait_for_answer("the Service serves", "{ pets { name } }", |a| {
            has_data(a, "/data/pets/0/name", &json!("Rex"))
        })
        .await;

    drop(kmock);
    let readyz = graft
        .wait_for_readyz("the lost API server is reported", |r| {
            r["discovery"]["watch_problems"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .await;
    assert_eq!(
        readyz["status"], "ready",
        "the graph keeps serving: {readyz:#}"
    );
    let answer = graft.query("{ pets { name } }").await;
    assert!(
        has_data(&answer, "/data/pets/0/name", &json!("Rex")),
        "{answer}"
    );

    // The restarted API server starts empty: only what it holds now is served.
    let Some(_kmock) = Kmock::start(port) else {
        return;
    };
    let api: Api<Service> = Api::namespaced(kube_client(&kubeconfig).await, "default");
    create(
        &api,
        rest_service("owners", &owners, &[("graft.dev/field-prefix", "crm")]),
    )
    .await;
    graft
        .wait_for_answer(
            "discovery follows the restarted API server",
            "{ crmOwners { name } }",
            |a| has_data(a, "/data/crmOwners/0/name", &json!("Ada")),
        )
        .await;
    graft
        .wait_for_answer(
            "what the API server no longer holds goes",
            "{ pets { name } }",
            |a| unknown_field(a, "pets"),
        )
        .await;
    graft
        .wait_for_readyz("the watch problems clear", |r| {
            r["discovery"]["watch_problems"]
                .as_array()
                .is_some_and(Vec::is_empty)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_schema_resources_link_discovered_sources_and_ones_that_break_the_parse_or_the_build_are_left_out()
 {
    let Some(kmock) = Kmock::start(0) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kmock.kubeconfig(dir.path());
    let client = kube_client(&kubeconfig).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let schemas: Api<GraphQLSchema> = Api::namespaced(client, "default");
    let (pets, owners) = (pets_upstream().await, owners_upstream().await);
    // A static file is served too.
    let static_file = dir.path().join("static.graphql");
    let mut file = std::fs::File::create(&static_file).expect("static file");
    let static_sdl = format!(
        "schema @source(name: \"static\", rest: {{baseUrl: \"{}\"}}) {{ query: Query }}\ntype Query {{ staticCount: Int @rest(source: \"static\", path: \"/pets/count\") }}\n",
        pets.url()
    );
    file.write_all(static_sdl.as_bytes())
        .expect("write static file");
    let graft = Graft::start(&kubeconfig, dir.path(), &[&static_file]);

    create(&services, rest_service("pets", &pets, &[])).await;
    create(
        &services,
        rest_service("owners", &owners, &[("graft.dev/field-prefix", "crm")]),
    )
    .await;
    let resource = |name: &str, sdl: &str| {
        let mut resource = GraphQLSchema::new(
            name,
            GraphQLSchemaSpec {
                sdl: sdl.to_string(),
            },
        );
        resource.metadata.namespace = Some("default".into());
        resource.metadata.resource_version = Some(next_version());
        resource
    };
    let link = "type Pet { owner: CrmOwner @rest(source: \"owners\", path: \"/owners/{{parent.ownerId}}\") }";
    schemas
        .create(&PostParams::default(), &resource("links", link))
        .await
        .expect("create GraphQLSchema");
    schemas
        .create(
            &PostParams::default(),
            &resource("broken", "type Query { nope: Nowhere }"),
        )
        .await
        .expect("create GraphQLSchema");
    // Parses, but the gateway cannot be built with it: the variable is not set.
    let needs_env = r#"type Query { secret: Int @rest(source: "pets", path: "/pets/count/{{env.GRAFT_TEST_SURELY_UNSET}}") }"#;
    schemas
        .create(&PostParams::default(), &resource("needs-env", needs_env))
        .await
        .expect("create GraphQLSchema");

    graft
        .wait_for_answer(
            "the link across two discovered sources resolves",
            "{ staticCount pets { name owner { name } } }",
            |a| {
                has_data(a, "/data/pets/0/owner/name", &json!("Ada"))
                    && has_data(a, "/data/staticCount", &json!(1))
            },
        )
        .await;
    let readyz = graft.readyz().await;
    let schemas_report = readyz["discovery"]["schemas"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_name = |name: &str| {
        schemas_report
            .iter()
            .find(|s| s["resource"] == format!("default/{name}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("links")["status"], "merged", "{readyz:#}");
    assert_eq!(by_name("broken")["status"], "rejected", "{readyz:#}");
    assert_eq!(by_name("needs-env")["status"], "rejected", "{readyz:#}");
    assert!(
        by_name("needs-env")["message"]
            .as_str()
            .is_some_and(|m| m.contains("GRAFT_TEST_SURELY_UNSET")),
        "{readyz:#}"
    );
    assert!(
        by_name("broken")["message"]
            .as_str()
            .is_some_and(|m| m.contains("Nowhere")),
        "{readyz:#}"
    );

    schemas
        .delete("links", &DeleteParams::default())
        .await
        .expect("delete GraphQLSchema");
    graft
        .wait_for_answer(
            "a deleted resource's fields go",
            "{ pets { owner { name } } }",
            |a| unknown_field(a, "owner"),
        )
        .await;
}

/// `tests/grpc/health_server.py` (Python grpcio, reflection v1alpha only), stopped on drop.
struct PythonGrpc {
    child: Child,
    port: u16,
}

impl PythonGrpc {
    /// Starts the server, or returns `None` (reason printed) when grpcio is missing outside
    /// CI. Under `CI=true` a missing grpcio fails the test.
    fn start() -> Option<PythonGrpc> {
        let probe = "import grpc, grpc_reflection, grpc_health";
        let available = Command::new("python3")
            .args(["-c", probe])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            let reason =
                "python3 with grpcio is needed (pip install -r tests/grpc/requirements.txt)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{reason}");
            }
            eprintln!("skipped: {reason}");
            return None;
        }
        let mut child = Command::new("python3")
            .arg(workspace().join("tests/grpc/health_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python gRPC server");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("its first line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("it said {line:?}"));
        Some(PythonGrpc { child, port })
    }
}

impl Drop for PythonGrpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_service_is_described_by_reflection_and_served_next_to_a_rest_one() {
    let Some(kmock) = Kmock::start(0) else { return };
    let Some(grpc) = PythonGrpc::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kmock.kubeconfig(dir.path());
    let api: Api<Service> = Api::namespaced(kube_client(&kubeconfig).await, "default");
    let pets = pets_upstream().await;
    let graft = Graft::start(&kubeconfig, dir.path(), &[]);

    create(&api, rest_service("pets", &pets, &[])).await;
    let url = format!("http://127.0.0.1:{}", grpc.port);
    create(
        &api,
        service(
            "health",
            &[
                ("graft.dev/grpc", "reflection"),
                ("graft.dev/url", &url),
                ("graft.dev/field-prefix", "health"),
            ],
        ),
    )
    .await;
    graft
        .wait_for_answer(
            "the gRPC Service's methods appear, prefixed",
            r#"{ healthCheck(service: "graft.demo") { status } pets { name } }"#,
            |a| {
                has_data(a, "/data/healthCheck/status", &json!("SERVING"))
                    && has_data(a, "/data/pets/0/name", &json!("Rex"))
            },
        )
        .await;
    let readyz = graft.readyz().await;
    let health = service_status(&readyz, "health")
        .cloned()
        .unwrap_or_default();
    assert_eq!(health["transport"], "grpc", "{readyz:#}");
    assert_eq!(health["status"], "ok", "{readyz:#}");
}

#[test]
fn without_a_reachable_configuration_discovery_refuses_to_start_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args([
            "serve",
            "--discover",
            "kubernetes",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", dir.path().join("missing.yaml"))
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .stdin(Stdio::null())
        .output()
        .expect("run graft");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");
}
