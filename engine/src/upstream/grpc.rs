//! gRPC: `@grpc` calls (invoke) and reading a server's descriptors (describe).
//!
//! Nothing is generated at build time. Descriptors come from server reflection
//! (`grpc.reflection.v1`, falling back to `v1alpha`, with every transitive dependency) or a
//! `FileDescriptorSet` file, and messages are `prost_reflect::DynamicMessage`s:
//!
//! - arguments (already in wire spelling) are a JSON object in the protobuf JSON mapping,
//!   deserialized into the request message — oneof members set twice, unknown fields and
//!   ill-typed values are `UPSTREAM_INVALID_REQUEST`;
//! - responses are serialized back to protobuf JSON with default values present, 64-bit
//!   integers as JSON numbers and enums as their names, so the generic resolvers shape them
//!   like any JSON upstream; a `google.protobuf.Empty` response is `true`.
//!
//! Channels are pooled per endpoint (one HTTP/2 connection multiplexes every call; TLS for
//! `https://`). They connect lazily, so an unreachable upstream fails its own fields, not the
//! gateway build. Descriptors are fetched on a source's first call and cached per endpoint;
//! a method missing from the cache triggers one refresh (the upstream may have been
//! redeployed). A non-OK status becomes an error whose code is the status name
//! (`NOT_FOUND`) with the status message and its decoded `google.rpc.Status` details.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ::http::HeaderMap;
use ::http::header::HeaderName;
use ::http::uri::PathAndQuery;
use base64::Engine as _;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, ReflectMessage,
    SerializeOptions,
};
use schema_gen::catalog::{Field, GrpcBatch, GrpcCall, GrpcSource, Source};
use schema_gen::template::Template;
use serde_json::Value;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::{
    CallInput, CallOutput, Invoke, PrepareContext, Rendered, SendContext, render_json,
    substitute_env,
};
use crate::error::{BuildError, DescribeError, ErrorKind, UpstreamError};

/// Full name of the message that stands for "no value".
const EMPTY: &str = "google.protobuf.Empty";

/// How long connecting may take before a call (or a describe) fails as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest message graft accepts from an upstream.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Channels and descriptors, shared process-wide (and across gateway reloads).
// ---------------------------------------------------------------------------------------

static CHANNELS: OnceLock<Mutex<HashMap<String, Pooled>>> = OnceLock::new();
static POOLS: OnceLock<Mutex<HashMap<String, DescriptorPool>>> = OnceLock::new();

/// A pooled channel and whether the runtime that drives its connection still runs (a
/// channel outlives neither: tests and CLI commands may start several runtimes).
struct Pooled {
    channel: Channel,
    alive: Arc<AtomicBool>,
}

/// Clears `alive` when dropped, i.e. when its runtime shuts down and drops its tasks.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The pooled channel for `endpoint` (`http://host:port` or `https://host:port`). Must be
/// called within a tokio runtime, which drives the connection.
pub fn channel(endpoint: &str) -> Result<Channel, String> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "gRPC channels need a tokio runtime".to_string())?;
    let channels = CHANNELS.get_or_init(Default::default);
    if let Some(pooled) = channels
        .lock()
        .map_err(|_| "channel pool poisoned")?
        .get(endpoint)
        .filter(|p| p.alive.load(Ordering::Acquire))
    {
        return Ok(pooled.channel.clone());
    }
    let mut builder = Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| format!("`{endpoint}` is not a valid gRPC endpoint: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if endpoint.starts_with("https://") {
        builder = builder
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .map_err(|e| format!("TLS for `{endpoint}`: {e}"))?;
    } else if !endpoint.starts_with("http://") {
        return Err(format!("`{endpoint}` must start with http:// or https://"));
    }
    let channel = builder.connect_lazy();
    let alive = Arc::new(AtomicBool::new(true));
    let guard = AliveGuard(Arc::clone(&alive));
    runtime.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let mut map = channels.lock().map_err(|_| "channel pool poisoned")?;
    map.insert(
        endpoint.to_string(),
        Pooled {
            channel: channel.clone(),
            alive,
        },
    );
    Ok(channel)
}

/// Makes `pool` the descriptors used for calls to `endpoint` (for sources described from a
/// `FileDescriptorSet` instead of reflection, or to skip the first call's describe).
pub fn register_descriptors(endpoint: &str, pool: DescriptorPool) {
    if let Ok(mut pools) = POOLS.get_or_init(Default::default).lock() {
        pools.insert(endpoint.to_string(), pool);
    }
}

fn cached_pool(endpoint: &str) -> Option<DescriptorPool> {
    POOLS
        .get_or_init(Default::default)
        .lock()
        .ok()?
        .get(endpoint)
        .cloned()
}

// ---------------------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------------------

/// Readiness: the endpoint accepts a TCP connection (no RPC is made).
pub(super) async fn probe(grpc: &GrpcSource, cx: &PrepareContext<'_>) -> super::Probe {
    let endpoint = match substitute_env(&grpc.endpoint, cx) {
        Ok(endpoint) => endpoint.to_string(),
        Err(error) => return super::Probe::Down(error.to_string()),
    };
    let authority = match endpoint.parse::<::http::Uri>() {
        Ok(uri) => match (uri.host(), uri.port_u16()) {
            (Some(host), port) => {
                let default = if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                };
                format!("{host}:{}", port.unwrap_or(default))
            }
            (None, _) => return super::Probe::Down(format!("`{endpoint}` names no host")),
        },
        Err(error) => return super::Probe::Down(format!("`{endpoint}`: {error}")),
    };
    match tokio::net::TcpStream::connect(&authority).await {
        Ok(_) => super::Probe::Up,
        Err(error) => super::Probe::Down(format!("connect {authority}: {error}")),
    }
}

/// Reads every service of the server at `endpoint` by reflection — `grpc.reflection.v1`,
/// falling back to `v1alpha` when the server does not implement v1 — with all transitive
/// file dependencies. Well-known `google/protobuf/*` files the server does not serve are
/// taken from graft's own copies.
pub async fn describe(endpoint: &str, timeout: Duration) -> Result<DescriptorPool, DescribeError> {
    let location = endpoint.to_string();
    let work = async {
        let channel = channel(endpoint).map_err(|message| DescribeError::Fetch {
            location: location.clone(),
            message,
        })?;
        let files = match reflect_v1(channel.clone()).await {
            Err(ReflectError::Status(status)) if status.code() == tonic::Code::Unimplemented => {
                reflect_v1alpha(channel).await
            }
            other => other,
        }
        .map_err(|e| e.into_describe(&location))?;
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files)
            .map_err(|e| DescribeError::Descriptor {
                location: location.clone(),
                message: e.to_string(),
            })?;
        Ok(pool)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(DescribeError::Timeout {
            location,
            seconds: timeout.as_secs().max(1),
        }),
    }
}

/// Reads a serialized `FileDescriptorSet` (`protoc --include_imports --descriptor_set_out`).
pub fn describe_descriptor_set(path: &Path) -> Result<DescriptorPool, DescribeError> {
    let location = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DescribeError::Io {
        location: location.clone(),
        message: e.to_string(),
    })?;
    DescriptorPool::decode(bytes.as_slice()).map_err(|e| DescribeError::Descriptor {
        location,
        message: e.to_string(),
    })
}

enum ReflectError {
    /// The reflection call itself failed.
    Status(tonic::Status),
    /// The server answered something unusable.
    Protocol(String),
    Decode(String),
}

impl ReflectError {
    fn into_describe(self, location: &str) -> DescribeError {
        let location = location.to_string();
        match self {
            ReflectError::Status(status) if is_connect_failure(&status) => DescribeError::Fetch {
                location,
                message: format!("cannot connect: {}", connect_cause(&status)),
            },
            ReflectError::Status(status) if status.code() == tonic::Code::Unimplemented => {
                DescribeError::Reflection {
                    location,
                    message:
                        "the server does not serve reflection (grpc.reflection.v1 nor v1alpha)"
                            .into(),
                }
            }
            ReflectError::Status(status) => DescribeError::Reflection {
                location,
                message: format!(
                    "reflection failed with {:?}: {}",
                    status.code(),
                    status.message()
                ),
            },
            ReflectError::Protocol(message) => DescribeError::Reflection { location, message },
            ReflectError::Decode(message) => DescribeError::Descriptor { location, message },
        }
    }
}

/// One reflection client per protocol version; the generated types differ, the walk is equal.
macro_rules! reflect_with {
    ($name:ident, $pb:path) => {
        async fn $name(
            channel: Channel,
        ) -> Result<Vec<prost_types::FileDescriptorProto>, ReflectError> {
            use pb::server_reflection_client::ServerReflectionClient;
            use pb::server_reflection_request::MessageRequest;
            use pb::server_reflection_response::MessageResponse;
            use $pb as pb;

            let (tx, rx) = tokio::sync::mpsc::channel::<pb::ServerReflectionRequest>(4);
            let mut client =
                ServerReflectionClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
            let ask = |request: MessageRequest| pb::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(request),
            };
            // The first request goes out before the call so the server answers at once.
            tx.send(ask(MessageRequest::ListServices(String::new())))
                .await
                .map_err(|_| ReflectError::Protocol("reflection stream closed".into()))?;
            let mut responses = client
                .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .map_err(ReflectError::Status)?
                .into_inner();
            macro_rules! next {
                () => {
                    match responses.message().await {
                        Ok(Some(response)) => response.message_response.ok_or_else(|| {
                            ReflectError::Protocol("an empty reflection response".into())
                        }),
                        Ok(None) => Err(ReflectError::Protocol(
                            "the reflection stream ended early".into(),
                        )),
                        Err(status) => Err(ReflectError::Status(status)),
                    }
                };
            }
            let services = match next!()? {
                MessageResponse::ListServicesResponse(list) => list.service,
                MessageResponse::ErrorResponse(e) => {
                    return Err(ReflectError::Protocol(e.error_message))
                }
                _ => {
                    return Err(ReflectError::Protocol(
                        "ListServices got an unexpected answer".into(),
                    ))
                }
            };
            let mut files = FileCollector::default();
            for service in services {
                if service.name.starts_with("grpc.reflection.") {
                    continue;
                }
                tx.send(ask(MessageRequest::FileContainingSymbol(
                    service.name.clone(),
                )))
                .await
                .map_err(|_| ReflectError::Protocol("reflection stream closed".into()))?;
                match next!()? {
                    MessageResponse::FileDescriptorResponse(r) => {
                        files.add(&r.file_descriptor_proto)?
                    }
                    MessageResponse::ErrorResponse(e) => {
                        return Err(ReflectError::Protocol(format!(
                            "service `{}`: {}",
                            service.name, e.error_message
                        )));
                    }
                    _ => {
                        return Err(ReflectError::Protocol(
                            "FileContainingSymbol got an unexpected answer".into(),
                        ));
                    }
                }
            }
            while let Some(missing) = files.next_missing() {
                // Well-known types are standard: graft's copies save a round trip each.
                if files.take_well_known(&missing) {
                    continue;
                }
                tx.send(ask(MessageRequest::FileByFilename(missing.clone())))
                    .await
                    .map_err(|_| ReflectError::Protocol("reflection stream closed".into()))?;
                match next!() {
                    Ok(MessageResponse::FileDescriptorResponse(r)) => {
                        files.add(&r.file_descriptor_proto)?
                    }
                    Ok(MessageResponse::ErrorResponse(e)) => {
                        return Err(not_served(&missing, &e.error_message));
                    }
                    // Some servers (tonic's) end the stream with NOT_FOUND instead.
                    Err(ReflectError::Status(status)) if status.code() == tonic::Code::NotFound => {
                        return Err(not_served(&missing, status.message()));
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {
                        return Err(ReflectError::Protocol(
                            "FileByFilename got an unexpected answer".into(),
                        ));
                    }
                }
            }
            drop(tx);
            Ok(files.into_files())
        }
    };
}

reflect_with!(reflect_v1, tonic_reflection::pb::v1);
reflect_with!(reflect_v1alpha, tonic_reflection::pb::v1alpha);

/// Collects file descriptors until every dependency is present.
#[derive(Default)]
struct FileCollector {
    files: Vec<prost_types::FileDescriptorProto>,
    have: BTreeSet<String>,
    wanted: BTreeSet<String>,
}

impl FileCollector {
    fn add(&mut self, encoded: &[Vec<u8>]) -> Result<(), ReflectError> {
        for bytes in encoded {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                ReflectError::Decode(format!("a file descriptor does not decode: {e}"))
            })?;
            let name = file.name().to_string();
            if self.have.insert(name.clone()) {
                self.wanted.remove(&name);
                for dep in &file.dependency {
                    if !self.have.contains(dep) {
                        self.wanted.insert(dep.clone());
                    }
                }
                self.files.push(file);
            }
        }
        Ok(())
    }

    fn next_missing(&self) -> Option<String> {
        self.wanted.iter().next().cloned()
    }

    /// Adds graft's copy of `name` when it is a well-known type's file.
    fn take_well_known(&mut self, name: &str) -> bool {
        if !name.starts_with("google/protobuf/") {
            return false;
        }
        let Some(file) = DescriptorPool::global().get_file_by_name(name) else {
            return false;
        };
        self.wanted.remove(name);
        self.have.insert(name.to_string());
        for dep in &file.file_descriptor_proto().dependency {
            if !self.have.contains(dep) {
                self.wanted.insert(dep.clone());
            }
        }
        self.files.push(file.file_descriptor_proto().clone());
        true
    }

    fn into_files(self) -> Vec<prost_types::FileDescriptorProto> {
        self.files
    }
}

/// A dependency the upstream's reflection does not have: its descriptors cannot link.
fn not_served(name: &str, error: &str) -> ReflectError {
    ReflectError::Decode(format!(
        "dependency `{name}` is not served by the upstream's reflection: {error}"
    ))
}

// ---------------------------------------------------------------------------------------
// The codec: DynamicMessage in, DynamicMessage out.
// ---------------------------------------------------------------------------------------

/// A tonic codec for dynamic messages: encodes any `DynamicMessage` and decodes the message
/// type it was made for (the response type on a client, the request type on a server).
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    decode_as: MessageDescriptor,
}

impl DynamicCodec {
    pub fn new(decode_as: MessageDescriptor) -> Self {
        DynamicCodec { decode_as }
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.decode_as.clone())
    }
}

#[derive(Debug)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(format!("cannot encode the message: {e}")))
    }
}

#[derive(Debug)]
pub struct DynamicDecoder(MessageDescriptor);

/// Marks a status produced by graft's own decoder (not sent by the upstream).
#[derive(Debug)]
struct DecodeFailure;

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message decode failure")
    }
}

impl std::error::Error for DecodeFailure {}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| {
                let mut status = tonic::Status::internal(format!(
                    "the message does not decode as `{}`: {e}",
                    self.0.full_name()
                ));
                status.set_source(Arc::new(DecodeFailure));
                status
            })
    }
}

/// Protobuf JSON as graft's resolvers read it: defaults present, int64 as numbers, enum names.
pub fn message_to_json(message: &DynamicMessage) -> Result<Value, String> {
    if message.descriptor().full_name() == EMPTY {
        return Ok(Value::Bool(true));
    }
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    let mut value = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| e.to_string())?;
    sort_maps(&mut value, &message.descriptor());
    Ok(value)
}

/// Sorts the keys of map fields: protobuf maps have no order, and equal messages should
/// render to equal JSON (snapshots, caches, deduplicated responses).
fn sort_maps(value: &mut Value, desc: &MessageDescriptor) {
    let Value::Object(map) = value else { return };
    for (key, member) in map.iter_mut() {
        let Some(field) = desc.get_field_by_json_name(key) else {
            continue;
        };
        let prost_reflect::Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() {
            if let Value::Object(entries) = member {
                entries.sort_keys();
                let value_kind = inner.map_entry_value_field().kind();
                if let prost_reflect::Kind::Message(value_desc) = value_kind {
                    entries.values_mut().for_each(|v| sort_maps(v, &value_desc));
                }
            }
        } else if !inner.full_name().starts_with("google.protobuf.") {
            match member {
                Value::Array(items) => items.iter_mut().for_each(|item| sort_maps(item, &inner)),
                other => sort_maps(other, &inner),
            }
        }
    }
}

/// A JSON object (protobuf JSON mapping, null members ignored) as a message of `desc`.
pub fn json_to_message(
    desc: &MessageDescriptor,
    mut value: Value,
) -> Result<DynamicMessage, String> {
    strip_nulls(&mut value, desc);
    DynamicMessage::deserialize(desc.clone(), value).map_err(|e| e.to_string())
}

/// Drops `null` members of message objects (GraphQL's "not given"), except where a
/// `google.protobuf.Value` field can hold a JSON null.
fn strip_nulls(value: &mut Value, desc: &MessageDescriptor) {
    let Value::Object(map) = value else { return };
    map.retain(|key, member| {
        let field = desc.get_field_by_json_name(key).or_else(|| desc.get_field_by_name(key));
        let keeps_null = field.as_ref().is_some_and(|f| {
            matches!(f.kind(), prost_reflect::Kind::Message(m) if m.full_name() == "google.protobuf.Value")
        });
        !member.is_null() || keeps_null
    });
    for (key, member) in map.iter_mut() {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        let prost_reflect::Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() || inner.full_name().starts_with("google.protobuf.") {
            continue;
        }
        match member {
            Value::Array(items) => items.iter_mut().for_each(|item| strip_nulls(item, &inner)),
            other => strip_nulls(other, &inner),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invoke
// ---------------------------------------------------------------------------------------

/// One `@grpc` field, prepared.
pub struct GrpcInvoke {
    /// Where its calls go; shared by every call of the field.
    target: Arc<CallTarget>,
    body: Option<Template>,
    read: bool,
    forward: Vec<HeaderName>,
}

impl fmt::Debug for GrpcInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        write!(
            f,
            "GrpcInvoke({} {} {}/{})",
            t.source_name, t.endpoint, t.service, t.method
        )
    }
}

/// Prepares one `@grpc` field. The endpoint must be literal once `{{env.X}}` is resolved.
pub fn prepare(
    source: &Source,
    grpc: &GrpcSource,
    call: &GrpcCall,
    _field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<GrpcInvoke, BuildError> {
    let endpoint = substitute_env(&grpc.endpoint, cx)?;
    if !endpoint.is_literal() {
        return Err(BuildError::InvalidSource {
            source_name: source.name.clone(),
            message: "the gRPC endpoint may only use {{env.X}} templates".into(),
        });
    }
    let endpoint = endpoint.to_string().trim_end_matches('/').to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(BuildError::InvalidSource {
            source_name: source.name.clone(),
            message: format!("the gRPC endpoint `{endpoint}` must start with http:// or https://"),
        });
    }
    if let Some(path) = &grpc.descriptor_set {
        let pool =
            describe_descriptor_set(Path::new(path)).map_err(|e| BuildError::InvalidSource {
                source_name: source.name.clone(),
                message: e.to_string(),
            })?;
        register_descriptors(&endpoint, pool);
    }
    let (service, method) =
        call.method
            .split_once('/')
            .ok_or_else(|| BuildError::InvalidTemplate {
                coordinate: cx.coordinate.to_string(),
                message: format!("`{}` is not a `package.Service/Method` name", call.method),
            })?;
    let body = call
        .body
        .as_ref()
        .map(|t| substitute_env(t, cx))
        .transpose()?;
    let headers = |names: &[String]| -> Vec<HeaderName> {
        names
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
            .collect()
    };
    Ok(GrpcInvoke {
        target: Arc::new(CallTarget {
            source_name: source.name.clone(),
            endpoint,
            service: service.to_string(),
            method: method.to_string(),
            keys_field: None,
            response_headers: headers(&source.policy.response_headers),
            freshness: source.policy.http_cache,
        }),
        body,
        // Ingest put read methods on Query (a user may move them): the root decides.
        read: !cx.mutation,
        forward: headers(&source.policy.forward_headers),
    })
}

/// Prepares the batch form of a `@grpc` link (`batch: {method, keys, items, key, maxSize}`):
/// one call of `batch.method` whose request is `{keys: [k1, k2, …]}`, the keys converted to
/// the field's type. Field names may be written as in the .proto (`pet_ids`) or in JSON
/// (`petIds`); responses are read by their JSON names ([`json_name`]). Whether the method
/// exists is checked like any method's: on its first call, against the descriptors.
pub fn prepare_batch(
    source: &Source,
    grpc: &GrpcSource,
    batch: &GrpcBatch,
    field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<GrpcInvoke, BuildError> {
    let batched = GrpcCall {
        method: batch.method.clone(),
        body: Some(super::keys_template(Some(&batch.keys))),
        batch: None,
    };
    let mut invoke = prepare(source, grpc, &batched, field, cx)?;
    if let Some(target) = Arc::get_mut(&mut invoke.target) {
        target.keys_field = Some(batch.keys.clone());
    }
    Ok(invoke)
}

/// A field's name in the protobuf JSON mapping (`pet_ids` → `petIds`), as protoc derives it.
pub fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Batch keys are the parents' JSON values; a `string` keys field takes numeric keys as
/// their text (integer fields accept both numbers and strings in the protobuf JSON mapping).
fn keys_as_field_type(
    desc: &MessageDescriptor,
    message: &mut serde_json::Map<String, Value>,
    field: &str,
) {
    let is_string = desc
        .get_field_by_name(field)
        .or_else(|| desc.get_field_by_json_name(field))
        .is_some_and(|f| matches!(f.kind(), prost_reflect::Kind::String));
    if let (true, Some(Value::Array(keys))) = (is_string, message.get_mut(field)) {
        for key in keys.iter_mut().filter(|k| k.is_number() || k.is_boolean()) {
            *key = Value::String(super::value_text(key).into_owned());
        }
    }
}

impl Invoke for GrpcInvoke {
    fn source_name(&self) -> &str {
        &self.target.source_name
    }

    fn subscribe(
        &self,
        input: &CallInput<'_>,
        cx: SendContext,
    ) -> BoxStream<'static, Result<Value, UpstreamError>> {
        let rendered = match self.rendered(input) {
            Ok(rendered) => rendered,
            Err(e) => return futures::stream::once(async move { Err(e) }).boxed(),
        };
        let GrpcRendered {
            call,
            message,
            metadata,
            ..
        } = rendered;
        let opened = async move {
            let deadline = cx.deadline;
            let opening = call.open_stream(message, metadata, &cx);
            let error = match tokio::time::timeout_at(deadline, opening).await {
                Ok(Ok(stream)) => return stream,
                Ok(Err(e)) => e,
                Err(_) => call.error(
                    ErrorKind::Timeout,
                    format!(
                        "upstream `{}` did not open {} in time",
                        call.source_name,
                        call.path()
                    ),
                ),
            };
            futures::stream::once(async move { Err(error) }).boxed()
        };
        futures::stream::once(opened).flatten().boxed()
    }

    fn is_read(&self) -> bool {
        self.read
    }

    fn render(&self, input: &CallInput<'_>) -> Result<Box<dyn Rendered>, UpstreamError> {
        Ok(Box::new(self.rendered(input)?))
    }
}

impl GrpcInvoke {
    fn rendered(&self, input: &CallInput<'_>) -> Result<GrpcRendered, UpstreamError> {
        let message = match &self.body {
            Some(body) => render_json(body, input),
            None => Value::Object(input.wire_args.clone()),
        };
        let mut metadata = Vec::new();
        for name in &self.forward {
            for value in input.headers.get_all(name) {
                metadata.push((name.clone(), value.clone()));
            }
        }
        let mut key = format!(
            "{}\u{0}grpc\u{0}{}/{}\u{0}{}",
            self.target.source_name, self.target.service, self.target.method, message
        );
        for (name, value) in &metadata {
            key.push('\u{0}');
            key.push_str(name.as_str());
            key.push('=');
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        Ok(GrpcRendered {
            key,
            call: Arc::clone(&self.target),
            message,
            metadata,
        })
    }
}

/// What a rendered call needs to be sent, shared by all calls of a field.
#[derive(Debug)]
struct CallTarget {
    source_name: String,
    endpoint: String,
    /// `package.Service`
    service: String,
    /// `Method`
    method: String,
    /// The batch form's repeated request field receiving the keys (`None`: not a batch).
    keys_field: Option<String>,
    response_headers: Vec<HeaderName>,
    /// The source honours `Cache-Control` (`httpCache`): answers carry their freshness.
    freshness: bool,
}

struct GrpcRendered {
    key: String,
    call: Arc<CallTarget>,
    message: Value,
    metadata: Vec<(HeaderName, ::http::HeaderValue)>,
}

impl Rendered for GrpcRendered {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(
        self: Box<Self>,
        cx: SendContext,
    ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>> {
        let GrpcRendered {
            call,
            message,
            metadata,
            ..
        } = *self;
        Box::pin(async move {
            let work = call.unary(message, metadata, &cx);
            super::within_deadline(&call.source_name, || call.path(), cx.deadline, work).await
        })
    }
}

impl CallTarget {
    fn path(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(kind, self.source_name.clone(), message)
    }

    /// The method's descriptor: from the cache, else by describing the upstream (once more
    /// when the cached descriptors do not have it).
    async fn method_descriptor(&self, cx: &SendContext) -> Result<MethodDescriptor, UpstreamError> {
        let find = |pool: &DescriptorPool| {
            pool.get_service_by_name(&self.service)
                .and_then(|s| s.methods().find(|m| m.name() == self.method))
        };
        if let Some(found) = cached_pool(&self.endpoint).as_ref().and_then(find) {
            return Ok(found);
        }
        let remaining = cx
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        let pool = describe(&self.endpoint, remaining)
            .await
            .map_err(|e| match e {
                DescribeError::Timeout { .. } => self.error(
                    ErrorKind::Timeout,
                    format!("describing upstream `{}` timed out", self.source_name),
                ),
                DescribeError::Fetch { message, .. } => self.error(
                    ErrorKind::Unreachable,
                    format!("upstream `{}` is unreachable: {message}", self.source_name),
                ),
                other => self.error(
                    ErrorKind::Transport,
                    format!("upstream `{}`: {other}", self.source_name),
                ),
            })?;
        register_descriptors(&self.endpoint, pool.clone());
        find(&pool).ok_or_else(|| {
            self.error(
                ErrorKind::GrpcStatus(tonic::Code::Unimplemented as i32),
                format!(
                    "upstream `{}` does not describe method `{}`",
                    self.source_name,
                    self.path()
                ),
            )
        })
    }

    /// A client on the pooled channel, ready to send, and the method's path.
    async fn ready_client(
        &self,
    ) -> Result<(tonic::client::Grpc<Channel>, PathAndQuery), UpstreamError> {
        let channel = channel(&self.endpoint).map_err(|e| self.error(ErrorKind::Unreachable, e))?;
        let mut grpc =
            tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        grpc.ready().await.map_err(|e| {
            self.error(
                ErrorKind::Unreachable,
                format!("upstream `{}` is unreachable: {e}", self.source_name),
            )
        })?;
        let path = PathAndQuery::try_from(format!("/{}/{}", self.service, self.method))
            .map_err(|e| self.error(ErrorKind::InvalidRequest, format!("bad method path: {e}")))?;
        Ok((grpc, path))
    }

    async fn unary(
        &self,
        message: Value,
        metadata: Vec<(HeaderName, ::http::HeaderValue)>,
        cx: &SendContext,
    ) -> Result<CallOutput, UpstreamError> {
        let method = self.method_descriptor(cx).await?;
        if method.is_client_streaming() || method.is_server_streaming() {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                format!("`{}` is a streaming method; only unary methods are called from Query and Mutation fields", self.path()),
            ));
        }
        let request = self.request(&method, message, metadata, cx)?;
        let (mut grpc, path) = self.ready_client().await?;
        let response = grpc
            .unary(request, path, DynamicCodec::new(method.output()))
            .await
            .map_err(|status| {
                // tonic enforces `grpc-timeout` on the client too (as CANCELLED); the upstream
                // may answer DEADLINE_EXCEEDED first. Either way graft's deadline passed.
                let late = tokio::time::Instant::now() + Duration::from_millis(5) >= cx.deadline;
                let deadline_status = matches!(
                    status.code(),
                    tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
                );
                if late && deadline_status {
                    self.error(
                        ErrorKind::Timeout,
                        format!(
                            "upstream `{}` did not answer {} in time",
                            self.source_name,
                            self.path()
                        ),
                    )
                } else {
                    self.status_error(&status, &method)
                }
            })?;
        let headers = self.pass_back(response.metadata());
        let freshness = if self.freshness {
            crate::cache::freshness_headers(&response.metadata().clone().into_headers())
        } else {
            HeaderMap::new()
        };
        let value = message_to_json(response.get_ref()).map_err(|e| {
            self.error(
                ErrorKind::InvalidResponse,
                format!("the response of `{}` cannot be rendered: {e}", self.path()),
            )
        })?;
        Ok(CallOutput {
            value: value.into(),
            headers,
            freshness,
        })
    }

    /// Opens a server-streaming call; each message becomes a value, a final non-OK status
    /// becomes the stream's last item.
    async fn open_stream(
        self: &Arc<Self>,
        message: Value,
        metadata: Vec<(HeaderName, ::http::HeaderValue)>,
        cx: &SendContext,
    ) -> Result<BoxStream<'static, Result<Value, UpstreamError>>, UpstreamError> {
        let method = self.method_descriptor(cx).await?;
        if method.is_client_streaming() || !method.is_server_streaming() {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                format!("`{}` is not a server-streaming method", self.path()),
            ));
        }
        let mut request = self.request(&method, message, metadata, cx)?;
        // A stream lives as long as the subscription: the deadline bounds only its opening.
        request.metadata_mut().remove("grpc-timeout");
        let (mut grpc, path) = self.ready_client().await?;
        let response = grpc
            .server_streaming(request, path, DynamicCodec::new(method.output()))
            .await
            .map_err(|status| self.status_error(&status, &method))?;
        let target = Arc::clone(self);
        let items = response.into_inner().map(move |item| match item {
            Ok(message) => message_to_json(&message).map_err(|e| {
                target.error(
                    ErrorKind::InvalidResponse,
                    format!("a message of `{}` cannot be rendered: {e}", target.path()),
                )
            }),
            Err(status) => Err(target.status_error(&status, &method)),
        });
        // Stop after the first error: tonic ends the stream there too.
        let items = items.scan(false, |failed, item| {
            let next = if *failed { None } else { Some(item) };
            *failed = matches!(next, Some(Err(_)));
            futures::future::ready(next)
        });
        Ok(items.boxed())
    }

    fn request(
        &self,
        method: &MethodDescriptor,
        message: Value,
        metadata: Vec<(HeaderName, ::http::HeaderValue)>,
        cx: &SendContext,
    ) -> Result<tonic::Request<DynamicMessage>, UpstreamError> {
        let input = method.input();
        let message = if let Value::Object(mut members) = message {
            if let Some(field) = &self.keys_field {
                keys_as_field_type(&input, &mut members, field);
            }
            Value::Object(members)
        } else if message.is_null() {
            Value::Object(Default::default())
        } else {
            return Err(self.error(
                ErrorKind::InvalidRequest,
                "the request body must render to a JSON object",
            ));
        };
        let message = json_to_message(&input, message).map_err(|e| {
            self.error(
                ErrorKind::InvalidRequest,
                format!(
                    "the arguments do not make a valid `{}`: {e}",
                    input.full_name()
                ),
            )
        })?;
        let mut request = tonic::Request::new(message);
        let map = request.metadata_mut();
        for (name, value) in metadata {
            insert_metadata(map, name.as_str(), value.as_bytes());
        }
        insert_metadata(map, "x-request-id", cx.request_id.as_bytes());
        // Sent as `grpc-timeout`, so the upstream stops working when graft stops waiting.
        request.set_timeout(
            cx.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        );
        Ok(request)
    }

    /// Response metadata the source passes back to the client.
    fn pass_back(&self, metadata: &MetadataMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.response_headers.is_empty() {
            return headers;
        }
        let all = metadata.clone().into_headers();
        for name in &self.response_headers {
            for value in all.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers
    }

    fn status_error(&self, status: &tonic::Status, method: &MethodDescriptor) -> UpstreamError {
        if is_connect_failure(status) {
            return self.error(
                ErrorKind::Unreachable,
                format!(
                    "upstream `{}` is unreachable: {}",
                    self.source_name,
                    connect_cause(status)
                ),
            );
        }
        if source_is::<DecodeFailure>(status) {
            return self.error(ErrorKind::InvalidResponse, status.message().to_string());
        }
        let mut error = self.error(
            ErrorKind::GrpcStatus(status.code() as i32),
            status.message().to_string(),
        );
        if let Some(details) = decode_details(status.details(), &method.parent_pool().clone()) {
            error = error.with_details(details);
        }
        error
    }
}

fn insert_metadata(map: &mut MetadataMap, name: &str, value: &[u8]) {
    if let (Ok(key), Ok(value)) = (
        AsciiMetadataKey::from_bytes(name.as_bytes()),
        AsciiMetadataValue::try_from(value),
    ) {
        map.append(key, value);
    }
}

fn source_is<E: std::error::Error + 'static>(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if err.is::<E>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// True when the status stands for a failure to reach the upstream at all (tonic reports
/// connection errors as `UNAVAILABLE` with the transport error as source).
fn is_connect_failure(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable && source_is::<tonic::transport::Error>(status)
}

fn connect_cause(status: &tonic::Status) -> String {
    let mut cause = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        cause = err.to_string();
        source = err.source();
    }
    cause
}

/// `google.rpc.Status`, the payload of `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// The status details as JSON: each `Any` in protobuf JSON form when its type is known
/// (from the upstream's descriptors or the well-known types), else its type URL and base64.
fn decode_details(bytes: &[u8], pool: &DescriptorPool) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(bytes).ok()?;
    let global = DescriptorPool::global();
    let details = status
        .details
        .iter()
        .map(|any| {
            let name = any.type_url.rsplit('/').next().unwrap_or_default();
            let decoded = pool
                .get_message_by_name(name)
                .or_else(|| global.get_message_by_name(name))
                .and_then(|desc| DynamicMessage::decode(desc, any.value.as_slice()).ok())
                .and_then(|m| message_to_json(&m).ok());
            let mut object = serde_json::Map::new();
            object.insert("@type".into(), Value::String(any.type_url.clone()));
            match decoded {
                Some(Value::Object(fields)) => object.extend(fields),
                Some(other) => {
                    object.insert("value".into(), other);
                }
                None => {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&any.value);
                    object.insert("value".into(), Value::String(encoded));
                }
            }
            Value::Object(object)
        })
        .collect();
    Some(Value::Array(details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proto_field_names_become_their_json_names() {
        assert_eq!(json_name("pets"), "pets");
        assert_eq!(json_name("pet_ids"), "petIds");
        assert_eq!(json_name("petIds"), "petIds");
    }

    #[test]
    fn a_string_keys_field_takes_numeric_keys_as_text() {
        // google.protobuf.Type: `repeated string oneofs`.
        let ty = DescriptorPool::global()
            .get_message_by_name("google.protobuf.Type")
            .unwrap();
        let mut message = json!({"oneofs": [1, "a", 9007199254740993_u64, true]});
        assert!(json_to_message(&ty, message.clone()).is_err());
        let members = message.as_object_mut().unwrap();
        keys_as_field_type(&ty, members, "oneofs");
        assert_eq!(
            message,
            json!({"oneofs": ["1", "a", "9007199254740993", "true"]})
        );
        // Such keys now make a valid request message.
        json_to_message(&ty, message).unwrap();
    }
}
