//! Replicas configured with one Redis (`execution.shared_cache`) share cached answers and
//! persisted queries: two in-process grafts over one upstream, a real `redis-server`, and
//! the metrics that show it.

mod common;
#[path = "../../engine/tests/redis_server/mod.rs"]
mod redis_server;

use std::time::Duration;

use common::{GQL, client, sha256_hex, start_over, upstream};
use graft::config::{Config, SharedCacheConfig};
use redis_server::Redis;
use serde_json::{Value, json};

/// Two grafts over one upstream, configured with `redis` as their shared cache, connected.
async fn replicas(redis: &Redis) -> (common::Graft, common::Graft) {
    let mut config = Config::default();
    config.execution.shared_cache = Some(SharedCacheConfig {
        redis_url: redis.url(),
        key_prefix: "graft:".to_string(),
        timeout_ms: 200,
        tls_ca_file: None,
        tls_cert_file: None,
        tls_key_file: None,
        cluster: false,
    });
    let upstream = upstream().await;
    let a = start_over(upstream, config.clone()).await;
    let b = start_over(upstream, config).await;
    for graft in [&a, &b] {
        let shared = graft.state.shared_cache.as_ref().expect("configured");
        for _ in 0..100 {
            if shared.connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(shared.connected());
    }
    (a, b)
}

/// POSTs a GraphQL-over-HTTP `body` to `graft` and reads the JSON answer.
async fn post_json(graft: &common::Graft, body: Value) -> Value {
    client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .header("accept", GQL)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The request id the upstream saw, as `{ cachedHeaders }` answers it (cached for 60 s).
async fn seen_request_id(graft: &common::Graft, id: &str) -> Value {
    let answer = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .header("accept", GQL)
        .header("x-request-id", id)
        .body(json!({ "query": "{ cachedHeaders }" }).to_string())
        .send()
        .await
        .unwrap();
    let body: Value = answer.json().await.unwrap();
    body["data"]["cachedHeaders"]["x-request-id"].clone()
}

#[tokio::test]
async fn replicas_configured_with_one_redis_serve_each_others_cached_answers() {
    let Some(redis) = Redis::start("replicas_share") else {
        return;
    };
    let (a, b) = replicas(&redis).await;
    assert_eq!(seen_request_id(&a, "asked-a").await, json!("asked-a"));
    redis.wait_for_keys(1).await;
    // B's own call would show B's request id: this answer is the one A fetched.
    assert_eq!(seen_request_id(&b, "asked-b").await, json!("asked-a"));

    let ready: Value = client()
        .get(b.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["shared_cache"],
        json!({"connected": true, "suspended": false}),
        "{ready}"
    );

    let metrics = client().get(b.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("graft_shared_cache_total{result=\"hit\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_query_persisted_through_one_replica_is_run_by_its_hash_on_another() {
    let Some(redis) = Redis::start("replicas_persisted") else {
        return;
    };
    let (a, b) = replicas(&redis).await;
    let query = "{ user(id: 1) { name } }";
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}});
    let full = json!({ "query": query, "extensions": extensions });
    let answer = post_json(&a, full).await;
    let expected = json!({ "data": { "user": { "name": "Ada Lovelace" } } });
    assert_eq!(answer, expected);
    let keys = redis.wait_for_keys(1).await;
    // Kept for `persisted_queries.shared_ttl_s`, a day by default.
    let ttl = redis.pttl(&keys[0]).await;
    assert!(ttl > 86_000_000 && ttl <= 86_400_000, "{ttl}");
    // Sending the text again starts its lifetime again (the write is in the background).
    redis.pexpire(&keys[0], 60_000).await;
    assert!(redis.pttl(&keys[0]).await <= 60_000);
    post_json(&a, json!({ "query": query, "extensions": extensions })).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while redis.pttl(&keys[0]).await <= 60_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the lifetime was not renewed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // B was never sent the text: it finds it in Redis.
    let hashed = json!({ "extensions": extensions });
    let answer = post_json(&b, hashed).await;
    assert_eq!(answer, expected);
    let metrics = client().get(b.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("graft_persisted_queries_total{result=\"shared_hit\"}"),
        "{text}"
    );

    // Text in Redis is trusted no further than its hash: another query planted under a
    // hash is not run (graft's key: the prefix, then the SHA-256 of `apq:<hash>`).
    let other = "{ user(id: 2) { name } }";
    let key = format!(
        "graft:{}",
        sha256_hex(&format!("apq:{}", sha256_hex(other)))
    );
    redis.set_px(&key, query, 60_000).await;
    let planted = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(other)}});
    let answer = post_json(&b, json!({ "extensions": planted })).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{answer}"
    );
}
