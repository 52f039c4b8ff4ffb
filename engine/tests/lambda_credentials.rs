//! The credential chain beyond static keys, as on EKS: a web identity token exchanged with
//! STS (IRSA; moto's STS on 127.0.0.1) and the container credentials endpoint (Pod Identity;
//! a local axum endpoint). Those providers read the process environment, which a test may not
//! change, so each test re-runs itself as a child process with the variables set; the child
//! invokes a scripted Lambda endpoint and reports the credentials it was signed with.

mod lambda_common;

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use engine::{Gateway, GatewayOptions};
use lambda_common::{moto, run, workspace};
use schema_gen::parse::{SdlFile, parse_files};
use serde_json::json;

const CHILD: &str = "GRAFT_LAMBDA_CREDENTIALS_CHILD";

const SDL: &str = r#"
schema @source(name: "fns", lambda: {region: "us-east-1"}) { query: Query }
type Query { call: JSON @lambda(source: "fns", function: "f") }
"#;

/// In the child: invokes a stub Lambda through a gateway built from the process environment
/// (`AWS_ENDPOINT_URL_LAMBDA` points at the stub) and returns the headers it was sent.
async fn invoke_as_child() -> HeaderMap {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let record = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/2015-03-31/functions/f/invocations",
        post(move |headers: HeaderMap| async move {
            record.lock().unwrap().push(headers);
            Json(json!("ok"))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let catalog = parse_files(&[SdlFile::new("f.graphql", SDL)])
        .catalog
        .unwrap();
    let env = move |name: &str| match name {
        "AWS_ENDPOINT_URL_LAMBDA" => Some(url.clone()),
        _ => std::env::var(name).ok(),
    };
    let gateway = Gateway::build_with_env(&catalog, GatewayOptions::default(), &env).unwrap();
    // Twice: the second call must reuse the cached credentials.
    for _ in 0..2 {
        let out = run(&gateway, "{ call }", json!({})).await;
        assert_eq!(out["data"]["call"], "ok", "{out:#}");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0]["authorization"].to_str().unwrap().split('/').next(),
        seen[1]["authorization"].to_str().unwrap().split('/').next()
    );
    seen[0].clone()
}

/// Runs `test` again in a child process with only `vars` as AWS configuration.
fn run_child(test: &str, vars: &[(&str, String)]) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/graft-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/graft-test-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in vars {
        command.env(name, value);
    }
    // Captured, so the child's own test summary does not mix with this run's.
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "the child test {test} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_web_identity_token_is_exchanged_with_sts_as_on_eks_irsa() {
    let test = "a_web_identity_token_is_exchanged_with_sts_as_on_eks_irsa";
    if std::env::var(CHILD).is_ok_and(|c| c == test) {
        let headers = invoke_as_child().await;
        let authorization = headers["authorization"].to_str().unwrap();
        // moto's STS issues temporary keys, which start with ASIA, and a session token.
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIA"),
            "{authorization}"
        );
        assert!(headers.contains_key("x-amz-security-token"));
        return;
    }
    let Some(moto) = moto(false).await else {
        return;
    };
    let token = workspace()
        .join("target")
        .join(format!("lambda-web-identity-{}.jwt", std::process::id()));
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Z3JhZnQ6Z3JhZnQifQ.c2ln",
    )
    .unwrap();
    run_child(
        test,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/graft".into(),
            ),
            ("AWS_ROLE_SESSION_NAME", "graft".into()),
            ("AWS_ENDPOINT_URL_STS", moto.url.clone()),
            ("AWS_REGION", "us-east-1".into()),
        ],
    );
    std::fs::remove_file(token).unwrap();
}

#[tokio::test]
async fn the_container_credentials_endpoint_is_used_as_with_eks_pod_identity() {
    let test = "the_container_credentials_endpoint_is_used_as_with_eks_pod_identity";
    if std::env::var(CHILD).is_ok_and(|c| c == test) {
        let headers = invoke_as_child().await;
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIAPODIDENTITY/"),
            "{authorization}"
        );
        assert_eq!(headers["x-amz-security-token"], "pod-session");
        return;
    }
    // The Pod Identity agent: answers with temporary credentials when the token matches.
    let hits: Arc<Mutex<usize>> = Arc::default();
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/v1/credentials",
        get(move |headers: HeaderMap| async move {
            *counted.lock().unwrap() += 1;
            assert_eq!(headers["authorization"], "pod-token");
            Json(json!({
                "AccessKeyId": "ASIAPODIDENTITY",
                "SecretAccessKey": "secret",
                "Token": "pod-session",
                "Expiration": "2099-01-01T00:00:00Z",
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/credentials", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let blocking = tokio::task::spawn_blocking(move || {
        run_child(
            test,
            &[
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token".into()),
                ("AWS_REGION", "us-east-1".into()),
            ],
        )
    });
    blocking.await.unwrap();
    // Two invocations, one credentials request: the answer is cached until near expiry.
    assert_eq!(*hits.lock().unwrap(), 1);
}
