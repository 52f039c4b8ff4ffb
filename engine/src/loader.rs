//! The one loader every transport goes through: per request, identical in-flight reads share
//! one upstream call.
//!
//! Calls are keyed by their rendered request ([`Rendered::key`]), so two fields (or two
//! aliases, or the same link under many parents) that would send the same request send it
//! once and all receive the same value or the same error. Writes are never shared.
//!
//! The loader also does the per-request bookkeeping that must happen once per real call:
//! counting calls against the request's budget and collecting response headers to pass back.
//! Cross-request dedupe, caching and batching (issue 6) plug in here, behind [`Loader::load`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use http::HeaderMap;
use serde_json::Value;

use crate::error::{ErrorKind, UpstreamError};
use crate::upstream::{Rendered, SendContext};

/// A call's result as every sharer sees it.
pub type Loaded = Result<Arc<Value>, UpstreamError>;

type InFlight = Shared<BoxFuture<'static, Loaded>>;

/// Per-request loader state.
#[derive(Debug)]
pub struct Loader {
    in_flight: Mutex<HashMap<String, InFlight>>,
    calls: AtomicUsize,
    max_calls: usize,
    response_headers: Arc<Mutex<HeaderMap>>,
}

impl Loader {
    /// A loader for one request that may make at most `max_calls` upstream calls.
    pub fn new(max_calls: usize) -> Self {
        Loader {
            in_flight: Mutex::new(HashMap::new()),
            calls: AtomicUsize::new(0),
            max_calls,
            response_headers: Arc::new(Mutex::new(HeaderMap::new())),
        }
    }

    /// Upstream calls made so far (shared calls count once).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// The response headers collected from every call so far, to pass back to the client.
    pub fn take_response_headers(&self) -> HeaderMap {
        std::mem::take(
            &mut *self
                .response_headers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Runs `request`, or joins an identical read already in flight in this request.
    pub async fn load(
        &self,
        request: Box<dyn Rendered>,
        cx: SendContext,
        shareable: bool,
        source: &str,
    ) -> Loaded {
        if !shareable {
            return self.start(request, cx, source)?.await;
        }
        let future = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(request.key()) {
                Some(shared) => shared.clone(),
                None => {
                    let key = request.key().to_string();
                    let shared = self.start(request, cx, source)?.shared();
                    in_flight.insert(key, shared.clone());
                    shared
                }
            }
        };
        future.await
    }

    /// Counts the call against the budget and returns the future that sends it and records
    /// its response headers.
    fn start(
        &self,
        request: Box<dyn Rendered>,
        cx: SendContext,
        source: &str,
    ) -> Result<BoxFuture<'static, Loaded>, UpstreamError> {
        let made = self.calls.fetch_add(1, Ordering::Relaxed);
        if made >= self.max_calls {
            return Err(UpstreamError::new(
                ErrorKind::CallLimit,
                source,
                format!(
                    "this request reached its limit of {} upstream calls",
                    self.max_calls
                ),
            ));
        }
        let sink = Arc::clone(&self.response_headers);
        Ok(async move {
            let output = request.send(cx).await?;
            if !output.headers.is_empty() {
                let mut headers = sink.lock().unwrap_or_else(PoisonError::into_inner);
                for (name, value) in &output.headers {
                    headers.append(name.clone(), value.clone());
                }
            }
            Ok(Arc::new(output.value.into_json()))
        }
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::CallOutput;
    use std::sync::atomic::AtomicUsize;

    struct Counting {
        key: String,
        sent: Arc<AtomicUsize>,
    }

    impl Rendered for Counting {
        fn key(&self) -> &str {
            &self.key
        }
        fn send(
            self: Box<Self>,
            _cx: SendContext,
        ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>> {
            self.sent.fetch_add(1, Ordering::SeqCst);
            let mut headers = HeaderMap::new();
            headers.insert("set-cookie", "a=1".parse().unwrap());
            Box::pin(async move {
                tokio::task::yield_now().await;
                Ok(CallOutput {
                    value: Value::from(self.key.len()).into(),
                    headers,
                    ..CallOutput::default()
                })
            })
        }
    }

    fn cx() -> SendContext {
        SendContext {
            deadline: tokio::time::Instant::now(),
            request_id: Arc::from("r"),
        }
    }

    #[tokio::test]
    async fn identical_reads_share_one_call_and_its_headers() {
        let loader = Loader::new(10);
        let sent = Arc::new(AtomicUsize::new(0));
        let make = |key: &str| {
            Box::new(Counting {
                key: key.into(),
                sent: sent.clone(),
            })
        };
        let (a, b, c) = futures::join!(
            loader.load(make("GET /a"), cx(), true, "s"),
            loader.load(make("GET /a"), cx(), true, "s"),
            loader.load(make("GET /b"), cx(), true, "s"),
        );
        assert_eq!(
            (a.unwrap(), b.unwrap(), c.unwrap()),
            (
                Arc::new(Value::from(6)),
                Arc::new(Value::from(6)),
                Arc::new(Value::from(6))
            )
        );
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        assert_eq!(loader.calls(), 2);
        assert_eq!(
            loader
                .take_response_headers()
                .get_all("set-cookie")
                .iter()
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn writes_are_never_shared_and_the_budget_is_enforced() {
        let loader = Loader::new(2);
        let sent = Arc::new(AtomicUsize::new(0));
        let make = || {
            Box::new(Counting {
                key: "POST /a".into(),
                sent: sent.clone(),
            })
        };
        assert!(loader.load(make(), cx(), false, "s").await.is_ok());
        assert!(loader.load(make(), cx(), false, "s").await.is_ok());
        let refused = loader.load(make(), cx(), false, "s").await.unwrap_err();
        assert_eq!(refused.code(), "UPSTREAM_CALL_LIMIT");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }
}
