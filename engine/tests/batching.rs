//! Batching, dedupe and caching of the plan executor against a real upstream on 127.0.0.1:
//! batched links map answers back by key (never a wrong user on a post), identical calls
//! run once per request, identical in-flight reads and operations are shared across
//! requests, and cached answers never cross credentials.

mod common_plan;

use common_plan::{gateway, run, run_as, upstream};
use engine::plan::PlanOptions;
use serde_json::{Value, json};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn a_batched_link_makes_one_call_per_max_size_keys_and_maps_items_back_by_key() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(&run(&gw, "{ posts { id userId user { id name } } }", json!({})).await);
    assert!(out.get("errors").is_none(), "{out}");
    for post in out["data"]["posts"].as_array().unwrap() {
        assert_eq!(
            post["user"]["id"], post["userId"],
            "a post got another user: {post}"
        );
    }
    // userIds 1, 2, 1, 3, 2 → 3 distinct keys, maxSize 2 → 2 calls; no per-id calls.
    assert_eq!(
        hits.batch_calls(),
        vec!["/users?id=1&id=2".to_string(), "/users?id=3".to_string()]
    );
    assert_eq!(
        (1..=3)
            .map(|i| hits.get(&format!("/users/{i}")))
            .sum::<usize>(),
        0
    );
}

#[tokio::test]
async fn missing_batch_items_are_null_with_an_error_and_null_keys_make_no_call() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(&run(&gw, "{ orphans { id user { id } } }", json!({})).await);
    let posts = out["data"]["orphans"].as_array().unwrap();
    assert_eq!(posts[0]["user"], json!({"id": 1}));
    assert_eq!(
        posts[1]["user"],
        Value::Null,
        "user 99 is not in the batch answer"
    );
    assert_eq!(
        posts[2]["user"],
        Value::Null,
        "a null userId gives a null user"
    );
    assert_eq!(posts[3]["user"], json!({"id": 2}));
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["path"], json!(["orphans", 1, "user"]));
    assert_eq!(
        errors[0]["extensions"]["code"],
        json!("UPSTREAM_INVALID_RESPONSE")
    );
    assert_eq!(
        hits.batch_calls(),
        vec!["/users?id=1&id=99".to_string(), "/users?id=2".to_string()]
    );
}

#[tokio::test]
async fn identical_unbatched_calls_run_once_per_request() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(
        &run(
            &gw,
            "{ posts { author { id } again: author { name } } }",
            json!({}),
        )
        .await,
    );
    assert!(out.get("errors").is_none(), "{out}");
    assert_eq!(
        (
            hits.get("/users/1"),
            hits.get("/users/2"),
            hits.get("/users/3")
        ),
        (1, 1, 1)
    );
}

async fn concurrently(gw: &engine::Gateway, queries: Vec<String>) -> Vec<String> {
    futures::future::join_all(queries.iter().map(|q| run(gw, q, json!({})))).await
}

#[tokio::test]
async fn concurrent_identical_reads_share_one_upstream_call_across_requests() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    // Different documents (aliases), the same upstream request.
    let queries = (0..8)
        .map(|i| format!("{{ a{i}: slow {{ n }} }}"))
        .collect();
    let answers = concurrently(&gw, queries).await;
    assert!(answers.iter().all(|a| a.contains("\"n\":2")), "{answers:?}");
    assert_eq!(hits.get("/slow?tag=a"), 1);

    let (base, hits) = upstream().await;
    let off = PlanOptions {
        dedupe_requests: false,
        dedupe_operations: false,
        ..PlanOptions::default()
    };
    let gw = gateway(&base, Some(off));
    let queries = (0..8)
        .map(|i| format!("{{ a{i}: slow {{ n }} }}"))
        .collect();
    concurrently(&gw, queries).await;
    assert_eq!(
        hits.get("/slow?tag=a"),
        8,
        "dedupe switched off: every request calls"
    );
}

#[tokio::test]
async fn concurrent_identical_operations_share_one_execution_but_not_across_credentials() {
    let (base, hits) = upstream().await;
    let off = PlanOptions {
        dedupe_requests: false,
        ..PlanOptions::default()
    };
    let gw = gateway(&base, Some(off));
    let answers = concurrently(&gw, vec!["{ slow { n } }".to_string(); 8]).await;
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(hits.get("/slow?tag=a"), 1);

    hits.reset();
    let q = "{ slow { n } }";
    futures::future::join_all([
        run_as(&gw, q, json!({}), Some("Bearer alice")),
        run_as(&gw, q, json!({}), Some("Bearer bob")),
    ])
    .await;
    assert_eq!(
        hits.get("/slow?tag=a"),
        2,
        "callers with different credentials never share"
    );
}

/// The first caller of a shared operation (or of a shared upstream call) goes away mid-flight
/// — its client disconnected or its deadline passed — while another waits: its work goes on
/// for the waiter, which gets the whole answer from the one upstream call.
#[tokio::test]
async fn a_shared_execution_or_call_whose_first_caller_goes_away_still_answers_the_others() {
    let (base, hits) = upstream().await;
    let only_calls = PlanOptions {
        dedupe_operations: false,
        ..PlanOptions::default()
    };
    let only_operations = PlanOptions {
        dedupe_requests: false,
        ..PlanOptions::default()
    };
    // Different documents share the call; the same document shares the operation.
    for (options, second) in [
        (only_calls, "{ again: slow { n } }"),
        (only_operations, "{ slow { n } }"),
    ] {
        hits.reset();
        let gw = gateway(&base, Some(options));
        let first = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            run(&gw, "{ slow { n } }", json!({})),
        );
        let waiter = async {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            run(&gw, second, json!({})).await
        };
        let (first, waited) = tokio::join!(first, waiter);
        assert!(first.is_err(), "the first caller gave up");
        let waited = parse(&waited);
        assert!(waited.get("errors").is_none(), "{waited}");
        assert_eq!(
            waited["data"].as_object().unwrap().values().next().unwrap()["n"],
            2
        );
        // The first caller's call was not dropped with it, nor sent again.
        assert_eq!(hits.get("/slow?tag=a"), 1);
    }
}

/// A request context with these headers.
fn context(headers: &[(&'static str, String)]) -> engine::gateway::RequestContext {
    let mut cx = engine::gateway::RequestContext::default();
    for (name, value) in headers {
        cx.headers.insert(*name, value.parse().unwrap());
    }
    cx
}

#[tokio::test]
async fn operations_that_differ_only_in_headers_no_call_reads_share_one_execution() {
    let (base, hits) = upstream().await;
    let off = PlanOptions {
        dedupe_requests: false,
        ..PlanOptions::default()
    };
    let gw = gateway(&base, Some(off));
    // Every request through the server carries its own x-request-id; clients add their own
    // user agent and trace context. No source forwards or reads them.
    let runs = (0..8).map(|i| {
        let mut cx = context(&[
            ("x-request-id", format!("req-{i}")),
            ("user-agent", format!("client/{i}")),
            ("traceparent", format!("00-{i:032x}-{i:016x}-01")),
        ]);
        cx.request_id = format!("req-{i}");
        gw.execute_rendered(async_graphql::Request::new("{ slow { n } }"), cx)
    });
    let answers = futures::future::join_all(runs).await;
    assert!(answers.windows(2).all(|w| w[0].body == w[1].body));
    assert_eq!(hits.get("/slow?tag=a"), 1);
}

#[tokio::test]
async fn a_header_read_by_a_template_keeps_operations_apart() {
    let (base, hits) = upstream().await;
    let sdl = r#"
schema @source(name: "up", rest: {baseUrl: "{{env.UP}}"}) { query: Query }
type Query { tenant: Counter @rest(source: "up", path: "/slow", query: [{name: "tag", value: "{{headers.X-Tenant}}"}]) }
type Counter { n: Int! }
"#;
    let off = PlanOptions {
        dedupe_requests: false,
        ..PlanOptions::default()
    };
    let gw = common_plan::gateway_for(sdl, &base, engine::GatewayOptions::default(), Some(off));
    let runs = ["a", "b", "a", "b"].into_iter().map(|tenant| {
        let cx = context(&[("x-tenant", tenant.to_string())]);
        gw.execute_rendered(async_graphql::Request::new("{ tenant { n } }"), cx)
    });
    futures::future::join_all(runs).await;
    assert_eq!(
        (hits.get("/slow?tag=a"), hits.get("/slow?tag=b")),
        (1, 1),
        "one execution per tenant, none shared across tenants"
    );
}

#[tokio::test]
async fn cached_fields_are_served_from_memory_per_credential() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    for _ in 0..3 {
        run(&gw, "{ cached { n } }", json!({})).await;
    }
    assert_eq!(hits.get("/counter"), 1);
    for _ in 0..3 {
        run(&gw, "{ uncached { n } }", json!({})).await;
    }
    assert_eq!(
        hits.get("/counter"),
        4,
        "a field without cacheTtl always calls"
    );
    run(&gw, "{ cached { n } uncached { n } }", json!({})).await;
    assert_eq!(
        hits.get("/counter"),
        5,
        "sharing a request with a cached field does not make a field cached"
    );
    hits.reset();
    run_as(&gw, "{ cached { n } }", json!({}), Some("Bearer alice")).await;
    run_as(&gw, "{ cached { n } }", json!({}), Some("Bearer alice")).await;
    run_as(&gw, "{ cached { n } }", json!({}), Some("Bearer bob")).await;
    assert_eq!(hits.get("/counter"), 2, "one call per credential");
}

#[tokio::test]
async fn a_batch_already_answered_earlier_in_the_request_is_reused() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(
        &run(
            &gw,
            "{ posts { userId user { id posts { userId user { id } } } } }",
            json!({}),
        )
        .await,
    );
    assert!(out.get("errors").is_none(), "{out}");
    for outer in out["data"]["posts"].as_array().unwrap() {
        for inner in outer["user"]["posts"].as_array().unwrap() {
            assert_eq!(inner["user"]["id"], inner["userId"]);
        }
    }
    assert_eq!(hits.get("/users?id=1&id=2"), 1);
    assert_eq!(hits.get("/users?id=3"), 1);
}

#[tokio::test]
async fn mutations_are_never_shared_within_or_across_requests() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let answers = concurrently(&gw, vec!["mutation { bump { n } }".to_string(); 4]).await;
    assert_eq!(hits.get("POST /bump"), 4, "{answers:?}");
    let out = parse(&run(&gw, "mutation { a: bump { n } b: bump { n } }", json!({})).await);
    assert_eq!(hits.get("POST /bump"), 6);
    // Root mutation fields run one after another, in order.
    assert_eq!(
        (
            out["data"]["a"]["n"].as_i64(),
            out["data"]["b"]["n"].as_i64()
        ),
        (Some(5), Some(6))
    );
}

#[tokio::test]
async fn a_body_batch_posts_the_keys_and_finds_the_items_at_their_path() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(
        &run(
            &gw,
            "{ orphans { id userId poster { id name } } }",
            json!({}),
        )
        .await,
    );
    let posts = out["data"]["orphans"].as_array().unwrap();
    // userIds 1, 99, null, 2: the null makes no call; 99 has no item (null plus an error);
    // the others get their own user although the answer is reversed, duplicated and padded.
    assert_eq!(posts[0]["poster"], json!({"id": 1, "name": "user 1"}));
    assert_eq!(posts[1]["poster"], Value::Null);
    assert_eq!(posts[2]["poster"], Value::Null);
    assert_eq!(posts[3]["poster"], json!({"id": 2, "name": "user 2"}));
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["path"], json!(["orphans", 1, "poster"]));
    assert_eq!(
        errors[0]["extensions"]["code"],
        json!("UPSTREAM_INVALID_RESPONSE")
    );
    // 3 distinct keys, maxSize 2: two POSTs with the keys in the body, no per-id call.
    assert_eq!(
        hits.matching("POST /users/lookup"),
        vec![
            "POST /users/lookup [1,99]".to_string(),
            "POST /users/lookup [2]".to_string()
        ]
    );
    assert_eq!(hits.matching("/users/"), Vec::<String>::new());
}

#[tokio::test]
async fn a_batch_answer_without_its_items_or_with_a_failure_is_an_error_on_each_field_it_serves() {
    let (base, _) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let out = parse(
        &run(
            &gw,
            "{ orphans { id misplaced { id } broken { id } } }",
            json!({}),
        )
        .await,
    );
    let posts = out["data"]["orphans"].as_array().unwrap();
    for post in posts {
        assert_eq!(post["misplaced"], Value::Null, "{out}");
        assert_eq!(post["broken"], Value::Null, "{out}");
    }
    let errors = out["errors"].as_array().unwrap();
    let at = |field: &str| -> Vec<&Value> {
        errors
            .iter()
            .filter(|e| e["path"][2] == json!(field))
            .collect()
    };
    // Three posts have a key (the fourth's is null: no call, no error).
    let misplaced = at("misplaced");
    assert_eq!(misplaced.len(), 3, "{out}");
    for e in &misplaced {
        assert_eq!(e["extensions"]["code"], json!("UPSTREAM_INVALID_RESPONSE"));
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("no list at `data.people`"),
            "{e}"
        );
    }
    let broken = at("broken");
    assert_eq!(broken.len(), 3, "{out}");
    for e in &broken {
        assert_eq!(
            e["extensions"]["code"],
            json!("UPSTREAM_HTTP_STATUS"),
            "{e}"
        );
        assert_eq!(e["extensions"]["status"], json!(500), "{e}");
    }
}

#[tokio::test]
async fn a_body_batch_of_a_cached_read_link_is_cached_like_a_get() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let query = "{ posts { userId cachedPoster { id } } }";
    let posted = || -> usize {
        hits.matching("POST /users/lookup")
            .iter()
            .map(|k| hits.get(k))
            .sum()
    };
    for _ in 0..2 {
        let out = parse(&run(&gw, query, json!({})).await);
        for post in out["data"]["posts"].as_array().unwrap() {
            assert_eq!(post["cachedPoster"]["id"], post["userId"], "{out}");
        }
    }
    assert_eq!(posted(), 1, "the second request is answered from the cache");
}

#[tokio::test]
async fn concurrent_operations_that_differ_only_in_variables_run_apart() {
    let (base, hits) = upstream().await;
    let gw = gateway(&base, Some(PlanOptions::default()));
    let query = "query ($t: String) { slow(tag: $t) { n } }";
    let (a, b) = tokio::join!(
        run(&gw, query, json!({"t": "a"})),
        run(&gw, query, json!({"t": "b"}))
    );
    for out in [parse(&a), parse(&b)] {
        assert!(out.get("errors").is_none(), "{out}");
    }
    assert_eq!(
        (hits.get("/slow?tag=a"), hits.get("/slow?tag=b")),
        (1, 1),
        "one execution per variable value"
    );
}
