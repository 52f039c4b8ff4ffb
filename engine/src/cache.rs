//! The upstream response cache: an in-process tier, memory-bounded with a TTL per entry, and
//! optionally a shared tier in Redis behind it ([`shared`], for several replicas); and the one
//! rule deciding an answer's TTL ([`ttl`]).
//!
//! Entries are keyed by the rendered request's key ([`crate::upstream::Rendered::key`]),
//! which holds the source, the method, the URL and every header sent upstream — forwarded
//! credentials included — so one caller's credentialed answer is only ever served to a
//! request that would have sent the same credentials. Only successful reads are cached.
//!
//! In-process values are kept decoded (`Arc`), so a hit costs no parsing and cannot fail to
//! decode. The shared tier is read only after an in-process miss, inside the in-flight
//! sharing of the upstream call it may save; its hits fill the in-process tier.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::header::{AGE, CACHE_CONTROL};
use http::{HeaderMap, HeaderName};
use moka::Expiry;
use moka::sync::Cache;
use serde_json::Value;

use crate::plan::exec::Fetched;

pub mod shared;

pub use shared::{ClientCertificate, SharedCache, SharedCacheOptions};

/// A cached answer and how long it lives.
#[derive(Clone)]
struct Entry {
    fetched: Arc<Fetched>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A cheaply cloneable handle on one gateway's response cache.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Option<Cache<String, Entry>>,
    shared: Option<SharedCache>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.inner.as_ref().map(Cache::entry_count))
            .field("shared", &self.shared)
            .finish()
    }
}

impl ResponseCache {
    /// A cache holding at most about `max_bytes` of answers in process (`0`: none), in front
    /// of the `shared` tier if there is one.
    pub fn new(max_bytes: u64, shared: Option<SharedCache>) -> Self {
        if max_bytes == 0 {
            return ResponseCache {
                inner: None,
                shared,
            };
        }
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.fetched.value.approximate_size())
                    .unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        ResponseCache {
            inner: Some(cache),
            shared,
        }
    }

    /// The same cache without its shared tier (sources with `sharedCache: false`).
    pub fn in_process_only(&self) -> ResponseCache {
        ResponseCache {
            inner: self.inner.clone(),
            shared: None,
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some() || self.shared.is_some()
    }

    /// Whether there is a shared tier (Redis) behind the in-process one.
    pub fn shares(&self) -> bool {
        self.shared.is_some()
    }

    /// The in-process tier's answer.
    pub fn get(&self, key: &str) -> Option<Arc<Fetched>> {
        self.inner.as_ref()?.get(key).map(|e| e.fetched)
    }

    /// The shared tier's answer (after an in-process miss), kept in process for the rest of
    /// its lifetime.
    pub async fn get_shared(&self, key: &str) -> Option<Arc<Fetched>> {
        let (fetched, ttl) = self.shared.as_ref()?.get(key).await?;
        self.insert_local(key.to_string(), Arc::clone(&fetched), ttl);
        Some(fetched)
    }

    /// Keeps an upstream answer in both tiers for `ttl`.
    pub fn insert(&self, key: String, fetched: Arc<Fetched>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Some(shared) = &self.shared {
            shared.put(&key, &fetched, ttl);
        }
        self.insert_local(key, fetched, ttl);
    }

    fn insert_local(&self, key: String, fetched: Arc<Fetched>, ttl: Duration) {
        if let Some(cache) = &self.inner
            && !ttl.is_zero()
        {
            cache.insert(key, Entry { fetched, ttl });
        }
    }
}

/// How long an upstream answer may be cached; `None`: not at all.
///
/// - `http_cache` off (the default): the field's `cacheTtl` as is; upstream headers are
///   ignored.
/// - `http_cache` on: the upstream's `Cache-Control` decides as a shared cache would
///   (RFC 9111): `no-store`, `no-cache` or `private` (with or without a value) forbid
///   caching; otherwise the lifetime is `s-maxage`, else `max-age`, minus a numeric `Age`.
///   A field with `cacheTtl` is cached for the smaller of its TTL and that lifetime (its
///   TTL when the upstream gives no lifetime); a field without `cacheTtl` for the
///   lifetime. Malformed directives (`max-age=abc`) are ignored. `Expires` is not read.
///
/// A zero TTL is `None`. Whether the call is a read that succeeded is the caller's check.
pub fn ttl(cache_ttl: Option<Duration>, http_cache: bool, headers: &HeaderMap) -> Option<Duration> {
    let ttl = if http_cache {
        match freshness(headers) {
            Freshness::Forbidden => None,
            Freshness::Lifetime(lifetime) => Some(cache_ttl.map_or(lifetime, |t| t.min(lifetime))),
            Freshness::Unspecified => cache_ttl,
        }
    } else {
        cache_ttl
    };
    ttl.filter(|t| !t.is_zero())
}

/// What an answer's `Cache-Control` and `Age` allow a shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    Forbidden,
    /// Remaining lifetime (`Age` already subtracted).
    Lifetime(Duration),
    Unspecified,
}

fn freshness(headers: &HeaderMap) -> Freshness {
    let (mut s_maxage, mut max_age) = (None, None);
    for value in headers.get_all(CACHE_CONTROL) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for directive in text.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("no-store") || is("no-cache") || is("private") {
                return Freshness::Forbidden;
            }
            // The first well-formed occurrence of each counts.
            if is("s-maxage") && s_maxage.is_none() {
                s_maxage = argument.and_then(delta_seconds);
            } else if is("max-age") && max_age.is_none() {
                max_age = argument.and_then(delta_seconds);
            }
        }
    }
    match s_maxage.or(max_age) {
        None => Freshness::Unspecified,
        Some(lifetime) => {
            let age = headers
                .get(AGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| delta_seconds(v.trim()))
                .unwrap_or(0);
            Freshness::Lifetime(Duration::from_secs(lifetime.saturating_sub(age)))
        }
    }
}

/// RFC 9111 delta-seconds: digits only; values too large count as 2^31.
fn delta_seconds(text: &str) -> Option<u64> {
    const MAX: u64 = 1 << 31;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().map_or(MAX, |n| n.min(MAX)))
}

/// The response headers [`ttl`] reads when a source honours `Cache-Control`.
const FRESHNESS_HEADERS: [HeaderName; 2] = [CACHE_CONTROL, AGE];

/// The freshness headers of an answer's `headers` (what [`ttl`] reads), for transports of
/// sources that honour `Cache-Control`.
pub fn freshness_headers(headers: &HeaderMap) -> HeaderMap {
    let mut freshness = HeaderMap::new();
    for name in FRESHNESS_HEADERS {
        for value in headers.get_all(&name) {
            freshness.append(name.clone(), value.clone());
        }
    }
    freshness
}

/// One field's cache lookups, counted as [`crate::upstream::CACHE_LOOKUPS_METRIC`]. The
/// counters are registered on first use (the server installs its recorder before any
/// request), not looked up on every lookup.
#[derive(Debug)]
pub struct Lookups {
    source: String,
    hit: OnceLock<metrics::Counter>,
    miss: OnceLock<metrics::Counter>,
}

impl Lookups {
    pub fn new(source: &str) -> Self {
        Lookups {
            source: source.to_string(),
            hit: OnceLock::new(),
            miss: OnceLock::new(),
        }
    }

    pub fn record(&self, hit: bool) {
        let (slot, result) = if hit {
            (&self.hit, "hit")
        } else {
            (&self.miss, "miss")
        };
        slot.get_or_init(|| {
            metrics::counter!(
                crate::upstream::CACHE_LOOKUPS_METRIC,
                "source" => self.source.clone(),
                "result" => result
            )
        })
        .increment(1);
    }
}

/// Roughly the heap bytes a JSON value holds (what bounds the cache's memory).
pub fn approximate_size(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => NODE + s.len(),
        Value::Array(items) => NODE + items.iter().map(approximate_size).sum::<usize>(),
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(k, v)| k.len() + NODE + approximate_size(v))
                .sum::<usize>()
        }
        _ => NODE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fetched(value: Value) -> Arc<Fetched> {
        Arc::new(Fetched {
            value: value.into(),
            headers: http::HeaderMap::new(),
        })
    }

    #[test]
    fn entries_expire_after_their_own_ttl() {
        let cache = ResponseCache::new(1 << 20, None);
        cache.insert("a".into(), fetched(json!(1)), Duration::from_millis(30));
        cache.insert("b".into(), fetched(json!(2)), Duration::from_secs(60));
        assert_eq!(
            cache.get("a").map(|f| f.value.clone()),
            Some(json!(1).into())
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("a").is_none());
        assert_eq!(
            cache.get("b").map(|f| f.value.clone()),
            Some(json!(2).into())
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn without_http_cache_the_field_ttl_applies_and_headers_are_ignored() {
        let h = headers(&[("cache-control", "max-age=5")]);
        assert_eq!(ttl(secs(60), false, &h), secs(60));
        assert_eq!(ttl(None, false, &h), None);
        let h = headers(&[("cache-control", "no-store")]);
        assert_eq!(ttl(secs(60), false, &h), secs(60));
        assert_eq!(ttl(secs(0), false, &HeaderMap::new()), None);
    }

    #[test]
    fn with_http_cache_the_upstream_lifetime_bounds_the_field_ttl() {
        let h = headers(&[("cache-control", "public, max-age=30")]);
        assert_eq!(ttl(None, true, &h), secs(30));
        assert_eq!(ttl(secs(60), true, &h), secs(30));
        assert_eq!(ttl(secs(10), true, &h), secs(10));
        assert_eq!(ttl(secs(10), true, &HeaderMap::new()), secs(10));
        assert_eq!(ttl(None, true, &HeaderMap::new()), None);
        let h = headers(&[("cache-control", "must-revalidate")]);
        assert_eq!(ttl(None, true, &h), None, "no lifetime, no cacheTtl");
    }

    #[test]
    fn s_maxage_wins_over_max_age_in_any_order_and_case() {
        let h = headers(&[("cache-control", "max-age=5, s-maxage=20")]);
        assert_eq!(ttl(None, true, &h), secs(20));
        let h = headers(&[
            ("Cache-Control", "S-MaxAge=\"20\""),
            ("cache-control", "Max-Age=5"),
        ]);
        assert_eq!(ttl(None, true, &h), secs(20));
    }

    #[test]
    fn no_store_no_cache_and_private_forbid_caching_even_with_a_cache_ttl() {
        for cc in [
            "no-store",
            "max-age=60, no-cache",
            "private",
            "private=\"set-cookie\", max-age=60",
            "NO-CACHE",
        ] {
            let h = headers(&[("cache-control", cc)]);
            assert_eq!(ttl(secs(60), true, &h), None, "{cc}");
        }
        let h = headers(&[
            ("cache-control", "max-age=60"),
            ("cache-control", "no-store"),
        ]);
        assert_eq!(ttl(None, true, &h), None, "every Cache-Control line counts");
    }

    #[test]
    fn age_is_subtracted_from_the_lifetime() {
        let h = headers(&[("cache-control", "max-age=10"), ("age", "3")]);
        assert_eq!(ttl(None, true, &h), secs(7));
        let h = headers(&[("cache-control", "max-age=1"), ("age", "1")]);
        assert_eq!(ttl(None, true, &h), None);
        let h = headers(&[("cache-control", "max-age=1"), ("age", "100")]);
        assert_eq!(ttl(secs(60), true, &h), None);
        let h = headers(&[("cache-control", "max-age=10"), ("age", "soon")]);
        assert_eq!(ttl(None, true, &h), secs(10), "a malformed Age is ignored");
    }

    #[test]
    fn malformed_directives_are_ignored_without_panicking() {
        for cc in [
            "max-age=abc",
            "max-age=-5",
            "max-age=",
            "max-age",
            "s-maxage=1.5",
            ",,, =, ==",
            "max-age=\u{fffd}",
        ] {
            let h = headers(&[("cache-control", cc)]);
            assert_eq!(ttl(None, true, &h), None, "{cc}");
            assert_eq!(ttl(secs(9), true, &h), secs(9), "{cc}");
        }
        let h = headers(&[("cache-control", "max-age=abc, max-age=4")]);
        assert_eq!(
            ttl(None, true, &h),
            secs(4),
            "the first well-formed one counts"
        );
        let h = headers(&[("cache-control", "max-age=99999999999999999999999")]);
        assert_eq!(ttl(None, true, &h), secs(1 << 31));
        let mut h = HeaderMap::new();
        h.insert(
            CACHE_CONTROL,
            http::HeaderValue::from_bytes(b"max-age=8, \xff").unwrap(),
        );
        assert_eq!(
            ttl(None, true, &h),
            secs(8),
            "non-ASCII bytes do not hide directives"
        );
    }

    #[test]
    fn freshness_headers_are_cache_control_and_age_only() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, "max-age=60".parse().unwrap());
        headers.append(CACHE_CONTROL, "public".parse().unwrap());
        headers.insert(AGE, "5".parse().unwrap());
        headers.insert("set-cookie", "a=1".parse().unwrap());
        let freshness = freshness_headers(&headers);
        assert_eq!(freshness.get_all(CACHE_CONTROL).iter().count(), 2);
        assert_eq!(freshness[AGE], "5");
        assert_eq!(freshness.len(), 3);
    }

    #[test]
    fn a_disabled_cache_stores_nothing() {
        let cache = ResponseCache::new(0, None);
        cache.insert("a".into(), fetched(json!(1)), Duration::from_secs(60));
        assert!(!cache.enabled());
        assert!(cache.get("a").is_none());
    }
}
