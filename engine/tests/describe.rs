//! Reading specs (`fetch_spec`): files and http(s) URLs, with precise errors for missing,
//! failing, slow and oversized documents. Upstreams are axum servers on 127.0.0.1.

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use engine::DescribeError;
use engine::upstream::http::{FetchOptions, fetch_spec, fetch_spec_with};

async fn serve() -> String {
    let app = axum::Router::new()
        .route("/spec.json", get(|| async { r#"{"openapi": "3.0.0"}"# }))
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such spec") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { "x".repeat(4096) }))
        .route(
            "/streamed",
            get(|| async {
                // No content-length: the cap must hold while reading the body.
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1024]));
                Body::from_stream(futures::stream::iter(chunks)).into_response()
            }),
        )
        .route("/binary", get(|| async { vec![0xff_u8, 0xfe, 0x00] }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_spec_is_read_from_a_url_and_from_a_file() {
    let base = serve().await;
    assert_eq!(
        fetch_spec(&format!("{base}/spec.json")).await.unwrap(),
        r#"{"openapi": "3.0.0"}"#
    );

    let path = std::env::temp_dir().join(format!("graft-describe-{}.yaml", std::process::id()));
    std::fs::write(&path, "openapi: 3.1.0\n").unwrap();
    assert_eq!(
        fetch_spec(&path.display().to_string()).await.unwrap(),
        "openapi: 3.1.0\n"
    );
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn failing_slow_and_oversized_specs_get_precise_errors() {
    let base = serve().await;
    let quick = FetchOptions {
        timeout: Duration::from_millis(300),
        max_bytes: 1024,
    };

    let status = fetch_spec_with(&format!("{base}/missing"), &quick)
        .await
        .unwrap_err();
    assert!(
        matches!(status, DescribeError::Status { status: 404, .. }),
        "{status}"
    );

    let started = std::time::Instant::now();
    let slow = fetch_spec_with(&format!("{base}/slow"), &quick)
        .await
        .unwrap_err();
    assert!(matches!(slow, DescribeError::Timeout { .. }), "{slow}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the wait"
    );

    let big = fetch_spec_with(&format!("{base}/big"), &quick)
        .await
        .unwrap_err();
    assert!(
        matches!(big, DescribeError::TooLarge { limit: 1024, .. }),
        "{big}"
    );
    let streamed = fetch_spec_with(&format!("{base}/streamed"), &quick)
        .await
        .unwrap_err();
    assert!(
        matches!(streamed, DescribeError::TooLarge { .. }),
        "{streamed}"
    );

    let binary = fetch_spec_with(&format!("{base}/binary"), &quick)
        .await
        .unwrap_err();
    assert!(matches!(binary, DescribeError::NotText { .. }), "{binary}");

    let missing = fetch_spec("/nonexistent/graft/spec.yaml")
        .await
        .unwrap_err();
    assert!(matches!(missing, DescribeError::Io { .. }), "{missing}");
    assert!(
        missing.to_string().contains("/nonexistent/graft/spec.yaml"),
        "{missing}"
    );
}

#[tokio::test]
async fn an_unreachable_url_is_a_fetch_error_not_a_hang() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = fetch_spec(&format!("http://{addr}/spec.json"))
        .await
        .unwrap_err();
    assert!(matches!(error, DescribeError::Fetch { .. }), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
