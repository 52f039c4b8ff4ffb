//! Lambda invocation end to end: graft's own functions (`tests/lambda-functions`, written with
//! `lambda_runtime`) run by cargo-lambda's emulator on 127.0.0.1, called through
//! `Gateway::execute_rendered` from an executable schema parsed from SDL.

mod lambda_common;

use lambda_common::{cargo_lambda, env, error_at, gateway, run, test_env};
use serde_json::json;

const SDL: &str = r#"
schema @source(name: "fns", lambda: {endpoint: "{{env.LAMBDA_URL}}"}) { query: Query mutation: Mutation }

type Query {
  hello(name: String): Hello @lambda(source: "fns", function: "graft-ok")
  raw(input: JSON): JSON @lambda(source: "fns", function: "graft-ok", payload: "{{args.input}}")
  live: Hello @lambda(source: "fns", function: "graft-ok", qualifier: "live")
  fail(id: ID): JSON @lambda(source: "fns", function: "graft-fail")
  slow(ms: Int): JSON @lambda(source: "fns", function: "graft-slow", timeout: 400)
  text: JSON @lambda(source: "fns", function: "graft-text")
  missing: JSON @lambda(source: "fns", function: "graft-missing")
  big(input: JSON): JSON @lambda(source: "fns", function: "graft-ok", payload: "{{args.input}}")
}

type Mutation {
  greet(name: String): Hello @lambda(source: "fns", function: "graft-ok")
}

type Hello {
  greeting: String
  echo: JSON
  "A link: the parent's greeting is the payload of another invocation."
  again: Hello @lambda(source: "fns", function: "graft-ok", payload: "{\"name\": \"{{parent.greeting}}\"}")
}
"#;

#[tokio::test]
async fn functions_answer_through_the_gateway_with_arguments_parents_and_qualifiers() {
    let Some(emulator) = cargo_lambda().await else {
        return;
    };
    let gateway = gateway(SDL, &test_env(&emulator.url));
    let out = run(
        &gateway,
        r#"{ hello(name: "ada") { greeting echo again { greeting } }
             raw(input: {name: "raw", list: [1, 2]})
             live { greeting } }"#,
        json!({}),
    )
    .await;
    assert_eq!(out.get("errors"), None, "{out:#}");
    assert_eq!(
        out["data"],
        json!({
            "hello": {"greeting": "hello ada", "echo": {"name": "ada"}, "again": {"greeting": "hello hello ada"}},
            "raw": {"greeting": "hello raw", "echo": {"name": "raw", "list": [1, 2]}},
            "live": {"greeting": "hello world"},
        })
    );
    let out = run(
        &gateway,
        r#"mutation { greet(name: "bob") { greeting } }"#,
        json!({}),
    )
    .await;
    assert_eq!(out["data"]["greet"]["greeting"], "hello bob", "{out:#}");
}

#[tokio::test]
async fn a_failing_function_is_an_error_on_its_own_field_carrying_its_error_type() {
    let Some(emulator) = cargo_lambda().await else {
        return;
    };
    let gateway = gateway(SDL, &test_env(&emulator.url));
    let out = run(
        &gateway,
        r#"{ fail(id: "7") hello { greeting } }"#,
        json!({}),
    )
    .await;
    assert_eq!(out["data"]["hello"]["greeting"], "hello world", "{out:#}");
    assert_eq!(out["data"]["fail"], json!(null));
    let error = error_at(&out, &["fail"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_FUNCTION_ERROR",
        "{error:#}"
    );
    assert_eq!(
        error["extensions"]["details"],
        json!({"errorType": "InvoiceNotFound", "errorMessage": "no invoice 7"})
    );
    assert!(
        error["message"].as_str().unwrap().contains("graft-fail"),
        "{error:#}"
    );
}

#[tokio::test]
async fn non_json_results_unknown_functions_big_payloads_and_slow_functions_are_clear_field_errors()
{
    let Some(emulator) = cargo_lambda().await else {
        return;
    };
    let gateway = gateway(SDL, &test_env(&emulator.url));
    let big = "x".repeat(7 * 1024 * 1024);
    let started = std::time::Instant::now();
    let out = run(
        &gateway,
        "query($big: JSON) { text missing big(input: $big) slow(ms: 3000) hello { greeting } }",
        json!({"big": big}),
    )
    .await;
    assert_eq!(out["data"]["hello"]["greeting"], "hello world", "{out:#}");
    let code = |path: &str| {
        error_at(&out, &[path])["extensions"]["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(code("text"), "UPSTREAM_INVALID_JSON");
    assert!(
        error_at(&out, &["text"])["message"]
            .as_str()
            .unwrap()
            .contains("<html>not json</html>")
    );
    assert_eq!(code("missing"), "UPSTREAM_HTTP_STATUS");
    assert_eq!(error_at(&out, &["missing"])["extensions"]["status"], 404);
    assert_eq!(code("big"), "UPSTREAM_REQUEST_TOO_LARGE");
    assert!(
        error_at(&out, &["big"])["message"]
            .as_str()
            .unwrap()
            .contains("6291456")
    );
    assert_eq!(code("slow"), "UPSTREAM_TIMEOUT");
    // The slow function's timeout (400 ms) bounds the request, not its 3 s sleep.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn missing_credentials_are_a_credentials_error_on_each_field() {
    // No keys, no profile, no web identity, no container endpoint and instance metadata off:
    // nothing is sent, so no emulator is needed (the endpoint is a closed port).
    let env = env(vec![
        ("LAMBDA_URL", "http://127.0.0.1:9".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let gateway = gateway(SDL, &env);
    let out = run(&gateway, "{ raw(input: 1) }", json!({})).await;
    let error = error_at(&out, &["raw"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_CREDENTIALS",
        "{out:#}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no usable AWS credentials"),
        "{error:#}"
    );
}
