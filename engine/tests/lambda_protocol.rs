//! The Lambda Invoke protocol against a scripted axum server on 127.0.0.1 standing in for
//! AWS where no emulator behaves like it: SigV4 headers, `X-Amz-Function-Error` on HTTP 200,
//! throttling and 5xx retries within the deadline, refused credentials.

mod lambda_common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lambda_common::{env, error_at, gateway, run};
use serde_json::{Value, json};

/// One scripted answer: status, extra headers, body.
type Scripted = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// One request the stub saw: function, query string, headers, body.
type Seen = (String, Option<String>, HeaderMap, Bytes);

/// What the stub saw and what it answers next (the last answer repeats).
#[derive(Clone, Default)]
struct Stub {
    script: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn invoke(
    State(stub): State<Stub>,
    Path(function): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    stub.seen
        .lock()
        .unwrap()
        .push((function, query, headers, body));
    let (status, extra, text) = {
        let mut script = stub.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script.front().cloned().unwrap()
        }
    };
    let mut response = (StatusCode::from_u16(status).unwrap(), text.to_string()).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn start(script: Vec<Scripted>) -> (String, Stub) {
    let stub = Stub {
        script: Arc::new(Mutex::new(script.into())),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, stub)
}

const SDL: &str = r#"
schema @source(name: "aws", lambda: {region: "eu-west-1", endpoint: "{{env.LAMBDA_URL}}"}) { query: Query }
type Query {
  call(input: JSON): JSON @lambda(source: "aws", function: "arn:aws:lambda:eu-west-1:123456789012:function:billing", qualifier: "live", payload: "{{args.input}}", timeout: 1500)
}
"#;

fn keys(url: &str) -> impl Fn(&str) -> Option<String> + Sync {
    env(vec![
        ("LAMBDA_URL", url.to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".into()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        ),
        ("AWS_SESSION_TOKEN", "session-token".into()),
    ])
}

#[tokio::test]
async fn invocations_are_sigv4_signed_request_response_calls_with_the_qualifier() {
    let (url, stub) = start(vec![(200, vec![], r#"{"ok": true}"#)]).await;
    let out = run(
        &gateway(SDL, &keys(&url)),
        "{ call(input: {a: 1}) }",
        json!({}),
    )
    .await;
    assert_eq!(out["data"]["call"], json!({"ok": true}), "{out:#}");
    let seen = stub.seen.lock().unwrap();
    let (function, query, headers, body) = &seen[0];
    assert_eq!(
        function,
        "arn:aws:lambda:eu-west-1:123456789012:function:billing"
    );
    assert_eq!(query.as_deref(), Some("Qualifier=live"));
    assert_eq!(
        serde_json::from_slice::<Value>(body).unwrap(),
        json!({"a": 1})
    );
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{authorization}"
    );
    assert!(
        authorization.contains("/eu-west-1/lambda/aws4_request"),
        "{authorization}"
    );
    assert!(authorization.contains("Signature="), "{authorization}");
    assert!(headers.contains_key("x-amz-date"));
    assert_eq!(headers["x-amz-security-token"], "session-token");
    assert_eq!(headers["x-amz-invocation-type"], "RequestResponse");
}

#[tokio::test]
async fn a_function_error_header_on_http_200_is_a_function_error_and_is_not_retried() {
    let body = r#"{"errorType": "ValidationError", "errorMessage": "amount must be positive", "stackTrace": []}"#;
    let (url, stub) = start(vec![(
        200,
        vec![("x-amz-function-error", "Unhandled")],
        body,
    )])
    .await;
    let out = run(&gateway(SDL, &keys(&url)), "{ call(input: 1) }", json!({})).await;
    let error = error_at(&out, &["call"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_FUNCTION_ERROR",
        "{out:#}"
    );
    assert_eq!(
        error["extensions"]["details"],
        json!({"errorType": "ValidationError", "errorMessage": "amount must be positive"})
    );
    assert_eq!(stub.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn throttling_and_service_errors_are_retried_until_the_function_answers() {
    let throttled = (
        429,
        vec![("x-amzn-errortype", "TooManyRequestsException")],
        r#"{"message": "Rate exceeded"}"#,
    );
    let unavailable = (
        503,
        vec![("x-amzn-errortype", "ServiceException")],
        r#"{"Message": "try again"}"#,
    );
    let (url, stub) = start(vec![throttled, unavailable, (200, vec![], "42")]).await;
    let out = run(&gateway(SDL, &keys(&url)), "{ call(input: 1) }", json!({})).await;
    assert_eq!(out["data"]["call"], 42, "{out:#}");
    assert_eq!(stub.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn retries_stop_within_the_deadline_and_report_the_last_answer() {
    let throttled = (
        429,
        vec![("x-amzn-errortype", "TooManyRequestsException")],
        r#"{"message": "Rate exceeded"}"#,
    );
    let (url, stub) = start(vec![throttled]).await;
    let started = Instant::now();
    let out = run(&gateway(SDL, &keys(&url)), "{ call(input: 1) }", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let error = error_at(&out, &["call"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_HTTP_STATUS",
        "{out:#}"
    );
    assert_eq!(error["extensions"]["status"], 429);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("TooManyRequestsException: Rate exceeded"),
        "{error:#}"
    );
    // The first try plus at most three retries.
    assert!((2..=4).contains(&stub.seen.lock().unwrap().len()));
}

#[tokio::test]
async fn refused_credentials_are_a_credentials_error() {
    let refused = (
        403,
        vec![("x-amzn-errortype", "UnrecognizedClientException")],
        r#"{"message": "The security token included in the request is invalid."}"#,
    );
    let (url, stub) = start(vec![refused]).await;
    let out = run(&gateway(SDL, &keys(&url)), "{ call(input: 1) }", json!({})).await;
    let error = error_at(&out, &["call"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_CREDENTIALS",
        "{out:#}"
    );
    assert_eq!(
        error["extensions"]["details"]["errorType"],
        "UnrecognizedClientException"
    );
    assert_eq!(stub.seen.lock().unwrap().len(), 1);
}
