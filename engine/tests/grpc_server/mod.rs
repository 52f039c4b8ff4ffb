//! graft's own gRPC test upstream: `tests/grpc/protos/kitchen.proto` served by tonic on an
//! ephemeral 127.0.0.1 port, with dynamic messages (no codegen) and server reflection.
//!
//! `graft.test.v1.Kitchen` answers: `GetPet` (id 404 → NOT_FOUND with details, id 666 → a
//! body that does not decode as `Pet`), `ListPets`, `CreatePet`, `Echo` (returns its
//! request), `Ping`, `Fail` (the status asked for), `Slow` (sleeps), `WatchPets` (a stream
//! that can end with an error), `BatchGetPets` (the pets asked for in reverse order, the first
//! one twice, pet 4242 never asked for, and none for ids of 900 and above);
//! `graft.test.v1.Shelter/GetPet` answers the other package's Pet. Every unary call is logged
//! ([`TestServer::calls`]).
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use engine::upstream::grpc::{DynamicCodec, json_to_message, message_to_json};
use futures::future::BoxFuture;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::{Value, json};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

pub const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/grpc/protos");

/// Which reflection protocols the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    V1AndV1alpha,
    V1alphaOnly,
    Off,
}

/// The compiled test protos: a pool and the encoded FileDescriptorSet.
pub fn descriptors() -> (DescriptorPool, Vec<u8>) {
    let mut compiler = protox::Compiler::new([Path::new(PROTOS)]).unwrap();
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file("kitchen.proto").unwrap();
    (
        compiler.descriptor_pool(),
        compiler.encode_file_descriptor_set(),
    )
}

/// Unary calls received: (method name, request as JSON), in arrival order.
type CallLog = Arc<Mutex<Vec<(String, Value)>>>;

pub struct TestServer {
    pub addr: SocketAddr,
    pub pool: DescriptorPool,
    pub descriptor_set: Vec<u8>,
    log: CallLog,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests `method` (a name such as `BatchGetPets`) received so far, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| name == method)
            .map(|(_, request)| request.clone())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the server on 127.0.0.1:0.
pub async fn start(reflection: Reflection) -> TestServer {
    let (pool, descriptor_set) = descriptors();
    start_reflecting(reflection, pool, descriptor_set).await
}

/// Starts the server with reflection answering from `descriptor_set` (which may lack files,
/// to play a server whose reflection misses a dependency).
pub async fn start_reflecting(
    reflection: Reflection,
    pool: DescriptorPool,
    descriptor_set: Vec<u8>,
) -> TestServer {
    serve(reflection, pool, descriptor_set, None).await
}

/// Starts the server over TLS with this PEM certificate chain and key (`endpoint()` stays
/// `http://`; callers use `https://`).
pub async fn start_tls(cert_pem: &str, key_pem: &str) -> TestServer {
    let (pool, descriptor_set) = descriptors();
    let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
    serve(
        Reflection::V1AndV1alpha,
        pool,
        descriptor_set,
        Some(identity),
    )
    .await
}

async fn serve(
    reflection: Reflection,
    pool: DescriptorPool,
    descriptor_set: Vec<u8>,
    tls: Option<tonic::transport::Identity>,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();

    let log = CallLog::default();
    let kitchen = Kitchen(Dyn::new(&pool, "graft.test.v1.Kitchen", &log));
    let shelter = Shelter(Dyn::new(&pool, "graft.test.v1.Shelter", &log));
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = tls {
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap();
    }
    let mut router = builder.add_service(kitchen).add_service(shelter);
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(&descriptor_set)
    };
    if reflection == Reflection::V1AndV1alpha {
        router = router.add_service(reflection_builder().build_v1().unwrap());
    }
    if reflection != Reflection::Off {
        router = router.add_service(reflection_builder().build_v1alpha().unwrap());
    }
    tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        addr,
        pool,
        descriptor_set,
        log,
        shutdown: Some(tx),
    }
}

/// A service whose methods are looked up in the pool and answered by [`answer`].
#[derive(Clone)]
struct Dyn {
    pool: DescriptorPool,
    service: &'static str,
    log: CallLog,
}

impl Dyn {
    fn new(pool: &DescriptorPool, service: &'static str, log: &CallLog) -> Self {
        Dyn {
            pool: pool.clone(),
            service,
            log: Arc::clone(log),
        }
    }

    fn call(
        &self,
        req: http::Request<Body>,
    ) -> BoxFuture<'static, Result<http::Response<Body>, Infallible>> {
        let method = req.uri().path().rsplit('/').next().and_then(|name| {
            self.pool
                .get_service_by_name(self.service)?
                .methods()
                .find(|m| m.name() == name)
        });
        let log = Arc::clone(&self.log);
        Box::pin(async move {
            let Some(method) = method else {
                return Ok(Status::unimplemented("no such method").into_http());
            };
            let mut grpc = tonic::server::Grpc::new(DynamicCodec::new(method.input()));
            Ok(if method.is_server_streaming() {
                grpc.server_streaming(Streamer(method), req).await
            } else {
                grpc.unary(Unary(method, log), req).await
            })
        })
    }
}

macro_rules! named_service {
    ($name:ident, $full:literal) => {
        #[derive(Clone)]
        struct $name(Dyn);

        impl NamedService for $name {
            const NAME: &'static str = $full;
        }

        impl tower::Service<http::Request<Body>> for $name {
            type Response = http::Response<Body>;
            type Error = Infallible;
            type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<Body>) -> Self::Future {
                self.0.call(req)
            }
        }
    };
}

named_service!(Kitchen, "graft.test.v1.Kitchen");
named_service!(Shelter, "graft.test.v1.Shelter");

fn reply(method: &MethodDescriptor, value: Value) -> Result<Response<DynamicMessage>, Status> {
    json_to_message(&method.output(), value)
        .map(Response::new)
        .map_err(Status::internal)
}

fn pet(id: i64) -> Value {
    json!({
        "id": id,
        "name": format!("pet {id}"),
        "status": "AVAILABLE",
        "tags": ["cute", "fluffy"],
        "owner": {"name": "ada"},
    })
}

/// `google.rpc.Status` with one `google.protobuf.StringValue` detail.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

fn status_with_detail(code: tonic::Code, message: &str, detail: &str) -> Status {
    let any = prost_types::Any {
        type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
        value: detail.to_string().encode_to_vec(),
    };
    let status = RpcStatus {
        code: code as i32,
        message: message.into(),
        details: vec![any],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

struct Unary(MethodDescriptor, CallLog);

impl tonic::server::UnaryService<DynamicMessage> for Unary {
    type Response = DynamicMessage;
    type Future = BoxFuture<'static, Result<Response<DynamicMessage>, Status>>;

    fn call(&mut self, request: Request<DynamicMessage>) -> Self::Future {
        let method = self.0.clone();
        let log = Arc::clone(&self.1);
        Box::pin(async move {
            let forwarded = request
                .metadata()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let input = message_to_json(request.get_ref()).map_err(Status::internal)?;
            log.lock()
                .unwrap()
                .push((method.name().to_string(), input.clone()));
            let arg = |name: &str| input.get(name).cloned().unwrap_or(Value::Null);
            match (method.parent_service().name(), method.name()) {
                ("Kitchen", "GetPet") => match arg("id").as_i64().unwrap_or(0) {
                    404 => Err(status_with_detail(
                        tonic::Code::NotFound,
                        "no pet 404",
                        "try another id",
                    )),
                    666 => {
                        // A message of another type whose field 1 has the wrong wire type.
                        let other = method
                            .parent_pool()
                            .get_message_by_name("graft.test.v1.Everything")
                            .unwrap();
                        let garbage = json_to_message(&other, json!({"d": 1.5})).unwrap();
                        Ok(Response::new(garbage))
                    }
                    id => {
                        let mut pet = pet(id);
                        if let Some(tenant) = &forwarded {
                            // Forwarded metadata shows in the body too.
                            pet["owner"]["name"] = json!(tenant);
                        }
                        let mut response = reply(&method, pet)?;
                        if let Some(tenant) = forwarded {
                            response
                                .metadata_mut()
                                .insert("x-tenant-seen", tenant.parse().unwrap());
                        }
                        Ok(response)
                    }
                },
                ("Kitchen", "ListPets") => reply(
                    &method,
                    json!({"pets": [pet(1), pet(9_007_199_254_740_993)], "nextPageToken": ""}),
                ),
                ("Kitchen", "BatchGetPets") => {
                    let ids = arg("ids");
                    let mut pets: Vec<Value> = ids
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_i64)
                        .rev()
                        .filter(|id| *id < 900)
                        .map(pet)
                        .collect();
                    if let Some(first) = pets.first().cloned() {
                        pets.push(first);
                    }
                    pets.push(pet(4242));
                    reply(&method, json!({"pets": pets}))
                }
                ("Kitchen", "CreatePet") => reply(&method, input),
                ("Kitchen", "Echo") => Ok(Response::new(request.into_inner())),
                ("Kitchen", "Ping") => reply(&method, json!({})),
                ("Kitchen", "Fail") => {
                    let code = tonic::Code::from_i32(arg("code").as_i64().unwrap_or(2) as i32);
                    Err(Status::new(
                        code,
                        arg("message").as_str().unwrap_or_default(),
                    ))
                }
                ("Kitchen", "Slow") => {
                    tokio::time::sleep(Duration::from_millis(arg("millis").as_u64().unwrap_or(0)))
                        .await;
                    reply(&method, pet(7))
                }
                ("Shelter", "GetPet") => reply(&method, json!({"name": arg("name"), "good": true})),
                _ => Err(Status::unimplemented("not implemented by the test server")),
            }
        })
    }
}

struct Streamer(MethodDescriptor);

impl tonic::server::ServerStreamingService<DynamicMessage> for Streamer {
    type Response = DynamicMessage;
    type ResponseStream = futures::stream::BoxStream<'static, Result<DynamicMessage, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<DynamicMessage>) -> Self::Future {
        let method = self.0.clone();
        Box::pin(async move {
            let input = message_to_json(request.get_ref()).map_err(Status::internal)?;
            let count = input.get("count").and_then(Value::as_i64).unwrap_or(0);
            let fail = input.get("fail").and_then(Value::as_bool).unwrap_or(false);
            let output = method.output();
            let mut items: Vec<Result<DynamicMessage, Status>> = (1..=count)
                .map(|id| json_to_message(&output, pet(id)).map_err(Status::internal))
                .collect();
            if fail {
                items.push(Err(Status::internal("the stream broke")));
            }
            let stream = futures::stream::iter(items);
            let stream: Self::ResponseStream =
                Box::pin(futures::StreamExt::then(stream, |item| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    item
                }));
            Ok(Response::new(stream))
        })
    }
}
