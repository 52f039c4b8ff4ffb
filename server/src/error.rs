//! `AppError`: every refusal the HTTP layer makes, written as a GraphQL error response.
//!
//! The body is always `{"errors":[{"message", "extensions":{"code"}}]}` with no `data` key
//! (execution did not start), in the media type negotiated for the request.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::negotiate::ResponseType;

/// Stable error codes of the HTTP layer (`extensions.code`). Part of graft's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body or parameters are not a well-formed GraphQL-over-HTTP request.
    BadRequest,
    /// The query does not parse.
    ParseFailed,
    /// `operationName` names no operation of the document.
    OperationNotFound,
    /// The document has several operations and no `operationName`.
    OperationNameRequired,
    /// A mutation (or subscription) sent with GET.
    MethodNotAllowed,
    /// POST with a content type other than `application/json`.
    UnsupportedMediaType,
    /// The client accepts no media type graft can write.
    NotAcceptable,
    /// The body is larger than `limits.max_body_bytes`.
    PayloadTooLarge,
    /// The request took longer than `timeouts.request_ms`.
    RequestTimeout,
    /// No schema is loaded yet.
    SchemaNotLoaded,
    /// A persisted-query hash graft does not know (the client then sends the query).
    PersistedQueryNotFound,
    /// A persisted-query hash while persisted queries are off.
    PersistedQueryNotSupported,
    /// A query whose SHA-256 is not the persisted-query hash sent with it.
    PersistedQueryHashMismatch,
    /// An operation the persisted-query manifest does not list, while only listed ones run.
    PersistedQueryNotInList,
    /// A bug: graft failed while handling the request.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::OperationNotFound => "OPERATION_NOT_FOUND",
            ErrorCode::OperationNameRequired => "OPERATION_NAME_REQUIRED",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::NotAcceptable => "NOT_ACCEPTABLE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::SchemaNotLoaded => "SCHEMA_NOT_LOADED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            ErrorCode::PersistedQueryHashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            ErrorCode::PersistedQueryNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
            ErrorCode::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Whether the failure is a GraphQL request error (the document was read but is
    /// unusable), which `application/json` answers with 200 per the spec.
    fn is_graphql_request_error(self) -> bool {
        matches!(
            self,
            ErrorCode::ParseFailed
                | ErrorCode::OperationNotFound
                | ErrorCode::OperationNameRequired
        )
    }

    fn status(self) -> StatusCode {
        match self {
            // The step of the protocol that asks for the text, answered 200 as Apollo's
            // servers do: clients (Apollo Client's persisted-query link) may stop sending
            // hashes altogether after a 400.
            ErrorCode::PersistedQueryNotFound | ErrorCode::PersistedQueryNotSupported => {
                StatusCode::OK
            }
            ErrorCode::PersistedQueryHashMismatch | ErrorCode::PersistedQueryNotInList => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::BadRequest
            | ErrorCode::ParseFailed
            | ErrorCode::OperationNotFound
            | ErrorCode::OperationNameRequired => StatusCode::BAD_REQUEST,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::SchemaNotLoaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused request.
#[derive(Debug, Clone)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// The media type to answer in (`application/json` when negotiation itself failed).
    pub response_type: ResponseType,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            response_type: ResponseType::GraphQlResponse,
        }
    }

    /// Answers in `response_type`.
    pub fn responding_as(mut self, response_type: ResponseType) -> Self {
        self.response_type = response_type;
        self
    }

    pub fn status(&self) -> StatusCode {
        if self.response_type == ResponseType::Json && self.code.is_graphql_request_error() {
            StatusCode::OK
        } else {
            self.code.status()
        }
    }
}

impl AppError {
    /// The refusal as a GraphQL `errors` list: its message and its code.
    pub fn errors(&self) -> serde_json::Value {
        json!([{ "message": self.message, "extensions": { "code": self.code.as_str() } }])
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": self.errors() });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, self.response_type.content_type());
        if self.code == ErrorCode::MethodNotAllowed {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}
