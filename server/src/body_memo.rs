//! `POST /graphql` bodies parsed once: a body whose bytes were seen before is not parsed again.
//!
//! Clients send the same bodies over and over (an app's queries, often without variables), and
//! reading the JSON of even a 66-byte body was the largest piece of graft's own per-request
//! work on a shared query (~2.7 % of the core, docs/performance.md). A body is found by a
//! seeded hash of its bytes and then compared byte for byte, so a remembered parse is exactly
//! the parse. Only bodies that parse are kept, each up to [`MAX_BODY`] bytes and
//! [`CAPACITY`] bytes in all; the least used go first.

use std::hash::BuildHasher;
use std::sync::Arc;

use bytes::Bytes;

/// Larger bodies are parsed every time: they rarely repeat, and would crowd out those that do.
pub const MAX_BODY: usize = 8 * 1024;
/// Bytes of bodies (and their parses, estimated) kept in all.
pub const CAPACITY: u64 = 4 * 1024 * 1024;

/// Parsed bodies by a hash of their bytes.
pub struct BodyMemo {
    entries: quick_cache::sync::Cache<u64, Arc<Parsed>, Weight>,
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
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl BodyMemo {
    /// The request `body` holds: remembered, or read by `parse` (and remembered when it parses).
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
        self.entries
            .insert(hash, Arc::new(Parsed::of(body.clone(), &request)));
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
    fn a_repeated_body_is_parsed_once_and_gives_the_same_request() {
        let memo = BodyMemo::default();
        let body = Bytes::from_static(
            br#"{"query":"query Q($n: Int) { a(n: $n) }","operationName":"Q","variables":{"n":3},"extensions":{"x":[1]}}"#,
        );
        let first = memo.request(&body, parse).unwrap();
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
        assert_eq!(counted(&memo, &a), (Ok("{a}".into()), 1));
        assert_eq!(counted(&memo, &b), (Ok("{b}".into()), 1));
        assert_eq!(counted(&memo, &a), (Ok("{a}".into()), 0));
        // An error is the parser's each time, never remembered.
        let bad = Bytes::from_static(b"{");
        assert!(matches!(counted(&memo, &bad), (Err(_), 1)));
        assert!(matches!(counted(&memo, &bad), (Err(_), 1)));
        let large = Bytes::from(format!(
            r#"{{"query":"{{a}}","extensions":{{"pad":"{}"}}}}"#,
            "x".repeat(MAX_BODY)
        ));
        assert_eq!(counted(&memo, &large), (Ok("{a}".into()), 1));
        assert_eq!(counted(&memo, &large), (Ok("{a}".into()), 1));
    }
}
