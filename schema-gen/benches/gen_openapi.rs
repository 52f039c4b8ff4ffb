//! `graft gen openapi` without the IO: ingest + emit of a large spec.
//!
//! By default the spec is synthetic (about 50 MB of JSON, shaped like Microsoft Graph:
//! thousands of components referencing each other, `anyOf` null idioms, enums, `allOf`).
//! With `GRAFT_REAL_SPECS=DIR` (see `scripts/fetch-real-specs.sh`) the real specs found there
//! are measured too. `cargo bench -p schema-gen --bench gen_openapi`.
//!
//! `GRAFT_GEN_ONCE=FILE` instead reads FILE, ingests and emits it once and prints the phase
//! times, for measuring peak memory: `GRAFT_GEN_ONCE=spec.json /usr/bin/time -v
//! target/release/deps/gen_openapi-*` (`synthetic` as FILE uses the synthetic spec);
//! `GRAFT_GEN_OUT=FILE` also writes the SDL there.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use schema_gen::ingest::openapi::{NoExternalRefs, OpenApiOptions, ingest};
use serde_json::{Value, json};

/// A spec of `entities` component schemas and four operations per entity.
fn synthetic_spec(entities: usize) -> String {
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for i in 0..entities {
        let next = (i * 7 + 1) % entities;
        let other = (i * 13 + 5) % entities;
        let mut properties = serde_json::Map::new();
        properties.insert(
            "id".into(),
            json!({"type": "string", "description": "The unique identifier."}),
        );
        for (p, ty) in ["string", "integer", "boolean", "number"]
            .iter()
            .cycle()
            .take(20)
            .enumerate()
        {
            properties.insert(
                format!("property{p}Name"),
                json!({"type": ty, "nullable": p % 3 == 0,
                       "description": format!("Property {p} of entity {i}, described at some length like real specs do.")}),
            );
        }
        properties.insert(
            "status".into(),
            json!({"type": "string", "enum": ["active", "in-progress", "disabled"]}),
        );
        properties.insert(
            "next".into(),
            json!({"anyOf": [{"$ref": format!("#/components/schemas/entity{next}")}, {"type": "object", "nullable": true}]}),
        );
        properties.insert(
            "others".into(),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/entity{other}")}}),
        );
        properties.insert("@odata.type".into(), json!({"type": "string"}));
        schemas.insert(
            format!("entity{i}"),
            json!({"allOf": [{"$ref": "#/components/schemas/base"},
                             {"type": "object", "title": format!("entity{i}"), "properties": properties}]}),
        );
        let reference = json!({"$ref": format!("#/components/schemas/entity{i}")});
        let ok = |schema: Value| {
            json!({"200": {"description": "Success", "content": {"application/json": {"schema": schema}}},
                   "default": {"$ref": "#/components/responses/error"}})
        };
        let params = json!([{"name": format!("entity{i}-id"), "in": "path", "required": true,
                             "schema": {"type": "string"}, "description": "key"}]);
        paths.insert(
            format!("/entities{i}"),
            json!({
                "get": {"operationId": format!("entities{i}.List"), "summary": "List entities",
                        "parameters": [{"name": "$top", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                                       {"name": "$filter", "in": "query", "schema": {"type": "string"}}],
                        "responses": ok(json!({"type": "object", "properties": {
                            "value": {"type": "array", "items": reference.clone()},
                            "@odata.nextLink": {"type": "string", "nullable": true}}}))},
                "post": {"operationId": format!("entities{i}.Create"),
                         "requestBody": {"required": true, "content": {"application/json": {"schema": reference.clone()}}},
                         "responses": ok(reference.clone())}
            }),
        );
        paths.insert(
            format!("/entities{i}/{{entity{i}-id}}"),
            json!({
                "parameters": params,
                "get": {"operationId": format!("entities{i}.Get"), "responses": ok(reference.clone())},
                "patch": {"operationId": format!("entities{i}.Update"),
                          "requestBody": {"content": {"application/json": {"schema": reference.clone()}}},
                          "responses": {"204": {"description": "Success"}}}
            }),
        );
    }
    schemas.insert("base".into(), json!({"type": "object", "properties": {"createdDateTime": {"type": "string", "format": "date-time"}}}));
    let spec = json!({
        "openapi": "3.0.4",
        "info": {"title": "synthetic", "version": "1"},
        "servers": [{"url": "http://127.0.0.1:8080/v1.0"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {"error": {"description": "error", "content": {"application/json": {"schema":
                {"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}}}}}}}}}
        }
    });
    serde_json::to_string_pretty(&spec).unwrap_or_default()
}

fn generate(text: &str) -> usize {
    let ingested = ingest(text, &NoExternalRefs, &OpenApiOptions::new("api"));
    ingested
        .catalog
        .map_or(0, |c| schema_gen::emit::sdl(&c).len())
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("gen_openapi");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(1));
    let text = synthetic_spec(6000);
    eprintln!("synthetic spec: {:.1} MB", text.len() as f64 / 1e6);
    group.bench_function("synthetic_50mb", |b| b.iter(|| generate(black_box(&text))));
    if let Some(dir) = std::env::var_os("GRAFT_REAL_SPECS") {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            group.bench_function(name, |b| b.iter(|| generate(black_box(&text))));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(file) = std::env::var_os("GRAFT_GEN_ONCE") {
        let started = std::time::Instant::now();
        let text = if file == "synthetic" {
            synthetic_spec(6000)
        } else {
            std::fs::read_to_string(&file).unwrap_or_default()
        };
        let read = started.elapsed();
        let ingested = ingest(&text, &NoExternalRefs, &OpenApiOptions::new("api"));
        let ingest_time = started.elapsed() - read;
        let sdl = ingested
            .catalog
            .as_ref()
            .map(schema_gen::emit::sdl)
            .unwrap_or_default();
        let emit_time = started.elapsed() - read - ingest_time;
        eprintln!(
            "{}: {:.1} MB in, {:.1} MB SDL out; read {read:?}, ingest {ingest_time:?}, emit {emit_time:?}",
            file.to_string_lossy(),
            text.len() as f64 / 1e6,
            sdl.len() as f64 / 1e6
        );
        if let Some(out) = std::env::var_os("GRAFT_GEN_OUT") {
            let _ = std::fs::write(out, &sdl);
        }
        let mut by_code = std::collections::BTreeMap::new();
        for d in &ingested.diagnostics {
            *by_code.entry(d.code.as_str()).or_insert(0) += 1;
        }
        eprintln!("diagnostics: {by_code:?}");
        for d in ingested.diagnostics.iter().take(12) {
            eprintln!("  {d}");
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
