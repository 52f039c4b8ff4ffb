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

/// Posts echoed by `graft-ok` (so the test sets the parents' keys: numbers, a string `"2"`, a
/// repeat, nulls, a missing field, 903 which `graft-batch` has no user for); their users
/// come from `graft-batch`, which answers ids as strings, out of order, with extras.
const BATCH_SDL: &str = r#"
schema @source(name: "fns", lambda: {endpoint: "{{env.LAMBDA_URL}}"}) { query: Query }

type Query {
  feed(input: JSON): Feed @lambda(source: "fns", function: "graft-ok", payload: "{{args.input}}")
}

type Feed { echo: Posts }

type Posts { posts: [Post] }

type Post {
  title: String
  userId: JSON
  "The payload is the list of keys, the answer the list of users."
  user: User @lambda(source: "fns", function: "graft-batch", payload: "{{parent.userId}}", batch: {key: "id", maxSize: 4})
  "The payload is {ids: [...]}, the answer {users: [...]}."
  account: User @lambda(source: "fns", function: "graft-batch", payload: "{{parent.userId}}", batch: {function: "graft-batch", keys: "ids", items: "users", key: "id"})
  "The answer has no property `people`."
  wrongItems: User @lambda(source: "fns", function: "graft-batch", payload: "{{parent.userId}}", batch: {keys: "ids", items: "people", key: "id"})
}

type User { id: ID name: String }
"#;

fn feed() -> serde_json::Value {
    json!({"input": {"posts": [
        {"title": "a", "userId": 1}, {"title": "b", "userId": "2"}, {"title": "c", "userId": 1},
        {"title": "d", "userId": null}, {"title": "e", "userId": 903}, {"title": "f", "userId": 3},
        {"title": "g"}, {"title": "h", "userId": 4}, {"title": "i", "userId": 5},
    ]}})
}

/// Checks that every post with a key got the user with that key (`1` and `"1"` are the same
/// key), that null keys are null without an error, and that 903 is null with an error.
fn assert_users_match_their_posts(out: &serde_json::Value, field: &str) {
    let posts = out["data"]["feed"]["echo"]["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 9, "{out:#}");
    for post in posts {
        let title = post["title"].as_str().unwrap();
        let user = &post[field];
        match title {
            "d" | "g" | "e" => assert_eq!(user, &json!(null), "{post}"),
            _ => {
                let key = match &post["userId"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(
                    user,
                    &json!({"id": key, "name": format!("user {key}")}),
                    "post {title} got another user"
                );
            }
        }
    }
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out:#}");
    assert_eq!(
        errors[0]["path"],
        json!(["feed", "echo", "posts", 4, field])
    );
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_INVALID_RESPONSE");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("`903`"),
        "{out:#}"
    );
}

#[tokio::test]
async fn a_batched_lambda_link_makes_one_invocation_per_max_size_keys_and_never_attaches_a_wrong_user()
 {
    let Some(emulator) = cargo_lambda().await else {
        return;
    };
    let gateway = gateway(BATCH_SDL, &test_env(&emulator.url));
    let query = |field: &str| {
        format!(
            "query($input: JSON) {{ feed(input: $input) {{ echo {{ posts {{ title userId {field} {{ id name }} }} }} }} }}"
        )
    };

    // The bare list: six distinct keys in first-seen order, maxSize 4 → two invocations.
    let out = run(&gateway, &query("user"), feed()).await;
    assert_users_match_their_posts(&out, "user");
    // The two invocations run concurrently: compare them in a fixed order.
    let mut calls = emulator.calls();
    calls.sort_by_key(|payload| payload.as_array().map_or(0, Vec::len));
    assert_eq!(
        calls,
        vec![json!([4, 5]), json!([1, "2", 903, 3])],
        "one invocation per 4 keys, none per post"
    );

    // {ids: [...]} in, {users: [...]} out; maxSize 100 → one invocation.
    let out = run(&gateway, &query("account"), feed()).await;
    assert_users_match_their_posts(&out, "account");
    assert_eq!(
        emulator.calls()[2..],
        [json!({"ids": [1, "2", 903, 3, 4, 5]})]
    );

    // An answer without its list of items: an error on every field with a key, no panic.
    let out = run(&gateway, &query("wrongItems"), feed()).await;
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 7, "{out:#}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "UPSTREAM_INVALID_RESPONSE"
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("has no list at `people`")),
        "{out:#}"
    );
}
