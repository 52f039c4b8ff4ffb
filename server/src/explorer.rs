//! The explorer UI served to browsers at GET /graphql: graft's own small page (query and
//! variables editors, Run, result pane, schema browser from introspection).
//!
//! Its three assets are embedded in the binary and the page is served with a Content
//! Security Policy that allows nothing but this origin: clusters often have no egress.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

const PAGE: &str = include_str!("../assets/explorer.html");
const SCRIPT: &str = include_str!("../assets/explorer.js");
const STYLE: &str = include_str!("../assets/explorer.css");

/// The page, told whether introspection (and so the schema browser) is available.
pub fn page(introspection: bool) -> String {
    PAGE.replace(
        "__INTROSPECTION__",
        if introspection { "true" } else { "false" },
    )
}

/// Adds the headers every explorer asset carries.
pub fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response.headers_mut());
    response
}

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
