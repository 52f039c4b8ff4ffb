//! `POST /graphql` bodies parsed once: a body whose bytes were seen before is not parsed again.
//!
//! Clients send the same bodies over and over (an app's queries, often without variables), and
//! reading the JSON of even a 66-byte body was the largest piece of graft's own per-request
//! work on a shared query (~2.7 % of the core, docs/performance.md). A body is found by a
//! seeded hash of its bytes and then compared byte for byte, so a remembered parse is exactly
//! the parse. Only bodies that parse are kept, each up to [`MAX_BODY`] bytes and
//! [`CAPACITY`] bytes in all; the least used go first.
//!
//! A body is remembered the second time it is seen, not the first: keeping one costs more
//! than parsing it (copies of its parts, an insert that evicts another), which bodies that
//! never repeat (variables that differ on every request) would pay for nothing. Seen bodies
//! are marked by their hash in [`SEEN_SLOTS`] slots, one atomic store each.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Larger bodies are parsed every time: they rarely repeat, and would crowd out those that do.
pub const MAX_BODY: usize = 8 * 1024;
/// Bytes of bodies (and their parses, estimated) kept in all.
pub const CAPACITY: u64 = 4 * 1024 * 1024;
/// Hashes of bodies seen once, by their low bits (a newer body takes an older one's slot).
pub const SEEN_SLOTS: usize = 4096;

/// Parsed bodies by a hash of their bytes.
pub struct BodyMemo {
    entries: quick_cache::sync::Cache<u64, Arc<Parsed>, Weight>,
    seen: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

/// What a body said, ready to become a request again.
struct Parsed {
    body: Bytes,
    query: String,
    operation_name: Option<String>,
    variables: async_graphql::Variables,
    extensions: async_graphql::Extensions,
}

impl Parsed {
    fn of(body: Bytes, request: &async_graphql::Request) -> Parsed {
        Parsed {
            body,
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
            extensions: request.extensions.clone(),
        }
    }

    fn request(&self) -> Box<async_graphql::Request> {
        let mut request = Box::new(async_graphql::Request::new(self.query.clone()));
        request.operation_name.clone_from(&self.operation_name);
        if !self.variables.is_empty() {
            request.variables = self.variables.clone();
        }
        if !self.extensions.0.is_empty() {
            request.extensions = self.extensions.clone();
        }
        request
    }
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<u64, Arc<Parsed>> for Weight {
    fn weight(&self, _: &u64, parsed: &Arc<Parsed>) -> u64 {
        // The body, and about as much again for its parse.
        (2 * parsed.body.len() + 256) as u64
    }
}

impl Default for BodyMemo {
    fn default() -> Self {
        BodyMemo {
            entries: quick_cache::sync::Cache::with_weighter(
                (CAPACITY / 1024) as usize,
                CAPACITY,
                Weight,
            ),
            seen: (0..SEEN_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl BodyMemo {
    /// The request `body` holds: remembered, or read by `parse` (and remembered when it parses
    /// and was seen before).
    pub fn request<E>(
        &self,
        body: &Bytes,
        parse: impl FnOnce(&[u8]) -> Result<Box<async_graphql::Request>, E>,
    ) -> Result<Box<async_graphql::Request>, E> {
        if body.len() > MAX_BODY {
            return parse(body);
        }
        let hash = self.hasher.hash_one(&body[..]);
        if let Some(parsed) = self.entries.get(&hash)
            && parsed.body == body
        {
            return Ok(parsed.request());
        }
        let request = parse(body)?;
        let slot = &self.seen[hash as usize % SEEN_SLOTS];
        if slot.swap(hash, Ordering::Relaxed) == hash {
            self.entries
                .insert(hash, Arc::new(Parsed::of(body.clone(), &request)));
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Box<async_graphql::Request>, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut request = Box::new(async_graphql::Request::new(
            value["query"].as_str().ok_or("no query")?,
        ));
        request.operation_name = value["operationName"].as_str().map(str::to_owned);
        if let Some(v) = value.get("variables") {
            request.variables = async_graphql::Variables::from_json(v.clone());
        }
        if let Some(serde_json::Value::Object(map)) = value.get("extensions") {
            for (k, v) in map {
                let v = async_graphql::Value::from_json(v.clone()).map_err(|e| e.to_string())?;
                request.extensions.insert(k.clone(), v);
            }
        }
        Ok(request)
    }

    #[test]
    fn a_body_seen_twice_is_not_parsed_again_and_gives_the_same_request() {
        let memo = BodyMemo::default();
        let body = Bytes::from_static(
            br#"{"query":"query Q($n: Int) { a(n: $n) }","operationName":"Q","variables":{"n":3},"extensions":{"x":[1]}}"#,
        );
        let first = memo.request(&body, parse).unwrap();
        // Seen once: parsed again, and remembered now.
        memo.request(&body, parse).unwrap();
        let mut parses = 0;
        let again = memo
            .request(&body, |b| {
                parses += 1;
                parse(b)
            })
            .unwrap();
        assert_eq!(parses, 0, "a remembered body is not parsed again");
        assert_eq!(again.query, first.query);
        assert_eq!(again.operation_name.as_deref(), Some("Q"));
        assert_eq!(again.variables, first.variables);
        assert_eq!(again.extensions, first.extensions);
    }

    #[test]
    fn other_bytes_failed_parses_and_large_bodies_are_parsed_each_time() {
        let memo = BodyMemo::default();
        let counted = |memo: &BodyMemo, body: &Bytes| {
            let mut parses = 0;
            let result = memo.request(body, |b| {
                parses += 1;
                parse(b)
            });
            (result.map(|r| r.query.clone()), parses)
        };
        let a = Bytes::from_static(br#"{"query":"{a}"}"#);
        let b = Bytes::from_static(br#"{"query":"{b}"}"#);
        // Each seen twice (parsed both times), whatever slots their hashes share.
        for (body, query) in [(&a, "{a}"), (&b, "{b}")] {
            for _ in 0..2 {
                assert_eq!(counted(&memo, body), (Ok(query.into()), 1));
            }
        }
        assert_eq!(counted(&memo, &a), (Ok("{a}".into()), 0));
        assert_eq!(counted(&memo, &b), (Ok("{b}".into()), 0));
        // An error is the parser's each time, never remembered.
        let bad = Bytes::from_static(b"{");
        for _ in 0..3 {
            assert!(matches!(counted(&memo, &bad), (Err(_), 1)));
        }
        let large = Bytes::from(format!(
            r#"{{"query":"{{a}}","extensions":{{"pad":"{}"}}}}"#,
            "x".repeat(MAX_BODY)
        ));
        for _ in 0..3 {
            assert_eq!(counted(&memo, &large), (Ok("{a}".into()), 1));
        }
    }
}
