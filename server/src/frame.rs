//! The frame every HTTP request runs in: its id, a panic guard, its span and access-log line,
//! the in-flight gauge, and the timer its deadline is kept on.
//!
//! One hand-written service rather than a stack of tower layers (catch-panic, set/propagate
//! request id, trace, in-flight): every layer wraps the request future in its own and moves
//! it again, and under load those moves, the per-request UUID and the gauge's registry
//! lookups cost more than a GraphQL query answered from shared work (docs/performance.md).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request};
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::app::{AppState, REQUEST_ID};
use crate::connection_wake::QuietBody;
use crate::timer::ConnectionTimer;
use crate::{subscriptions, telemetry};

/// The whole HTTP surface: `router` inside the per-request frame. Cheap to clone.
#[derive(Clone)]
pub struct Frame {
    router: Router,
    /// When set, `POST /graphql` goes straight to its handler instead of through the router
    /// (the hot route; a measured share of each query went to routing). Unset when the
    /// router carries layers that must see every request (CORS).
    graphql: Option<Arc<AppState>>,
    access_log: bool,
    in_flight: metrics::Gauge,
    /// The connection's timer for the deadlines of the requests `graphql` serves.
    timer: ConnectionTimer,
}

impl Frame {
    pub fn new(router: Router, graphql: Option<Arc<AppState>>, access_log: bool) -> Self {
        Frame {
            router,
            graphql,
            access_log,
            in_flight: metrics::gauge!(telemetry::IN_FLIGHT),
            timer: ConnectionTimer::default(),
        }
    }

    /// The frame for the requests of one connection: the same surface, with a timer of its
    /// own for their deadlines.
    pub fn for_connection(&self) -> Self {
        Frame {
            timer: ConnectionTimer::default(),
            ..self.clone()
        }
    }

    async fn run(self, mut request: Request<Body>) -> Response {
        let Frame {
            router,
            graphql,
            access_log,
            in_flight,
            timer,
        } = self;
        let id = request_id(&mut request);
        let id_text = id.to_str().unwrap_or("");
        // An enabled span per request costs real throughput, so without the access log it is
        // a DEBUG span, off unless `RUST_LOG` asks for it (its fields are read only then).
        let (method, path) = (request.method(), request.uri().path());
        let span = if access_log {
            tracing::info_span!("request", %method, path, request_id = id_text)
        } else {
            tracing::debug_span!("request", %method, path, request_id = id_text)
        };
        let started = access_log.then(Instant::now);
        in_flight.increment(1.0);
        let _counted = InFlight(in_flight);
        // Boxed: the handlers' futures are kilobytes, and each wrapper below would otherwise
        // copy them whole (this future was 11.7 KB, allocated and copied per request).
        let handler: BoxFuture<'static, Result<Response, Infallible>> = match graphql {
            Some(state)
                if request.method() == Method::POST && request.uri().path() == "/graphql" =>
            {
                subscriptions::post(State(state), request, Some(timer))
                    .map(Ok)
                    .boxed()
            }
            _ => router.oneshot(request).boxed(),
        };
        let answered = AssertUnwindSafe(handler)
            .catch_unwind()
            .instrument(span.clone())
            .await;
        let mut response = match answered {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => span.in_scope(panic_response),
        };
        response.headers_mut().insert(REQUEST_ID, id);
        if let Some(started) = started {
            span.in_scope(|| {
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_ms = started.elapsed().as_secs_f64() * 1e3,
                    "finished processing request"
                )
            });
        }
        response
    }
}

impl<B> Service<Request<B>> for Frame
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let frame = self.clone();
        // Every body is read quietly: taking its last chunk does not wake the connection
        // for nothing (`connection_wake`).
        let request = request.map(|body| Body::new(QuietBody(body)));
        Box::pin(frame.run(request).map(Ok))
    }
}

/// Counts a request out of the in-flight gauge when dropped, so cancelled requests are
/// counted out too.
struct InFlight(metrics::Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The request's id: the client's `x-request-id` when it is short printable ASCII, else a
/// fresh one, written into the request so handlers and upstream calls see the same value.
fn request_id(request: &mut Request<Body>) -> HeaderValue {
    let usable = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
    };
    if let Some(id) = request.headers().get(&REQUEST_ID).filter(|v| usable(v)) {
        return id.clone();
    }
    let id = fresh_request_id();
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// A UUID-shaped id unique within the process (a counter) and across processes (a random
/// prefix drawn once): as unique as a random UUID per request, without a random draw each.
fn fresh_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let uuid = uuid::Uuid::from_u64_pair(prefix, COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid.hyphenated().encode_lower(&mut text);
    // Owned by a shared buffer: the request and the response each hold the id, and a clone
    // of a plain copy would allocate again to share it.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text))
        .unwrap_or(HeaderValue::from_static("graft"))
}

fn panic_response() -> Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked");
    crate::error::AppError::new(
        crate::error::ErrorCode::Internal,
        "graft failed while handling the request",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_request_ids_are_distinct_and_uuid_shaped() {
        let (a, b) = (fresh_request_id(), fresh_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(
                uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok(),
                "{id:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_its_request_id() {
        let router = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("deliberate");
                }
            }),
        );
        let response = Frame::new(router, None, false)
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key(&REQUEST_ID));
    }

    #[test]
    fn the_request_id_rule_keeps_sane_ids_and_replaces_others() {
        let mut sane = Request::get("/")
            .header(REQUEST_ID, "abc-123")
            .body(Body::empty())
            .unwrap();
        assert_eq!(request_id(&mut sane), "abc-123");
        let mut spaced = Request::get("/")
            .header(REQUEST_ID, "a b")
            .body(Body::empty())
            .unwrap();
        let replaced = request_id(&mut spaced);
        assert_ne!(replaced, "a b");
        assert_eq!(spaced.headers()[&REQUEST_ID], replaced);
    }
}
