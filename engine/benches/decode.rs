//! Criterion bench of decoding an upstream answer: the jsonplaceholder-shaped `/posts` of the
//! load kit (100 posts, 33 KB) decoded whole into a `serde_json::Value`, and into a tape
//! (engine/src/decoded.rs) through the projection a query like `{posts{id title}}` compiles
//! to (engine/src/projection.rs). Each iteration drops what it decoded, as the executor does.
//!
//! `cargo bench -p engine --bench decode`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::projection::{Keep, Projection};
use serde_json::{Value, json};

fn posts() -> Vec<u8> {
    let lorem = "quia et suscipit suscipit recusandae consequuntur expedita et cum reprehenderit \
                 molestiae ut ut quas totam nostrum rerum est autem sunt rem eveniet architecto";
    let posts: Value = (1..=100u64)
        .map(|i| {
            json!({"userId": (i - 1) / 10 + 1, "id": i,
                   "title": format!("sunt aut facere repellat provident occaecati {i}"),
                   "body": format!("{lorem}\n{lorem}")})
        })
        .collect();
    serde_json::to_vec(&posts).unwrap_or_default()
}

fn decode(c: &mut Criterion) {
    let bytes = posts();
    let keep = Keep::Fields(
        ["id", "title"]
            .into_iter()
            .map(|n| (n.to_string(), Keep::All))
            .collect(),
    );
    let projection = Projection::new(keep);
    let mut group = c.benchmark_group("decode_posts");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("whole", |b| {
        b.iter(|| engine::projection::decode(&bytes, None))
    });
    group.bench_function("projected_id_title", |b| {
        b.iter(|| engine::projection::decode(&bytes, Some(&projection)))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
