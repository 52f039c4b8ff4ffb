//! The response cache's shared tier against a real `redis-server` on 127.0.0.1: gateways
//! built apart (as replicas are) share answers through it, over TLS too; credentials and
//! `sharedCache: false` sources stay apart; a Redis that is down, stopped, frozen or holding
//! garbage never costs a correct answer (a frozen one is left alone for a while); and writes
//! waiting on a slow Redis are bounded.
//!
//! Needs `redis-server` (Debian `redis-server`): without it the tests are skipped with a
//! printed reason, except under `CI=true`, where they fail.

mod common_plan;
mod redis_server;

use std::net::TcpListener;
use std::time::Duration;

use common_plan::{Hits, gateway_for, run, run_as, upstream};
use engine::cache::shared::{FAILURES_TO_SUSPEND, MAX_PENDING_WRITES, SUSPENSION};
use engine::cache::{ClientCertificate, SharedCache, SharedCacheOptions};
use engine::decoded::Decoded;
use engine::plan::PlanOptions;
use engine::plan::exec::Fetched;
use engine::{Gateway, GatewayOptions, Limits, RequestContext};
use redis_server::{Redis, RedisCluster};
use serde_json::{Value, json};

const SDL: &str = r#"
schema
  @source(name: "plain", rest: {baseUrl: "{{env.UP}}"}, forwardHeaders: ["authorization"])
  @source(name: "shown", rest: {baseUrl: "{{env.UP}}"}, httpCache: true, responseHeaders: ["cache-control"])
  @source(name: "own", rest: {baseUrl: "{{env.UP}}"}, sharedCache: false)
  { query: Query }

type Query {
  long(tag: String!): Answer @rest(source: "plain", path: "/cc/{{args.tag}}", cacheTtl: 60)
  kept(tag: String!): Answer @rest(source: "own", path: "/cc/{{args.tag}}", cacheTtl: 60)
  shown(tag: String!, cc: String): Answer
    @rest(source: "shown", path: "/cc/{{args.tag}}", query: [{name: "cc", value: "{{args.cc}}"}])
}

type Answer { n: Int! auth: String }
"#;

/// A shared tier on `url` (trusting `certificate` for TLS), as each replica opens its own;
/// waits for the connection when `reachable`.
async fn tier_trusting(url: &str, certificate: Option<Vec<u8>>, reachable: bool) -> SharedCache {
    let options = SharedCacheOptions {
        url: url.to_string(),
        key_prefix: "test:".to_string(),
        timeout: Duration::from_millis(200),
        root_certificates: certificate,
        client_certificate: None,
        cluster: false,
    };
    connect(&options, reachable).await
}

/// A shared tier with `options`; waits for the connection when `reachable`.
async fn connect(options: &SharedCacheOptions, reachable: bool) -> SharedCache {
    let shared = SharedCache::connect(options).unwrap();
    for _ in 0..100 {
        if !reachable || shared.connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shared.connected(), reachable);
    shared
}

async fn tier(url: &str, reachable: bool) -> SharedCache {
    tier_trusting(url, None, reachable).await
}

/// A gateway (a replica) with its own in-process cache in front of `shared`.
fn replica(base: &str, shared: SharedCache) -> Gateway {
    let plan = PlanOptions {
        shared_cache: Some(shared),
        ..PlanOptions::default()
    };
    gateway_for(SDL, base, GatewayOptions::default(), Some(plan))
}

async fn execute(gateway: &Gateway, query: &str) -> engine::plan::RenderedResponse {
    let request = async_graphql::Request::new(query);
    gateway
        .execute_rendered(request, RequestContext::default())
        .await
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// Replica A fetches `{ long(tag) }` (the upstream's first answer of the tag) and stores it
/// in `redis`; replica B then answers A's entry without calling the upstream.
async fn b_serves_what_a_fetched(a: &Gateway, b: &Gateway, redis: &Redis, hits: &Hits, tag: &str) {
    let q = format!(r#"{{ long(tag: "{tag}") {{ n }} }}"#);
    let first = json!({"data": {"long": {"n": 1}}});
    assert_eq!(parse(&run(a, &q, json!({})).await), first);
    redis.wait_for_keys(1).await;
    assert_eq!(parse(&run(b, &q, json!({})).await), first);
    assert_eq!(
        hits.get(&format!("/cc/{tag}")),
        1,
        "served from the other replica's entry"
    );
}

async fn start(test: &str) -> Option<(Redis, String, Hits)> {
    let redis = Redis::start(test)?;
    let (base, hits) = upstream().await;
    Some((redis, base, hits))
}

#[tokio::test]
async fn a_replica_serves_what_another_fetched_and_credentials_stay_apart() {
    let Some((redis, base, hits)) = start("shared_answers").await else {
        return;
    };
    let a = replica(&base, tier(&redis.url(), true).await);
    let b = replica(&base, tier(&redis.url(), true).await);
    let q = r#"{ long(tag: "s") { n auth } }"#;
    let first = parse(&run_as(&a, q, json!({}), Some("Bearer one")).await);
    assert_eq!(
        first,
        json!({"data": {"long": {"n": 1, "auth": "Bearer one"}}})
    );
    let keys = redis.wait_for_keys(1).await;
    // Keys are hashes: the forwarded credential is not readable in Redis.
    assert!(
        keys.iter()
            .all(|k| k.len() == "test:".len() + 64 && !k.contains("Bearer")),
        "{keys:?}"
    );
    let ttl = redis.pttl(&keys[0]).await;
    assert!(
        ttl > 0 && ttl <= 60_000,
        "stored with the field's TTL: {ttl}"
    );

    let second = parse(&run_as(&b, q, json!({}), Some("Bearer one")).await);
    assert_eq!(second, first, "the other replica's answer");
    assert_eq!(hits.get("/cc/s"), 1);

    let other = parse(&run_as(&b, q, json!({}), Some("Bearer two")).await);
    assert_eq!(
        other,
        json!({"data": {"long": {"n": 2, "auth": "Bearer two"}}})
    );
    assert_eq!(hits.get("/cc/s"), 2, "another credential is another entry");
}

#[tokio::test]
async fn passed_back_headers_and_the_upstream_lifetime_travel_with_the_entry() {
    let Some((redis, base, hits)) = start("shared_headers").await else {
        return;
    };
    let a = replica(&base, tier(&redis.url(), true).await);
    let b = replica(&base, tier(&redis.url(), true).await);
    let q = r#"{ shown(tag: "h", cc: "max-age=30") { n } }"#;
    let first = execute(&a, q).await;
    let keys = redis.wait_for_keys(1).await;
    let ttl = redis.pttl(&keys[0]).await;
    assert!(
        ttl > 0 && ttl <= 30_000,
        "stored for the upstream's max-age: {ttl}"
    );
    let second = execute(&b, q).await;
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers.get("cache-control").unwrap(), "max-age=30");
    assert_eq!(hits.get("/cc/h"), 1);
}

#[tokio::test]
async fn an_entry_that_does_not_decode_is_a_miss_and_the_upstream_answers() {
    let Some((redis, base, hits)) = start("shared_garbage").await else {
        return;
    };
    let a = replica(&base, tier(&redis.url(), true).await);
    let q = r#"{ long(tag: "g") { n } }"#;
    run(&a, q, json!({})).await;
    let keys = redis.wait_for_keys(1).await;
    for (garbage, label) in [
        (&b"not json"[..], "not JSON"),
        (br#"{"value": {"n": 99}}"#, "no headers"),
        (
            br#"{"value": {"n": 99}, "headers": [["bad name", "x"]]}"#,
            "a bad header name",
        ),
    ] {
        redis.set_px(&keys[0], garbage, 60_000).await;
        let before = hits.get("/cc/g");
        // A new replica: its in-process tier is empty, so it reads Redis.
        let fresh = replica(&base, tier(&redis.url(), true).await);
        let answer = parse(&run(&fresh, q, json!({})).await);
        assert_eq!(
            answer,
            json!({"data": {"long": {"n": before + 1}}}),
            "{label}: the upstream's answer, without errors"
        );
        assert_eq!(hits.get("/cc/g"), before + 1, "{label}");
    }
}

#[tokio::test]
async fn without_redis_every_replica_still_answers_from_the_upstream() {
    let Some((redis, base, hits)) = start("shared_down").await else {
        return;
    };
    // Never reachable: a port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let lonely = replica(&base, tier(&closed_url, false).await);
    let q = r#"{ long(tag: "d") { n } }"#;
    let answer = tokio::time::timeout(Duration::from_secs(5), run(&lonely, q, json!({})))
        .await
        .expect("answered although Redis is unreachable");
    assert_eq!(parse(&answer), json!({"data": {"long": {"n": 1}}}));
    assert_eq!(hits.get("/cc/d"), 1);

    // Reachable, then stopped while replicas run: lookups miss, answers stay correct.
    let shared = tier(&redis.url(), true).await;
    drop(redis);
    let q = r#"{ long(tag: "e") { n } }"#;
    for expected in 1..=2 {
        let fresh = replica(&base, shared.clone());
        let answer = tokio::time::timeout(Duration::from_secs(5), run(&fresh, q, json!({})))
            .await
            .expect("answered although Redis stopped");
        assert_eq!(parse(&answer), json!({"data": {"long": {"n": expected}}}));
    }
}

#[tokio::test]
async fn a_tls_redis_is_shared_when_its_ca_is_trusted_and_only_missed_otherwise() {
    let dir = std::env::temp_dir().join(format!("graft-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(redis) = Redis::start_tls("shared_tls", &dir) else {
        return;
    };
    let (base, hits) = upstream().await;
    let url = redis.url();
    let a = replica(
        &base,
        tier_trusting(&url, redis.tls_certificate(), true).await,
    );
    let b = replica(
        &base,
        tier_trusting(&url, redis.tls_certificate(), true).await,
    );
    b_serves_what_a_fetched(&a, &b, &redis, &hits, "t").await;
    let q = r#"{ long(tag: "t") { n } }"#;

    // The system's roots do not know the test CA: the handshake fails, lookups miss.
    let untrusted = tier(&url, false).await;
    let untrusting = replica(&base, untrusted.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!untrusted.connected());
    assert_eq!(
        parse(&run(&untrusting, q, json!({})).await),
        json!({"data": {"long": {"n": 2}}})
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_redis_that_verifies_clients_is_shared_only_by_replicas_presenting_a_certificate() {
    let dir = std::env::temp_dir().join(format!("graft-redis-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(redis) = Redis::start_mutual_tls("shared_mtls", &dir) else {
        return;
    };
    let (base, hits) = upstream().await;
    let (certificate, key) = redis.client_certificate().unwrap();
    let options = |client_certificate| SharedCacheOptions {
        url: redis.url(),
        key_prefix: "test:".to_string(),
        timeout: Duration::from_millis(200),
        root_certificates: redis.tls_certificate(),
        client_certificate,
        cluster: false,
    };
    let presenting = Some(ClientCertificate { certificate, key });
    let a = replica(&base, connect(&options(presenting.clone()), true).await);
    let b = replica(&base, connect(&options(presenting), true).await);
    b_serves_what_a_fetched(&a, &b, &redis, &hits, "m").await;
    let q = r#"{ long(tag: "m") { n } }"#;

    // The server's CA is trusted but no certificate is presented: Redis refuses the
    // handshake, so the tier never connects and the upstream answers.
    let anonymous = connect(&options(None), false).await;
    let c = replica(&base, anonymous.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!anonymous.connected());
    assert_eq!(
        parse(&run(&c, q, json!({})).await),
        json!({"data": {"long": {"n": 2}}})
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_hung_redis_is_skipped_after_failures_in_a_row_and_used_again_later() {
    let Some((redis, base, hits)) = start("shared_hung").await else {
        return;
    };
    let shared = tier(&redis.url(), true).await;
    let gw = replica(&base, shared.clone());
    let ask = |tag: &str| format!(r#"{{ long(tag: "{tag}") {{ n }} }}"#);
    run(&gw, &ask("h0"), json!({})).await;
    redis.wait_for_keys(1).await;
    // Connected, but nothing answers: every command times out.
    redis.pause();
    for tag in ["h1", "h2", "h3"] {
        let answer = parse(&run(&gw, &ask(tag), json!({})).await);
        assert_eq!(answer, json!({"data": {"long": {"n": 1}}}), "{tag}");
    }
    assert!(
        shared.suspended(),
        "{FAILURES_TO_SUSPEND} timed-out lookups in a row suspend the tier"
    );
    assert!(shared.connected());
    // Suspended, Redis is not asked even once it answers again: a replica with an empty
    // in-process tier calls the upstream for h0, which Redis holds.
    redis.resume();
    let other = replica(&base, shared.clone());
    let answer = parse(&run(&other, &ask("h0"), json!({})).await);
    assert_eq!(answer, json!({"data": {"long": {"n": 2}}}));
    assert!(shared.suspended(), "still within the suspension");

    for _ in 0..100 {
        if !shared.suspended() {
            break;
        }
        tokio::time::sleep(SUSPENSION / 20).await;
    }
    assert!(!shared.suspended(), "a suspension ends");
    // Used again: what one replica fetches now, a fresh one is served from Redis.
    let before = redis.keys().await.len();
    run(&gw, &ask("h5"), json!({})).await;
    redis.wait_for_keys(before + 1).await;
    let fresh = replica(&base, tier(&redis.url(), true).await);
    let answer = parse(&run(&fresh, &ask("h5"), json!({})).await);
    assert_eq!(answer, json!({"data": {"long": {"n": 1}}}));
    assert_eq!(hits.get("/cc/h5"), 1);
}

#[tokio::test]
async fn writes_waiting_on_a_frozen_redis_are_bounded_and_the_rest_dropped() {
    let Some(redis) = Redis::start("shared_write_bound") else {
        return;
    };
    // A command timeout far above the freeze below, so the waiting writes all complete.
    let options = SharedCacheOptions {
        url: redis.url(),
        key_prefix: "test:".to_string(),
        timeout: Duration::from_secs(10),
        root_certificates: None,
        client_certificate: None,
        cluster: false,
    };
    let shared = connect(&options, true).await;
    let fetched = Fetched {
        value: Decoded::Json(json!({"n": 1})),
        headers: http::HeaderMap::new(),
    };
    redis.pause();
    for i in 0..MAX_PENDING_WRITES + 40 {
        shared.put(&format!("w{i}"), &fetched, Duration::from_secs(60));
    }
    // The writes are sent and wait on the frozen server; more are dropped, not queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        shared.put(&format!("late{i}"), &fetched, Duration::from_secs(60));
    }
    redis.resume();
    redis.wait_for_keys(MAX_PENDING_WRITES).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = redis.keys().await;
    assert_eq!(
        keys.len(),
        MAX_PENDING_WRITES,
        "only the writes within the bound, none of the late ones"
    );
    // With the writes done, the bound is free again.
    shared.put("after", &fetched, Duration::from_secs(60));
    redis.wait_for_keys(MAX_PENDING_WRITES + 1).await;
}

#[tokio::test]
async fn a_source_with_shared_cache_false_keeps_its_answers_in_each_replica() {
    let Some((redis, base, hits)) = start("shared_opt_out").await else {
        return;
    };
    let a = replica(&base, tier(&redis.url(), true).await);
    let b = replica(&base, tier(&redis.url(), true).await);
    let (kept, long) = (r#"{ kept(tag: "k") { n } }"#, r#"{ long(tag: "l") { n } }"#);
    for _ in 0..2 {
        let answer = parse(&run(&a, kept, json!({})).await);
        assert_eq!(
            answer,
            json!({"data": {"kept": {"n": 1}}}),
            "cached in process"
        );
    }
    run(&a, long, json!({})).await;
    // The shared source's entry arrives; the opted-out one never does.
    assert_eq!(redis.wait_for_keys(1).await.len(), 1);
    let answer = parse(&run(&b, kept, json!({})).await);
    assert_eq!(
        answer,
        json!({"data": {"kept": {"n": 2}}}),
        "not from Redis"
    );
    assert_eq!(hits.get("/cc/k"), 2);
    assert_eq!(redis.keys().await.len(), 1);
}

/// An answer from the shared tier costs no upstream call: a replica answers more fields
/// than its call limit from Redis, and only reads that miss there count.
#[tokio::test]
async fn answers_from_the_shared_tier_do_not_count_against_the_call_limit() {
    let Some((redis, base, hits)) = start("shared_call_limit").await else {
        return;
    };
    let limited = |shared: SharedCache| {
        let options = GatewayOptions {
            limits: Limits {
                max_upstream_calls: 2,
                ..Limits::default()
            },
            ..GatewayOptions::default()
        };
        let plan = PlanOptions {
            shared_cache: Some(shared),
            ..PlanOptions::default()
        };
        gateway_for(SDL, &base, options, Some(plan))
    };
    let fields = |tags: &str| {
        let selections: Vec<String> = tags
            .chars()
            .map(|t| format!(r#"{t}: long(tag: "{t}") {{ n }}"#))
            .collect();
        format!("{{ {} }}", selections.join(" "))
    };
    let a = limited(tier(&redis.url(), true).await);
    for tags in ["ab", "c"] {
        let answer = parse(&run(&a, &fields(tags), json!({})).await);
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    redis.wait_for_keys(3).await;
    let b = limited(tier(&redis.url(), true).await);
    let answer = parse(&run(&b, &fields("abc"), json!({})).await);
    assert!(
        answer.get("errors").is_none(),
        "three answers from Redis: {answer}"
    );
    let fetched = |tags: &str| {
        tags.chars()
            .map(|t| hits.get(&format!("/cc/{t}")))
            .sum::<usize>()
    };
    assert_eq!(fetched("abc"), 3, "each fetched once, by the first replica");
    // Three answers b now keeps in process, and three reads that miss both tiers: two calls
    // within the limit, the third refused.
    let answer = parse(&run(&b, &fields("abcdef"), json!({})).await);
    let errors = answer["errors"].as_array().expect("a refused call");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(
        errors[0]["extensions"]["code"], "UPSTREAM_CALL_LIMIT",
        "{answer}"
    );
    assert_eq!(fetched("def"), 2);
}

#[tokio::test]
async fn replicas_share_answers_through_a_redis_cluster_and_follow_its_slots_as_they_move() {
    let Some(cluster) = RedisCluster::start("cluster", 3) else {
        return;
    };
    let (base, hits) = upstream().await;
    // One shard's URL: the client discovers the others.
    let options = SharedCacheOptions {
        url: cluster.url(),
        key_prefix: "test:".to_string(),
        timeout: Duration::from_millis(500),
        root_certificates: None,
        client_certificate: None,
        cluster: true,
    };
    let a = replica(&base, connect(&options, true).await);
    let b = replica(&base, connect(&options, true).await);
    let c = replica(&base, connect(&options, true).await);
    let tags: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let query = |tag: &str| format!(r#"{{ long(tag: "{tag}") {{ n }} }}"#);
    for tag in &tags {
        let answer = parse(&run(&a, &query(tag), json!({})).await);
        assert_eq!(answer, json!({"data": {"long": {"n": 1}}}), "{tag}");
    }
    let mut counts = Vec::new();
    for _ in 0..100 {
        counts = cluster.key_counts().await;
        if counts.iter().sum::<usize>() >= tags.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts.iter().sum::<usize>(), tags.len(), "{counts:?}");
    // Keys spread by hash slot: with 40 keys, every one of 3 shards holds some.
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    // B's own call of a tag would answer n: 2; every answer is the one A fetched.
    for tag in &tags {
        let answer = parse(&run(&b, &query(tag), json!({})).await);
        assert_eq!(answer, json!({"data": {"long": {"n": 1}}}), "{tag}");
        assert_eq!(hits.get(&format!("/cc/{tag}")), 1, "{tag}");
    }

    // The first shard's slots (and keys) move to the second while C, connected before,
    // still has the old map: C follows the redirections and finds every answer.
    cluster.move_slots(0, 1);
    let counts = cluster.key_counts().await;
    assert_eq!(counts[0], 0, "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), tags.len(), "{counts:?}");
    for tag in &tags {
        let answer = parse(&run(&c, &query(tag), json!({})).await);
        assert_eq!(answer, json!({"data": {"long": {"n": 1}}}), "{tag}");
        assert_eq!(hits.get(&format!("/cc/{tag}")), 1, "{tag}");
    }
}
