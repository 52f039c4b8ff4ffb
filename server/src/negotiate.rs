//! Content negotiation for /graphql: which media type a response is written in.
//!
//! Rules (GraphQL-over-HTTP draft, after its 2025 watershed): a missing or empty `Accept`
//! and `*/*` get `application/graphql-response+json`; `application/json` is served when the
//! client prefers it; HTML (the explorer) only when `text/html` is listed explicitly, so that
//! `fetch` with its default `*/*` never receives a web page. A client that lists
//! `text/event-stream` before any JSON type asks for GraphQL over SSE. Media ranges are
//! parsed with the `mime` crate, once per request; the preference order on equal quality is
//! the list order below.

use http::HeaderValue;

/// The GraphQL response media types graft writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: status codes tell whether execution started.
    GraphQlResponse,
    /// `application/json`: legacy clients; well-formed requests always get 200.
    Json,
}

impl ResponseType {
    pub fn content_type(self) -> HeaderValue {
        match self {
            ResponseType::GraphQlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            ResponseType::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }
}

/// What the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The GraphQL media type to answer in, `None` when the client accepts neither (406).
    pub graphql: Option<ResponseType>,
    /// The client lists `text/html` at least as high as any GraphQL type (a browser).
    pub prefers_html: bool,
    /// The client lists `text/event-stream` (not refused with `q=0`) before any JSON type:
    /// GraphQL over SSE.
    pub event_stream: bool,
}

/// Negotiates from the `Accept` header values of a request.
pub fn negotiate<'a>(accept: impl Iterator<Item = &'a HeaderValue>) -> Accepted {
    let ranges: Vec<(mime::Mime, f32)> = accept
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let range: mime::Mime = item.trim().parse().ok()?;
            let q = range
                .get_param("q")
                .map(|q| q.as_str().parse::<f32>().unwrap_or(0.0))
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            Some((range, q))
        })
        .collect();
    if ranges.is_empty() {
        return Accepted {
            graphql: Some(ResponseType::GraphQlResponse),
            prefers_html: false,
            event_stream: false,
        };
    }
    let first = |essences: &[&str]| {
        ranges
            .iter()
            .position(|(range, q)| *q > 0.0 && essences.contains(&range.essence_str()))
    };
    let event_stream = match (
        first(&["text/event-stream"]),
        first(&["application/json", "application/graphql-response+json"]),
    ) {
        (Some(sse), Some(json)) => sse < json,
        (sse, _) => sse.is_some(),
    };
    let gql = quality(&ranges, "application", "graphql-response+json", true);
    let json = quality(&ranges, "application", "json", true);
    let html = quality(&ranges, "text", "html", false);
    let graphql = if gql > 0.0 && gql >= json {
        Some(ResponseType::GraphQlResponse)
    } else if json > 0.0 {
        Some(ResponseType::Json)
    } else {
        None
    };
    Accepted {
        graphql,
        prefers_html: html > 0.0 && html >= gql.max(json),
        event_stream,
    }
}

/// The quality the client gives `ty/subtype`: that of the most specific matching range.
/// Wildcards count only when `wildcards` is set.
fn quality(ranges: &[(mime::Mime, f32)], ty: &str, subtype: &str, wildcards: bool) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for (range, q) in ranges {
        // `essence_str` keeps a structured-syntax suffix (`+json`) that `subtype` drops.
        let specificity = if range.essence_str() == format!("{ty}/{subtype}") {
            2
        } else if wildcards && range.type_() == ty && range.subtype() == mime::STAR {
            1
        } else if wildcards && range.type_() == mime::STAR && range.subtype() == mime::STAR {
            0
        } else {
            continue;
        };
        match best {
            Some((s, bq)) if s > specificity || (s == specificity && bq >= *q) => {}
            _ => best = Some((specificity, *q)),
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Accepted {
        let value = HeaderValue::from_str(value).unwrap();
        negotiate(std::iter::once(&value))
    }

    #[test]
    fn a_missing_accept_header_gets_graphql_response_json() {
        let none = negotiate(std::iter::empty());
        assert_eq!(none.graphql, Some(ResponseType::GraphQlResponse));
        assert!(!none.prefers_html);
    }

    #[test]
    fn star_star_gets_graphql_response_json() {
        assert_eq!(accept("*/*").graphql, Some(ResponseType::GraphQlResponse));
        assert_eq!(
            accept("application/*").graphql,
            Some(ResponseType::GraphQlResponse)
        );
    }

    #[test]
    fn application_json_is_served_when_preferred() {
        assert_eq!(accept("application/json").graphql, Some(ResponseType::Json));
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json").graphql,
            Some(ResponseType::Json)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json").graphql,
            Some(ResponseType::GraphQlResponse)
        );
    }

    #[test]
    fn only_unsupported_types_are_not_acceptable() {
        assert_eq!(accept("text/plain").graphql, None);
        assert_eq!(accept("application/json;q=0").graphql, None);
    }

    #[test]
    fn a_browser_prefers_html_but_fetch_does_not() {
        let browser = accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        assert!(browser.prefers_html);
        assert_eq!(browser.graphql, Some(ResponseType::GraphQlResponse));
        assert!(!accept("*/*").prefers_html);
        assert!(!accept("application/json, text/html;q=0.5").prefers_html);
    }

    #[test]
    fn an_event_stream_listed_before_json_asks_for_sse() {
        assert!(accept("text/event-stream").event_stream);
        assert!(accept("Text/Event-Stream; charset=utf-8, application/json").event_stream);
        assert!(accept("text/event-stream, */*").event_stream);
        assert!(!accept("application/json, text/event-stream").event_stream);
        assert!(!accept("application/graphql-response+json, text/event-stream").event_stream);
        assert!(!accept("text/event-stream;q=0, application/json").event_stream);
        assert!(!accept("*/*").event_stream);
        assert!(!negotiate(std::iter::empty()).event_stream);
    }
}
