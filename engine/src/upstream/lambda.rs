//! AWS Lambda: `@lambda` calls (Invoke, RequestResponse) and function discovery
//! (ListFunctions + ListTags) for `graft gen lambda`.
//!
//! Requests are SigV4-signed with `aws-sigv4` and sent over the shared upstream client
//! (`client.rs`: pooled, rustls), instead of through `aws-sdk-lambda`: measured on this
//! project's machine, the SDK added build time and binary size for three REST calls graft can
//! make itself (see the issue note).
//!
//! Where calls go, in order of precedence:
//! - **region**: `@source(lambda: {region})`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`;
//!   with an explicit endpoint and no region, `us-east-1` (emulators ignore it).
//! - **endpoint**: `@source(lambda: {endpoint})` (so `serve` invokes where `gen` discovered),
//!   else `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`, else
//!   `https://lambda.{region}.amazonaws.com`.
//! - **credentials**: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`,
//!   else the shared profile (`AWS_PROFILE`, `~/.aws/config`, SSO, credential_process), else a
//!   web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`: EKS IRSA), else the
//!   container endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`: EKS Pod Identity, ECS), else
//!   instance metadata (skipped when `AWS_EC2_METADATA_DISABLED=true`). Credentials with an
//!   expiry are refreshed five minutes before it.
//!
//! Variables named above are read through the gateway's environment reader (so tests and
//! configs can supply them); the profile, web identity and container providers read the
//! process environment, as the AWS SDKs do.
//!
//! An invocation's payload is the field's `payload` template rendered as JSON, or else the
//! arguments object (wire names). A payload over 6 MB is refused before sending
//! (`UPSTREAM_REQUEST_TOO_LARGE`). A function error (`X-Amz-Function-Error`, or an emulator's
//! HTTP 5xx whose body carries `errorType`) is `UPSTREAM_FUNCTION_ERROR` with
//! `details: {errorType, errorMessage}`; HTTP 429 and other 5xx are retried with jittered
//! exponential backoff while the call's deadline allows; HTTP 401/403 is
//! `UPSTREAM_CREDENTIALS`; a result that is not JSON is `UPSTREAM_INVALID_JSON`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use ::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use ::http::{Method, StatusCode};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schema_gen::catalog::{Field, LambdaBatch, LambdaCall, LambdaSource, Source};
use schema_gen::diagnostics::Diagnostic;
use schema_gen::ingest::lambda::{FunctionSchema, LambdaFunction, TAG_SCHEMA};
use schema_gen::template::Template;
use serde_json::Value;

use super::client::{Answer, HttpClient, Outgoing, error_chain};
use super::{
    CallInput, CallOutput, Invoke, PrepareContext, Rendered, SendContext, render_json,
    substitute_env,
};
use crate::error::{BuildError, DescribeError, ErrorKind, UpstreamError};

/// Lambda's limit on a synchronous invocation's request payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Answers larger than this are refused (Lambda's own response limit is 6 MB; emulators and
/// response streaming can send more).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Retries after the first attempt for 429 and 5xx answers.
const MAX_RETRIES: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Credentials expiring sooner than this are refreshed before use.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// How much of an error body is quoted in a message.
const ERROR_EXCERPT_CHARS: usize = 200;

/// Characters escaped in a path segment (function names and ARNs: `:` is escaped, as the
/// AWS SDKs do).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Lambda API of one region/endpoint with one set of credentials.
#[derive(Clone)]
struct LambdaApi {
    region: String,
    /// Endpoint without a trailing `/`.
    base: String,
    credentials: Arc<CredentialSource>,
    client: HttpClient,
}

impl fmt::Debug for LambdaApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LambdaApi({} at {})", self.region, self.base)
    }
}

/// Where credentials come from; the chain's answers are cached until shortly before expiry.
enum CredentialSource {
    Static(Credentials),
    Chain {
        provider: SharedCredentialsProvider,
        cached: tokio::sync::Mutex<Option<Credentials>>,
    },
}

impl CredentialSource {
    async fn get(&self) -> Result<Credentials, String> {
        match self {
            CredentialSource::Static(credentials) => Ok(credentials.clone()),
            CredentialSource::Chain { provider, cached } => {
                let mut cached = cached.lock().await;
                if let Some(credentials) = cached.as_ref() {
                    let fresh = credentials.expiry().is_none_or(|expiry| {
                        expiry
                            .duration_since(SystemTime::now())
                            .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
                    });
                    if fresh {
                        return Ok(credentials.clone());
                    }
                }
                let credentials = provider.provide_credentials().await.map_err(|e| {
                    format!(
                        "no usable AWS credentials (environment variables, shared profile, web identity token, container or instance metadata): {}",
                        error_chain(&e)
                    )
                })?;
                *cached = Some(credentials.clone());
                Ok(credentials)
            }
        }
    }
}

/// Resolved region, endpoint and credentials for a source, from its settings and `env`.
fn api(
    region: Option<&str>,
    endpoint: Option<String>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<LambdaApi, String> {
    let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let endpoint = endpoint
        .or_else(|| non_empty("AWS_ENDPOINT_URL_LAMBDA"))
        .or_else(|| non_empty("AWS_ENDPOINT_URL"));
    let region = region
        .map(str::to_string)
        .filter(|r| !r.trim().is_empty())
        .or_else(|| non_empty("AWS_REGION"))
        .or_else(|| non_empty("AWS_DEFAULT_REGION"))
        .or_else(|| endpoint.is_some().then(|| "us-east-1".to_string()))
        .ok_or("no AWS region: set @source(lambda: {region}) or AWS_REGION")?;
    if !region
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!("`{region}` is not an AWS region"));
    }
    let base = endpoint.unwrap_or_else(|| format!("https://lambda.{region}.amazonaws.com"));
    let parsed = url::Url::parse(&base).map_err(|e| format!("endpoint `{base}`: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("endpoint `{base}` must be http or https"));
    }
    let credentials = match (
        non_empty("AWS_ACCESS_KEY_ID"),
        non_empty("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(key), Some(secret)) => Arc::new(CredentialSource::Static(Credentials::new(
            key,
            secret,
            non_empty("AWS_SESSION_TOKEN"),
            None,
            "graft-environment",
        ))),
        _ => {
            let imds = !non_empty("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            shared_chain(&region, imds)
        }
    };
    Ok(LambdaApi {
        region,
        base: base.trim_end_matches('/').to_string(),
        credentials,
        client: super::client::client()?,
    })
}

/// Chains by (region, instance metadata on), shared by every field and every gateway of the
/// process, so one cached answer serves them all (no STS call per field or per reload).
type Chains = HashMap<(String, bool), Arc<CredentialSource>>;
static CHAINS: OnceLock<Mutex<Chains>> = OnceLock::new();

fn shared_chain(region: &str, imds: bool) -> Arc<CredentialSource> {
    let chains = CHAINS.get_or_init(Default::default);
    let mut chains = chains
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(chains.entry((region.to_string(), imds)).or_insert_with(|| {
        Arc::new(CredentialSource::Chain {
            provider: default_chain(region, imds),
            cached: tokio::sync::Mutex::new(None),
        })
    }))
}

/// The standard chain after environment variables (which [`api`] reads through the
/// gateway's environment reader): profile, web identity, container, instance metadata.
fn default_chain(region: &str, imds: bool) -> SharedCredentialsProvider {
    let config = ProviderConfig::without_region()
        .with_region(Some(aws_config::Region::new(region.to_string())));
    let mut chain = CredentialsProviderChain::first_try(
        "Profile",
        aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&config)
            .build(),
    )
    .or_else(
        "WebIdentityToken",
        aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder()
            .configure(&config)
            .build(),
    )
    .or_else(
        "EcsContainer",
        aws_config::ecs::EcsCredentialsProvider::builder()
            .configure(&config)
            .build(),
    );
    if imds {
        chain = chain.or_else(
            "Ec2InstanceMetadata",
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .configure(&config)
                .build(),
        );
    }
    SharedCredentialsProvider::new(chain)
}

impl LambdaApi {
    /// Signs and sends one request; `Err` carries the error kind and a message.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Vec<u8>,
        extra: &HeaderMap,
    ) -> Result<Answer, (ErrorKind, String)> {
        let parsed = url::Url::parse(url)
            .map_err(|e| (ErrorKind::InvalidRequest, format!("`{url}`: {e}")))?;
        let credentials = self
            .credentials
            .get()
            .await
            .map_err(|m| (ErrorKind::Credentials, m))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| (ErrorKind::InvalidRequest, format!("cannot sign: {e}")))?;
        let mut headers = extra.clone();
        if !body.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            method.as_str(),
            url,
            pairs.into_iter(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| (ErrorKind::InvalidRequest, format!("cannot sign: {e}")))?;
        let (instructions, _) = sign(signable, &params.into())
            .map_err(|e| (ErrorKind::InvalidRequest, format!("cannot sign: {e}")))?
            .into_parts();
        for (name, value) in instructions.headers() {
            let name = HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(value);
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.insert(name, value);
            }
        }
        self.client
            .send(
                Outgoing {
                    method,
                    url: &parsed,
                    headers,
                    body: body.into(),
                },
                MAX_RESPONSE_BYTES,
            )
            .await
            .map_err(|e| {
                let message = match e.kind {
                    ErrorKind::Timeout => "timed out".to_string(),
                    ErrorKind::Unreachable => format!("unreachable: {}", e.detail),
                    ErrorKind::ResponseTooLarge => e.detail,
                    _ => format!("failed: {}", e.detail),
                };
                (e.kind, message)
            })
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(ERROR_EXCERPT_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The text between `<tag>` and `</tag>` in an XML error body (the query-protocol errors
/// some gateways and emulators answer with).
fn xml_element(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let rest = body.get(start..)?;
    let end = rest.find(&format!("</{tag}>"))?;
    rest.get(..end).map(str::to_string)
}

/// The error type and message of an AWS service error (`x-amzn-ErrorType`, `{"message"}`,
/// `{"Message"}`, or XML `<Code>`/`<Message>`).
fn service_error(answer: &Answer) -> (Option<String>, String) {
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let text = String::from_utf8_lossy(&answer.body);
    if let (None, Some(code)) = (&body, xml_element(&text, "Code")) {
        let message = xml_element(&text, "Message").unwrap_or_else(|| excerpt(&answer.body));
        return (Some(code), message);
    }
    let error_type = answer
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string())
        .or_else(|| {
            body.as_ref()
                .and_then(|b| b.get("__type").or_else(|| b.get("Type")))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let message = body
        .as_ref()
        .and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| excerpt(&answer.body));
    (error_type, message)
}

/// Full-jitter exponential backoff: a random delay in `[0, min(cap, base * 2^attempt)]`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    // A randomly keyed hasher is a dependency-free source of jitter.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % millis.saturating_add(1))
}

/// One `@lambda` field, prepared.
pub struct LambdaInvoke {
    source_name: String,
    function: String,
    qualifier: Option<String>,
    payload: Option<Template>,
    read: bool,
    api: LambdaApi,
}

impl fmt::Debug for LambdaInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LambdaInvoke({} {}{} at {})",
            self.source_name,
            self.function,
            self.qualifier
                .as_deref()
                .map(|q| format!(":{q}"))
                .unwrap_or_default(),
            self.api.base
        )
    }
}

/// Prepares one `@lambda` call of `field` against `source`. The call is a read (dedupe-safe)
/// unless the field is on the `Mutation` type.
pub fn prepare(
    source: &Source,
    lambda: &LambdaSource,
    call: &LambdaCall,
    _field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<LambdaInvoke, BuildError> {
    let invalid_source = |message: String| BuildError::InvalidSource {
        source_name: source.name.clone(),
        message,
    };
    let endpoint = match &lambda.endpoint {
        Some(template) => {
            let endpoint = substitute_env(template, cx)?;
            if !endpoint.is_literal() {
                return Err(invalid_source(format!(
                    "the endpoint `{template}` may only use {{{{env.X}}}}, which is fixed when the gateway is built"
                )));
            }
            Some(endpoint.to_string())
        }
        None => None,
    };
    let api = api(lambda.region.as_deref(), endpoint, cx.env).map_err(invalid_source)?;
    if call.function.trim().is_empty() {
        return Err(BuildError::InvalidTemplate {
            coordinate: cx.coordinate.to_string(),
            message: "@lambda(function:) is empty".into(),
        });
    }
    Ok(LambdaInvoke {
        source_name: source.name.clone(),
        function: call.function.clone(),
        qualifier: call.qualifier.clone().filter(|q| !q.is_empty()),
        payload: call
            .payload
            .as_ref()
            .map(|p| substitute_env(p, cx))
            .transpose()?,
        read: !cx.mutation,
        api,
    })
}

/// Prepares the batch form of a `@lambda` link (`batch: {function, keys, items, key,
/// maxSize}`): one invocation of `batch.function` (else the link's function, with its
/// qualifier) whose payload is the list of keys, or `{keys: [...]}`; the answer, or the
/// list at its dotted path `items`, is the list of items.
pub fn prepare_batch(
    source: &Source,
    lambda: &LambdaSource,
    call: &LambdaCall,
    batch: &LambdaBatch,
    field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<LambdaInvoke, BuildError> {
    let (function, qualifier) = match &batch.function {
        Some(function) => (function.clone(), None),
        None => (call.function.clone(), call.qualifier.clone()),
    };
    let batched = LambdaCall {
        function,
        qualifier,
        payload: Some(super::keys_template(batch.keys.as_deref())),
        batch: None,
    };
    prepare(source, lambda, &batched, field, cx)
}

impl Invoke for LambdaInvoke {
    fn source_name(&self) -> &str {
        &self.source_name
    }

    fn is_read(&self) -> bool {
        self.read
    }

    fn render(&self, input: &CallInput<'_>) -> Result<Box<dyn Rendered>, UpstreamError> {
        let payload = match &self.payload {
            Some(template) => render_json(template, input),
            None => Value::Object(input.wire_args.clone()),
        };
        let body = serde_json::to_vec(&payload).map_err(|e| {
            UpstreamError::new(
                ErrorKind::InvalidRequest,
                &self.source_name,
                format!("the payload cannot be serialized: {e}"),
            )
        })?;
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(UpstreamError::new(
                ErrorKind::RequestTooLarge,
                &self.source_name,
                format!(
                    "the payload for function `{}` is {} bytes, over Lambda's limit of {MAX_PAYLOAD_BYTES} bytes; not sent",
                    self.function,
                    body.len()
                ),
            ));
        }
        let mut url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.api.base,
            utf8_percent_encode(&self.function, SEGMENT)
        );
        if let Some(qualifier) = &self.qualifier {
            url.push_str("?Qualifier=");
            url.extend(utf8_percent_encode(qualifier, SEGMENT));
        }
        let mut key = format!(
            "{}\nlambda {}:{}\n{}",
            self.source_name,
            self.function,
            self.qualifier.as_deref().unwrap_or(""),
            String::from_utf8_lossy(&body)
        );
        crate::projection::mark_key(&mut key, input.projection.map(|p| &**p));
        Ok(Box::new(LambdaRequest {
            key,
            projection: input.projection.cloned(),
            source_name: self.source_name.clone(),
            function: self.function.clone(),
            url,
            body,
            api: self.api.clone(),
        }))
    }
}

/// One rendered invocation.
struct LambdaRequest {
    key: String,
    source_name: String,
    function: String,
    url: String,
    body: Vec<u8>,
    api: LambdaApi,
    /// Decode only this of the result.
    projection: Option<Arc<crate::projection::Projection>>,
}

impl Rendered for LambdaRequest {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(
        self: Box<Self>,
        cx: SendContext,
    ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>> {
        Box::pin(async move {
            let (source, function) = (self.source_name.clone(), self.function.clone());
            let target = move || format!("function `{function}`");
            let deadline = cx.deadline;
            super::within_deadline(&source, target, deadline, self.invoke(cx)).await
        })
    }
}

impl LambdaRequest {
    fn error(&self, kind: ErrorKind, message: String) -> UpstreamError {
        UpstreamError::new(kind, &self.source_name, message)
    }

    async fn invoke(self: Box<Self>, cx: SendContext) -> Result<CallOutput, UpstreamError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-invocation-type",
            HeaderValue::from_static("RequestResponse"),
        );
        // Visible to the function as the client context's custom request id.
        match HeaderValue::from_str(&cx.request_id) {
            Ok(id) if !cx.request_id.is_empty() => {
                headers.insert("x-request-id", id);
            }
            _ => {}
        }
        let function = &self.function;
        let mut attempt = 0;
        loop {
            let answer = self
                .api
                .send(Method::POST, &self.url, self.body.clone(), &headers)
                .await
                .map_err(|(kind, message)| {
                    self.error(kind, format!("invoking function `{function}`: {message}"))
                })?;
            let retryable =
                answer.status == StatusCode::TOO_MANY_REQUESTS || answer.status.is_server_error();
            if retryable && !is_emulated_function_error(&answer) && attempt < MAX_RETRIES {
                let delay = backoff(attempt);
                // Retry only when the next attempt can still start before the deadline.
                if tokio::time::Instant::now() + delay < cx.deadline {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
            }
            return self.outcome(answer);
        }
    }

    fn outcome(&self, answer: Answer) -> Result<CallOutput, UpstreamError> {
        let function = &self.function;
        let function_error = answer
            .headers
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if answer.status.is_success() && function_error.is_none() {
            if answer.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(CallOutput::default());
            }
            let projection = self.projection.as_deref();
            return match crate::projection::decode(&self.key, &answer.body, projection) {
                Ok(value) => Ok(CallOutput {
                    value,
                    ..CallOutput::default()
                }),
                Err(_) => Err(self
                    .error(
                        ErrorKind::InvalidJson,
                        format!(
                            "function `{function}` returned a result that is not JSON: {}",
                            excerpt(&answer.body)
                        ),
                    )
                    .with_status(answer.status.as_u16())),
            };
        }
        if function_error.is_some() || is_emulated_function_error(&answer) {
            let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
            let field = |name: &str| {
                body.as_ref()
                    .and_then(|b| b.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let error_type = field("errorType")
                .or(function_error)
                .unwrap_or_else(|| "Unhandled".into());
            let error_message = field("errorMessage").unwrap_or_else(|| excerpt(&answer.body));
            return Err(self
                .error(
                    ErrorKind::FunctionError,
                    format!("function `{function}` failed: {error_type}: {error_message}"),
                )
                .with_status(answer.status.as_u16())
                .with_details(serde_json::json!({
                    "errorType": error_type,
                    "errorMessage": error_message,
                })));
        }
        let (error_type, message) = service_error(&answer);
        let kind = match answer.status.as_u16() {
            401 | 403 => ErrorKind::Credentials,
            413 => ErrorKind::RequestTooLarge,
            _ => ErrorKind::HttpStatus,
        };
        let label = error_type.clone().unwrap_or_else(|| "error".into());
        let mut error = self
            .error(
                kind,
                format!(
                    "invoking function `{function}`: Lambda answered HTTP {} {label}: {message}",
                    answer.status.as_u16()
                ),
            )
            .with_status(answer.status.as_u16());
        if let Some(error_type) = error_type {
            error = error.with_details(
                serde_json::json!({"errorType": error_type, "errorMessage": message}),
            );
        }
        Err(error)
    }
}

/// Emulators (cargo-lambda) answer a failing function with HTTP 5xx and the function's
/// `{"errorType", "errorMessage"}` body, without AWS's `x-amzn-ErrorType` header; retrying
/// would run the function again.
fn is_emulated_function_error(answer: &Answer) -> bool {
    answer.status.is_server_error()
        && !answer.headers.contains_key("x-amzn-errortype")
        && serde_json::from_slice::<Value>(&answer.body)
            .is_ok_and(|b| b.get("errorType").is_some_and(Value::is_string))
}

/// What `describe` needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeOptions {
    /// Region; else `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// Endpoint; else `AWS_ENDPOINT_URL_LAMBDA` / `AWS_ENDPOINT_URL` / AWS's regional one.
    pub endpoint: Option<String>,
    /// Functions exposed whatever their tags (names as ListFunctions reports them).
    pub allow: Vec<String>,
    /// Where relative `graft.dev/schema` paths and `<function>.json` schema files are read
    /// from (the directory of the configuration); the working directory when absent.
    pub schema_dir: Option<PathBuf>,
}

/// What discovery found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Described {
    /// Exposed functions with their tags and schema documents, sorted by name.
    pub functions: Vec<LambdaFunction>,
    /// The region used.
    pub region: String,
    /// The endpoint used when it is not AWS's default; write it into
    /// `@source(lambda: {endpoint})` so `serve` invokes where `gen` discovered.
    pub endpoint: Option<String>,
    /// Schema documents that could not be read or parsed (the function is still exposed,
    /// with JSON types): `SPEC_READ` / `SPEC_SYNTAX` warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Upper bound on ListFunctions pages (50 functions each), against endpoints that loop.
const MAX_PAGES: usize = 1000;
/// Schema documents larger than this are refused.
const MAX_SCHEMA_BYTES: u64 = 4 * 1024 * 1024;
/// A schema document named by URL must arrive within this.
const SCHEMA_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one discovery request may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Lists the functions of an account/region (ListFunctions, paginated), reads their tags
/// (ListTags) and keeps those tagged `graft.dev/expose=true` or listed in
/// `options.allow`. Schema documents come from the tag `graft.dev/schema` — an `http(s)` URL
/// or a file path relative to `options.schema_dir` (AWS tag values cannot hold JSON) — or,
/// without the tag, from `<schema_dir>/<function name>.json` when that file exists.
/// Environment variables are read with `env` (`|n| std::env::var(n).ok()` in the CLI).
pub async fn describe(
    options: &DescribeOptions,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Described, DescribeError> {
    let location = options
        .endpoint
        .clone()
        .unwrap_or_else(|| "the Lambda API".to_string());
    let fetch_error = |message: String| DescribeError::Fetch {
        location: location.clone(),
        message,
    };
    let api = api(options.region.as_deref(), options.endpoint.clone(), env).map_err(fetch_error)?;
    let default_endpoint = format!("https://lambda.{}.amazonaws.com", api.region);
    let described = tokio::time::timeout(DESCRIBE_TIMEOUT, discover(&api, options))
        .await
        .map_err(|_| DescribeError::Timeout {
            location: api.base.clone(),
            seconds: DESCRIBE_TIMEOUT.as_secs(),
        })??;
    Ok(Described {
        region: api.region.clone(),
        endpoint: (api.base != default_endpoint).then(|| api.base.clone()),
        ..described
    })
}

async fn get_json(api: &LambdaApi, url: &str) -> Result<Value, DescribeError> {
    let answer = api
        .send(Method::GET, url, Vec::new(), &HeaderMap::new())
        .await
        .map_err(|(_, message)| DescribeError::Fetch {
            location: url.to_string(),
            message,
        })?;
    if !answer.status.is_success() {
        let (error_type, message) = service_error(&answer);
        return Err(DescribeError::Fetch {
            location: url.to_string(),
            message: format!(
                "HTTP {} {}: {message}",
                answer.status.as_u16(),
                error_type.unwrap_or_default()
            ),
        });
    }
    serde_json::from_slice(&answer.body).map_err(|e| DescribeError::Fetch {
        location: url.to_string(),
        message: format!("the answer is not JSON: {e}"),
    })
}

async fn discover(api: &LambdaApi, options: &DescribeOptions) -> Result<Described, DescribeError> {
    // ListFunctions, following NextMarker until it is absent (or repeats).
    let mut listed: Vec<(String, String, Option<String>)> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{}/2015-03-31/functions/?MaxItems=50", api.base);
        if let Some(marker) = &marker {
            url.push_str("&Marker=");
            url.extend(utf8_percent_encode(marker, SEGMENT));
        }
        let page = get_json(api, &url).await?;
        for function in page
            .get("Functions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = function.get("FunctionName").and_then(Value::as_str);
            let arn = function.get("FunctionArn").and_then(Value::as_str);
            if let (Some(name), Some(arn)) = (name, arn) {
                let description = function
                    .get("Description")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                listed.push((name.to_string(), arn.to_string(), description));
            }
        }
        let next = page
            .get("NextMarker")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if next.is_none() || next == marker {
            break;
        }
        marker = next;
    }

    // ListTags, a few at a time.
    let tagged: Vec<Result<Option<LambdaFunction>, DescribeError>> = stream::iter(listed)
        .map(|(name, arn, description)| async move {
            let url = format!(
                "{}/2017-03-31/tags/{}",
                api.base,
                utf8_percent_encode(&arn, SEGMENT)
            );
            let answer = get_json(api, &url).await?;
            let tags: BTreeMap<String, String> = answer
                .get("Tags")
                .and_then(Value::as_object)
                .map(|t| {
                    t.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let mut function = LambdaFunction::new(name);
            function.description = description.filter(|d| !d.trim().is_empty());
            function.tags = tags.into_iter().collect();
            let exposed = function.is_tagged_exposed() || options.allow.contains(&function.name);
            Ok(exposed.then_some(function))
        })
        .buffered(8)
        .collect()
        .await;
    let mut functions = Vec::new();
    for function in tagged {
        if let Some(function) = function? {
            functions.push(function);
        }
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));

    let mut diagnostics = Vec::new();
    for function in &mut functions {
        match load_schema(function, options.schema_dir.as_deref()).await {
            Ok(schema) => function.schema = schema,
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    Ok(Described {
        functions,
        region: String::new(),
        endpoint: None,
        diagnostics,
    })
}

/// Reads a function's schema document (see [`describe`]); a problem is a warning and the
/// function keeps JSON types.
async fn load_schema(
    function: &LambdaFunction,
    dir: Option<&Path>,
) -> Result<Option<FunctionSchema>, Diagnostic> {
    use schema_gen::Code;
    let at = format!("function {} tag {TAG_SCHEMA}", function.name);
    let dir = dir.unwrap_or_else(|| Path::new("."));
    let (location, text) = match function.tags.get(TAG_SCHEMA).map(|v| v.trim()) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let options = super::http::FetchOptions {
                timeout: SCHEMA_FETCH_TIMEOUT,
                max_bytes: MAX_SCHEMA_BYTES,
            };
            let text = super::http::fetch_spec_with(url, &options)
                .await
                .map_err(|e| {
                    Diagnostic::warning(Code::SpecRead, &at, format!("{e}; JSON types are used"))
                })?;
            (url.to_string(), text)
        }
        Some(path) => {
            let path = dir.join(path);
            let text = read_file(&path).await.map_err(|m| {
                Diagnostic::warning(Code::SpecRead, &at, format!("{m}; JSON types are used"))
            })?;
            (path.display().to_string(), text)
        }
        None => {
            let path = dir.join(format!("{}.json", function.name));
            if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return Ok(None);
            }
            let at = format!("function {}", function.name);
            let text = read_file(&path).await.map_err(|m| {
                Diagnostic::warning(Code::SpecRead, &at, format!("{m}; JSON types are used"))
            })?;
            (path.display().to_string(), text)
        }
    };
    let document: Value = serde_json::from_str(&text).map_err(|e| {
        Diagnostic::warning(
            Code::SpecSyntax,
            &at,
            format!("the schema document `{location}` is not JSON ({e}); JSON types are used"),
        )
    })?;
    Ok(Some(FunctionSchema { location, document }))
}

async fn read_file(path: &Path) -> Result<String, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if metadata.len() > MAX_SCHEMA_BYTES {
        return Err(format!(
            "`{}` is larger than {MAX_SCHEMA_BYTES} bytes",
            path.display()
        ));
    }
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Sync {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_source_endpoint_wins_over_the_environment() {
        let e = env(&[
            ("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
            ("AWS_REGION", "eu-west-1"),
        ]);
        let a = api(None, Some("http://127.0.0.1:3/".into()), &e).unwrap();
        assert_eq!(
            (a.base.as_str(), a.region.as_str()),
            ("http://127.0.0.1:3", "eu-west-1")
        );
        let a = api(None, None, &e).unwrap();
        assert_eq!(a.base, "http://127.0.0.1:1");
        let a = api(
            Some("us-west-2"),
            None,
            &env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:2")]),
        )
        .unwrap();
        assert_eq!(
            (a.base.as_str(), a.region.as_str()),
            ("http://127.0.0.1:2", "us-west-2")
        );
        let a = api(Some("ap-south-1"), None, &env(&[])).unwrap();
        assert_eq!(a.base, "https://lambda.ap-south-1.amazonaws.com");
    }

    #[test]
    fn a_missing_region_or_a_bad_endpoint_is_refused() {
        assert!(
            api(None, None, &env(&[]))
                .unwrap_err()
                .contains("no AWS region")
        );
        assert!(
            api(Some("us-east-1"), Some("ftp://x".into()), &env(&[]))
                .unwrap_err()
                .contains("http or https")
        );
        assert!(
            api(Some("us east"), None, &env(&[]))
                .unwrap_err()
                .contains("not an AWS region")
        );
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 0..10 {
            assert!(backoff(attempt) <= BACKOFF_CAP);
        }
        assert!(backoff(0) <= BACKOFF_BASE);
    }
}
