//! A unary gRPC call through graft vs the same call made directly with a tonic client, in
//! one run against one upstream: graft's tonic test server on 127.0.0.1 (ephemeral port).
//!
//! `cargo bench -p engine --bench grpc`. The ratio of the two `time` estimates is graft's
//! overhead per call (GraphQL parse/validate/plan, argument → protobuf JSON → message,
//! message → JSON → shaped response). The direct client decodes into a `DynamicMessage`
//! too, since the test server has no generated code.

#[path = "../tests/grpc_server/mod.rs"]
mod grpc_server;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::upstream::grpc::{DynamicCodec, channel, json_to_message};
use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::ingest::grpc::{GrpcOptions, ingest};
use serde_json::json;

const QUERY: &str = "{ kitchenGetPet(id: 42) { id name status tags owner { name } } }";

fn unary(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(grpc_server::start(grpc_server::Reflection::V1AndV1alpha));
    let endpoint = server.endpoint();
    let catalog = ingest(&server.pool, &GrpcOptions::new("kitchen", &endpoint))
        .catalog
        .unwrap();
    let gateway = Gateway::build(&catalog, GatewayOptions::default()).unwrap();
    // Warm up: describe, connect, plan.
    let warm = rt.block_on(gateway.execute_rendered(
        async_graphql::Request::new(QUERY),
        RequestContext::default(),
    ));
    assert!(!warm.body.is_empty());

    let method = server
        .pool
        .get_service_by_name("graft.test.v1.Kitchen")
        .unwrap()
        .methods()
        .find(|m| m.name() == "GetPet")
        .unwrap();
    let request = json_to_message(&method.input(), json!({"id": 42})).unwrap();
    let direct = channel(&endpoint).unwrap();

    let mut group = c.benchmark_group("grpc_unary_get_pet");
    group.bench_function("direct_tonic_client", |b| {
        b.to_async(&rt).iter(|| {
            let mut grpc = tonic::client::Grpc::new(direct.clone());
            let request = tonic::Request::new(request.clone());
            let codec = DynamicCodec::new(method.output());
            async move {
                grpc.ready().await.unwrap();
                let path = http::uri::PathAndQuery::from_static("/graft.test.v1.Kitchen/GetPet");
                grpc.unary(request, path, codec).await.unwrap().into_inner()
            }
        })
    });
    group.bench_function("through_graft", |b| {
        b.to_async(&rt).iter(|| {
            gateway.execute_rendered(
                async_graphql::Request::new(QUERY),
                RequestContext::default(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
