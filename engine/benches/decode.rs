//! Criterion bench of decoding an upstream answer: the jsonplaceholder-shaped `/posts` of the
//! load kit (100 posts, 33 KB) decoded whole into a `serde_json::Value`, and into a tape
//! (engine/src/decoded.rs) through the projection a query like `{posts{id title}}` compiles
//! to (engine/src/projection.rs), and the same answer again for the same request (its tape
//! reused after a comparison of bytes). Each iteration drops what it decoded, as the
//! executor does.
//!
//! `cargo bench -p engine --bench decode`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::projection::{Keep, Projection};
use serde_json::{Value, json};

fn posts() -> bytes::Bytes {
    let lorem = "quia et suscipit suscipit recusandae consequuntur expedita et cum reprehenderit \
                 molestiae ut ut quas totam nostrum rerum est autem sunt rem eveniet architecto";
    let posts: Value = (1..=100u64)
        .map(|i| {
            json!({"userId": (i - 1) / 10 + 1, "id": i,
                   "title": format!("sunt aut facere repellat provident occaecati {i}"),
                   "body": format!("{lorem}\n{lorem}")})
        })
        .collect();
    serde_json::to_vec(&posts).unwrap_or_default().into()
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
    let key = "GET /posts";
    group.bench_function("whole", |b| {
        b.iter(|| engine::projection::decode(key, &bytes, None))
    });
    group.bench_function("projected_id_title", |b| {
        b.iter(|| projection.decode(&bytes))
    });
    group.bench_function("projected_id_title_unchanged", |b| {
        b.iter(|| engine::projection::decode(key, &bytes, Some(&projection)))
    });
    // Every answer differs from the last (one title's digit): decoded, and kept.
    let mut changed = bytes.to_vec();
    let title = b"occaecati 1\"";
    let at = changed
        .windows(title.len())
        .position(|w| w == title)
        .unwrap_or(0)
        + 10;
    changed[at] = b'9';
    let answers = [bytes.clone(), bytes::Bytes::from(changed)];
    let mut turn = 0;
    group.bench_function("projected_id_title_changed", |b| {
        b.iter(|| {
            turn ^= 1;
            engine::projection::decode("GET /changing", &answers[turn], Some(&projection))
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
