//! Response caching driven by `cacheTtl` and, for sources with `httpCache: true`, by the
//! upstream's `Cache-Control` (shared-cache rules), against a real upstream on 127.0.0.1
//! that counts its calls; and the per-request upstream-call limit of the plan executor.

mod common_plan;

use std::time::Duration;

use common_plan::{Hits, SDL, gateway_for, run, run_as, upstream};
use engine::plan::PlanOptions;
use engine::{Gateway, GatewayOptions, RequestContext};
use serde_json::{Value, json};

const CACHING_SDL: &str = r#"
schema
  @source(name: "http", rest: {baseUrl: "{{env.UP}}"}, httpCache: true, forwardHeaders: ["authorization"])
  @source(name: "plain", rest: {baseUrl: "{{env.UP}}"}, forwardHeaders: ["authorization"])
  @source(name: "shown", rest: {baseUrl: "{{env.UP}}"}, httpCache: true, responseHeaders: ["cache-control"])
  { query: Query mutation: Mutation }

type Query {
  fresh(tag: String!, cc: String, age: String, status: Int, body: String): Answer
    @rest(source: "http", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}, {name: "age", value: "{{args.age}}"}, {name: "status", value: "{{args.status}}"}, {name: "body", value: "{{args.body}}"}])
  short(tag: String!, cc: String): Answer
    @rest(source: "http", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}], cacheTtl: 1)
  long(tag: String!, cc: String): Answer
    @rest(source: "http", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}], cacheTtl: 60)
  plain(tag: String!, cc: String): Answer
    @rest(source: "plain", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}])
  plainCached(tag: String!, cc: String, status: Int, body: String): Answer
    @rest(source: "plain", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}, {name: "status", value: "{{args.status}}"}, {name: "body", value: "{{args.body}}"}], cacheTtl: 60)
  shown(tag: String!, cc: String, age: String): Answer
    @rest(source: "shown", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}, {name: "age", value: "{{args.age}}"}])
}

type Answer { n: Int! auth: String }

type Mutation {
  touch(tag: String!, cc: String): Answer
    @rest(source: "http", method: POST, path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}])
}
"#;

async fn caching_gateway() -> (Gateway, Hits) {
    let (base, hits) = upstream().await;
    let gw = gateway_for(
        CACHING_SDL,
        &base,
        GatewayOptions::default(),
        Some(PlanOptions::default()),
    );
    (gw, hits)
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// Runs `query` twice and returns the upstream calls of `tag`.
async fn twice(gw: &Gateway, hits: &Hits, tag: &str, query: &str) -> usize {
    for _ in 0..2 {
        run(gw, query, json!({})).await;
    }
    hits.get(&format!("/cc/{tag}"))
}

#[tokio::test]
async fn max_age_caches_until_the_upstream_lifetime_ends() {
    let (gw, hits) = caching_gateway().await;
    let q = r#"{ fresh(tag: "m", cc: "max-age=1") { n } }"#;
    let first = parse(&run(&gw, q, json!({})).await);
    let second = parse(&run(&gw, q, json!({})).await);
    assert_eq!(first, json!({"data": {"fresh": {"n": 1}}}));
    assert_eq!(second, first, "served from the cache");
    assert_eq!(hits.get("/cc/m"), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let third = parse(&run(&gw, q, json!({})).await);
    assert_eq!(third, json!({"data": {"fresh": {"n": 2}}}), "expired");
    assert_eq!(hits.get("/cc/m"), 2);
}

#[tokio::test]
async fn a_cache_ttl_and_the_upstream_lifetime_the_smaller_wins() {
    let (gw, hits) = caching_gateway().await;
    // short: cacheTtl 1 s, upstream 60 s; long: cacheTtl 60 s, upstream 1 s; quiet: cacheTtl
    // 60 s, the upstream says nothing.
    let q = r#"{
      short(tag: "short", cc: "max-age=60") { n }
      long(tag: "long", cc: "max-age=1") { n }
      quiet: long(tag: "quiet") { n }
    }"#;
    run(&gw, q, json!({})).await;
    run(&gw, q, json!({})).await;
    let calls = |h: &Hits| (h.get("/cc/short"), h.get("/cc/long"), h.get("/cc/quiet"));
    assert_eq!(calls(&hits), (1, 1, 1), "all three cached");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    run(&gw, q, json!({})).await;
    assert_eq!(
        calls(&hits),
        (2, 2, 1),
        "the 1 s bound expired, whichever side set it; without a lifetime cacheTtl applies"
    );
}

#[tokio::test]
async fn s_maxage_wins_over_max_age() {
    let (gw, hits) = caching_gateway().await;
    let shared = r#"{ fresh(tag: "s1", cc: "max-age=0, s-maxage=60") { n } }"#;
    assert_eq!(twice(&gw, &hits, "s1", shared).await, 1);
    let not = r#"{ fresh(tag: "s2", cc: "s-maxage=0, max-age=60") { n } }"#;
    assert_eq!(twice(&gw, &hits, "s2", not).await, 2);
}

#[tokio::test]
async fn no_store_no_cache_and_private_are_not_cached_even_with_a_cache_ttl() {
    let (gw, hits) = caching_gateway().await;
    for (i, cc) in [
        "max-age=60, no-store",
        "no-cache, max-age=60",
        "private, max-age=60",
    ]
    .iter()
    .enumerate()
    {
        let tag = format!("f{i}");
        let q = format!(r#"{{ fresh(tag: "{tag}", cc: "{cc}") {{ n }} }}"#);
        assert_eq!(twice(&gw, &hits, &tag, &q).await, 2, "{cc}");
        let tag = format!("l{i}");
        let q = format!(r#"{{ long(tag: "{tag}", cc: "{cc}") {{ n }} }}"#);
        assert_eq!(twice(&gw, &hits, &tag, &q).await, 2, "{cc} with cacheTtl");
    }
}

#[tokio::test]
async fn the_age_header_is_subtracted_from_the_lifetime() {
    let (gw, hits) = caching_gateway().await;
    let spent = r#"{ fresh(tag: "a1", cc: "max-age=1", age: "1") { n } }"#;
    assert_eq!(twice(&gw, &hits, "a1", spent).await, 2);
    let left = r#"{ fresh(tag: "a2", cc: "max-age=60", age: "30") { n } }"#;
    assert_eq!(twice(&gw, &hits, "a2", left).await, 1);
}

#[tokio::test]
async fn malformed_cache_control_is_ignored() {
    let (gw, hits) = caching_gateway().await;
    let q = r#"{ fresh(tag: "bad", cc: "max-age=abc") { n } }"#;
    assert_eq!(
        twice(&gw, &hits, "bad", q).await,
        2,
        "no lifetime, no cacheTtl"
    );
    let q = r#"{ long(tag: "bad-ttl", cc: "max-age=abc") { n } }"#;
    assert_eq!(twice(&gw, &hits, "bad-ttl", q).await, 1, "cacheTtl applies");
}

#[tokio::test]
async fn without_http_cache_upstream_headers_are_ignored_and_cache_ttl_alone_decides() {
    let (gw, hits) = caching_gateway().await;
    let q = r#"{ plain(tag: "p1", cc: "max-age=60") { n } }"#;
    assert_eq!(twice(&gw, &hits, "p1", q).await, 2);
    let q = r#"{ plainCached(tag: "p2", cc: "no-store") { n } }"#;
    assert_eq!(twice(&gw, &hits, "p2", q).await, 1);
}

#[tokio::test]
async fn each_credential_gets_its_own_cached_answer() {
    let (gw, hits) = caching_gateway().await;
    let q = r#"{ fresh(tag: "c", cc: "max-age=60") { n auth } }"#;
    let as_ = |who: &'static str| {
        let gw = &gw;
        async move { parse(&run_as(gw, q, json!({}), Some(who)).await) }
    };
    let alice = as_("Bearer alice").await;
    let bob = as_("Bearer bob").await;
    assert_eq!(alice["data"]["fresh"]["auth"], "Bearer alice");
    assert_eq!(bob["data"]["fresh"]["auth"], "Bearer bob");
    assert_eq!(hits.get("/cc/c"), 2, "one call per credential");
    for _ in 0..2 {
        assert_eq!(as_("Bearer alice").await, alice);
        assert_eq!(as_("Bearer bob").await, bob);
    }
    let anonymous = parse(&run(&gw, q, json!({})).await);
    assert_eq!(anonymous["data"]["fresh"]["auth"], Value::Null);
    assert_eq!(hits.get("/cc/c"), 3, "the same callers hit the cache");
}

#[tokio::test]
async fn failures_and_answers_that_are_not_json_are_never_cached() {
    let (gw, hits) = caching_gateway().await;
    for (tag, field, extra) in [
        ("e1", "fresh", "status: 500"),
        ("e2", "fresh", r#"body: "text""#),
        ("e3", "plainCached", "status: 500"),
        ("e4", "plainCached", r#"body: "text""#),
    ] {
        let q = format!(r#"{{ {field}(tag: "{tag}", cc: "max-age=60", {extra}) {{ n }} }}"#);
        let out = parse(&run(&gw, &q, json!({})).await);
        assert_eq!(out["data"][field], Value::Null, "{out}");
        assert!(out["errors"][0]["extensions"]["code"].is_string(), "{out}");
        assert_eq!(twice(&gw, &hits, tag, &q).await, 3, "{field} {extra}");
    }
}

#[tokio::test]
async fn mutations_are_never_cached() {
    let (gw, hits) = caching_gateway().await;
    let q = r#"mutation { touch(tag: "mu", cc: "max-age=60") { n } }"#;
    assert_eq!(twice(&gw, &hits, "mu", q).await, 2);
}

#[tokio::test]
async fn freshness_headers_read_for_caching_are_passed_back_only_when_the_source_names_them() {
    let (gw, _) = caching_gateway().await;
    let headers = |q: &'static str| {
        let gw = &gw;
        async move {
            let request = async_graphql::Request::new(q);
            gw.execute_rendered(request, RequestContext::default())
                .await
                .headers
        }
    };
    let hidden = headers(r#"{ fresh(tag: "h1", cc: "max-age=60", age: "5") { n } }"#).await;
    assert!(hidden.get("cache-control").is_none(), "{hidden:?}");
    assert!(hidden.get("age").is_none(), "{hidden:?}");
    for _ in 0..2 {
        let shown = headers(r#"{ shown(tag: "h2", cc: "max-age=60", age: "5") { n } }"#).await;
        assert_eq!(shown.get("cache-control").unwrap(), "max-age=60");
        assert!(shown.get("age").is_none(), "{shown:?}");
    }
}

#[tokio::test]
async fn calls_over_the_upstream_call_limit_fail_and_the_other_fields_resolve() {
    let (base, hits) = upstream().await;
    let mut options = GatewayOptions::default();
    options.limits.max_upstream_calls = 3;
    let gw = gateway_for(SDL, &base, options, Some(PlanOptions::default()));
    // posts (1 call), then the authors of userIds 1, 2, 1, 3, 2: users 1 and 2 fit in the
    // limit of 3, user 3 does not.
    let out = parse(&run(&gw, "{ posts { id author { id } } }", json!({})).await);
    let posts = out["data"]["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 5, "{out}");
    for (i, post) in posts.iter().enumerate() {
        if i == 3 {
            assert_eq!(post["author"], Value::Null, "{out}");
        } else {
            assert!(post["author"]["id"].is_number(), "{out}");
        }
    }
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_CALL_LIMIT");
    assert_eq!(errors[0]["path"], json!(["posts", 3, "author"]));
    assert_eq!(hits.get("/users/3"), 0, "the refused call is never sent");
    assert_eq!(hits.total(), 3);
}

#[tokio::test]
async fn cached_answers_do_not_count_against_the_upstream_call_limit() {
    let (base, hits) = upstream().await;
    let mut options = GatewayOptions::default();
    options.limits.max_upstream_calls = 1;
    let gw = gateway_for(CACHING_SDL, &base, options, Some(PlanOptions::default()));
    // Fills the cache with one call.
    let first = parse(&run(&gw, r#"{ long(tag: "budget") { n } }"#, json!({})).await);
    assert!(first.get("errors").is_none(), "{first}");
    // The cached field costs nothing, so the one allowed call goes to `plain`.
    let second = parse(
        &run(
            &gw,
            r#"{ long(tag: "budget") { n } plain(tag: "other") { n } }"#,
            json!({}),
        )
        .await,
    );
    assert!(second.get("errors").is_none(), "{second}");
    assert_eq!(second["data"]["long"], first["data"]["long"]);
    assert_eq!((hits.get("/cc/budget"), hits.get("/cc/other")), (1, 1));
    // Two uncached calls are still over the limit.
    let third = parse(
        &run(
            &gw,
            r#"{ a: plain(tag: "x") { n } b: plain(tag: "y") { n } }"#,
            json!({}),
        )
        .await,
    );
    assert_eq!(
        third["errors"][0]["extensions"]["code"], "UPSTREAM_CALL_LIMIT",
        "{third}"
    );
}
