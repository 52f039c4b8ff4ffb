//! Typed errors: why a gateway could not be built, and why one upstream call failed.
//!
//! Upstream errors become GraphQL errors on their own field only; their [`ErrorKind::code`]
//! is the `extensions.code` clients match on, so its string form never changes once released.

use std::fmt;

/// Why a gateway could not be built from a catalog. A failed build never replaces a working
/// gateway, so these are reported and the old graph keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A field names a source the catalog does not declare (parse normally catches this).
    #[error("{coordinate}: source `{source_name}` is not declared")]
    UnknownSource {
        coordinate: String,
        source_name: String,
    },
    /// A field's call does not match its source's transport (`@rest` on a gRPC source).
    #[error("{coordinate}: a {call} call cannot use source `{source_name}`, which is {transport}")]
    TransportMismatch {
        coordinate: String,
        source_name: String,
        call: &'static str,
        transport: &'static str,
    },
    /// The engine has no invoker for this transport yet.
    #[error("source `{source_name}`: the {transport} transport is not supported by this build")]
    UnsupportedTransport {
        source_name: String,
        transport: &'static str,
    },
    /// `{{env.NAME}}` names a variable that is not set when the gateway is built.
    #[error("{coordinate}: environment variable `{name}` is not set")]
    MissingEnv { coordinate: String, name: String },
    /// A source's configuration is unusable (a base URL that does not parse, ...).
    #[error("source `{source_name}`: {message}")]
    InvalidSource {
        source_name: String,
        message: String,
    },
    /// A template uses a variable where it cannot be resolved (for example `{{headers.x}}`
    /// in a base URL, which is fixed when the gateway is built).
    #[error("{coordinate}: {message}")]
    InvalidTemplate { coordinate: String, message: String },
    /// async-graphql refused the schema built from the catalog.
    #[error("the schema is invalid: {0}")]
    Schema(String),
}

/// What went wrong with one upstream call. The string form of each code is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The upstream answered with a non-success status (HTTP non-2xx).
    HttpStatus,
    /// The upstream's answer is not valid JSON (an HTML error page, a truncated body, ...).
    InvalidJson,
    /// The call did not finish before its deadline.
    Timeout,
    /// The upstream could not be reached (connection refused, DNS failure, TLS failure).
    Unreachable,
    /// The request could not be built from the field's inputs (for example a header value
    /// that is not valid in HTTP).
    InvalidRequest,
    /// The request already made as many upstream calls as `Limits.max_upstream_calls` allows.
    CallLimit,
    /// The upstream's answer was too large to accept.
    ResponseTooLarge,
    /// Any other transport failure (connection reset mid-body, protocol errors, ...).
    Transport,
    /// A gRPC call ended with a non-OK status; the code is the status's canonical name
    /// (`NOT_FOUND`, `DEADLINE_EXCEEDED`, ...). Holds the numeric status code.
    GrpcStatus(i32),
    /// The upstream's answer does not fit what the schema declares: a gRPC message that does
    /// not decode, JSON that does not fit the field's type (a string where a list belongs, an
    /// enum value the schema does not know, a union member that cannot be told).
    InvalidResponse,
    /// The function itself failed (Lambda: `X-Amz-Function-Error`, or an emulator's HTTP 5xx
    /// carrying `errorType`); `details` holds its `errorType` and `errorMessage`.
    FunctionError,
    /// The request is larger than the upstream accepts (Lambda: 6 MB payloads); not sent.
    RequestTooLarge,
    /// No usable credentials were found, or the upstream refused them (HTTP 401/403).
    Credentials,
}

/// Canonical gRPC status code names, indexed by code number.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl ErrorKind {
    /// The `extensions.code` of a GraphQL error of this kind.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "UPSTREAM_HTTP_STATUS",
            ErrorKind::InvalidJson => "UPSTREAM_INVALID_JSON",
            ErrorKind::Timeout => "UPSTREAM_TIMEOUT",
            ErrorKind::Unreachable => "UPSTREAM_UNREACHABLE",
            ErrorKind::InvalidRequest => "UPSTREAM_INVALID_REQUEST",
            ErrorKind::CallLimit => "UPSTREAM_CALL_LIMIT",
            ErrorKind::ResponseTooLarge => "UPSTREAM_RESPONSE_TOO_LARGE",
            ErrorKind::Transport => "UPSTREAM_ERROR",
            ErrorKind::GrpcStatus(code) => usize::try_from(code)
                .ok()
                .and_then(|i| GRPC_CODES.get(i).copied())
                .unwrap_or("UNKNOWN"),
            ErrorKind::InvalidResponse => "UPSTREAM_INVALID_RESPONSE",
            ErrorKind::FunctionError => "UPSTREAM_FUNCTION_ERROR",
            ErrorKind::RequestTooLarge => "UPSTREAM_REQUEST_TOO_LARGE",
            ErrorKind::Credentials => "UPSTREAM_CREDENTIALS",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One failed upstream call. Cloneable so that every field sharing a deduplicated call
/// receives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    pub kind: ErrorKind,
    /// The source's name (`@source(name:)`).
    pub source_name: String,
    /// The upstream's status: HTTP status for REST; transports without one leave it empty.
    pub status: Option<u16>,
    /// One sentence for the client; never contains secrets from templates.
    pub message: String,
    /// Structured details for `extensions.details` (gRPC: the status's decoded details).
    /// Boxed to keep the error small: it travels in every `Result` of the call path.
    pub details: Option<Box<serde_json::Value>>,
}

impl UpstreamError {
    pub fn new(
        kind: ErrorKind,
        source_name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        UpstreamError {
            kind,
            source_name: source_name.into(),
            status: None,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// Why `describe` could not read a source spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    #[error("cannot read `{location}`: {message}")]
    Io { location: String, message: String },
    #[error("cannot fetch `{location}`: {message}")]
    Fetch { location: String, message: String },
    #[error("fetching `{location}` answered HTTP {status}")]
    Status { location: String, status: u16 },
    #[error("fetching `{location}` took longer than {seconds} s")]
    Timeout { location: String, seconds: u64 },
    #[error("`{location}` is larger than {limit} bytes")]
    TooLarge { location: String, limit: u64 },
    #[error("`{location}` is not UTF-8 text")]
    NotText { location: String },
    /// A gRPC server that does not serve reflection, or answered it with an error.
    #[error("gRPC reflection at `{location}`: {message}")]
    Reflection { location: String, message: String },
    /// Descriptors (reflection answer or FileDescriptorSet) that do not decode or link.
    #[error("descriptors from `{location}` are unusable: {message}")]
    Descriptor { location: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upstream_error_kind_has_a_distinct_code() {
        let kinds = [
            ErrorKind::HttpStatus,
            ErrorKind::InvalidJson,
            ErrorKind::Timeout,
            ErrorKind::Unreachable,
            ErrorKind::InvalidRequest,
            ErrorKind::CallLimit,
            ErrorKind::ResponseTooLarge,
            ErrorKind::Transport,
            ErrorKind::InvalidResponse,
            ErrorKind::FunctionError,
            ErrorKind::RequestTooLarge,
            ErrorKind::Credentials,
        ];
        let codes: std::collections::HashSet<_> = kinds.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), kinds.len());
    }
}
