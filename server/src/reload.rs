//! Reload: discovered sources → describe → compile → merge → build → atomic swap.
//!
//! The [`Reloader`] runs for the life of `graft serve --discover`. On every inventory change
//! (debounced) it describes the Services that are new or changed; every `refresh_ms` it
//! describes them all again, so a spec changed upstream shows up. Each description is
//! compiled on its own (ingest, field prefix, emit, parse), then merged in the order the
//! sources were created with the static files and the `GraphQLSchema` resources:
//!
//! - a source that fails to describe keeps its last good version (`stale` in `/readyz`);
//! - a source whose name, root field or type is already claimed is left out (`rejected`),
//!   the first claimant keeps it;
//! - a resource or source that does not merge is left out with its diagnostics;
//! - a graph that fails to build never replaces the one being served.
//!
//! The new gateway is swapped in with one atomic store: requests in flight finish on the old
//! one, later requests see the new one, none is dropped. Changes that remove or alter schema
//! elements are logged and counted (`graft_schema_breaking_changes_total`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::upstream::http::{FetchOptions, fetch_spec_with};
use futures::StreamExt;
use schema_gen::catalog::{Catalog, TypeKind};
use schema_gen::diff::breaking_changes;
use schema_gen::ingest::Ingested;
use schema_gen::ingest::grpc::GrpcOptions;
use schema_gen::ingest::openapi::{NoExternalRefs, OpenApiOptions};
use schema_gen::parse::{SdlFile, parse_files};
use tokio::sync::watch;

use crate::app::AppState;
use crate::discovery::annotations::{DiscoveredSource, ObjectKey, SourceKind};
use crate::discovery::{
    BuildReport, DiscoveryReport, Inventory, SchemaReport, ServiceReport, SourceStatus, metric,
};

/// Events closer together than this are applied as one reload.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How long the first reload waits for the watches' initial listing.
const INITIAL_SYNC: Duration = Duration::from_secs(10);
/// Largest spec a discovered Service may serve.
const MAX_SPEC_BYTES: u64 = 20 * 1024 * 1024;
/// Describes running at once (each is one spec fetch or reflection session).
const MAX_CONCURRENT_DESCRIBES: usize = 8;
/// Diagnostics quoted in one report message.
const QUOTED_DIAGNOSTICS: usize = 3;

/// Keeps the served graph in step with the inventory.
pub struct Reloader {
    state: Arc<AppState>,
    static_files: Vec<SdlFile>,
    described: HashMap<ObjectKey, Described>,
    /// The catalog of the graph being served.
    served: Option<Catalog>,
    last_breaking: Vec<String>,
    /// What was left out at the last reload, with why (to log each reason once).
    left_out: HashMap<String, String>,
}

/// What is known about one discovered Service.
struct Described {
    source: DiscoveredSource,
    good: Option<Compiled>,
    /// The last describe's failure, while it lasts.
    error: Option<String>,
}

/// A source described and compiled on its own.
#[derive(Clone)]
struct Compiled {
    file: SdlFile,
    /// Root fields (`Query.pets`) and non-scalar type names it defines.
    claims: Vec<String>,
    at: SystemTime,
    /// Hash of the spec text it was compiled from (REST), to skip recompiling an unchanged
    /// spec on every refresh.
    spec_hash: Option<u64>,
}

impl Reloader {
    /// `static_files` are served in every graph (checked by the caller).
    pub fn new(state: Arc<AppState>, static_files: Vec<SdlFile>) -> Self {
        Reloader {
            state,
            static_files,
            described: HashMap::new(),
            served: None,
            last_breaking: Vec::new(),
            left_out: HashMap::new(),
        }
    }

    /// Reloads on every inventory change and every refresh period, until the task is aborted.
    pub async fn run(mut self, mut inventory: watch::Receiver<Inventory>) {
        let refresh = self.state.config.discovery.refresh();
        if tokio::time::timeout(INITIAL_SYNC, inventory.wait_for(|i| i.synced))
            .await
            .is_err()
        {
            tracing::warn!(
                "the Kubernetes watches have not listed within {INITIAL_SYNC:?}; serving what is known so far"
            );
        }
        let snapshot = inventory.borrow_and_update().clone();
        self.reload(&snapshot, false).await;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + refresh, refresh);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watching = true;
        loop {
            let redescribe_all = tokio::select! {
                changed = inventory.changed(), if watching => {
                    if changed.is_err() {
                        // The watches are gone (shutdown); keep refreshing what is known.
                        watching = false;
                        continue;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    false
                }
                _ = ticker.tick() => true,
            };
            let snapshot = inventory.borrow_and_update().clone();
            self.reload(&snapshot, redescribe_all).await;
        }
    }

    /// One pass: describe what needs it, merge, build and swap when the graph changed.
    pub async fn reload(&mut self, inventory: &Inventory, redescribe_all: bool) {
        let timeout = self.state.config.discovery.describe_timeout();
        let current: HashMap<&ObjectKey, &DiscoveredSource> = inventory
            .services
            .iter()
            .filter_map(|c| c.found.as_ref().ok().map(|s| (&c.service, s)))
            .collect();
        self.described
            .retain(|key, d| current.get(key).is_some_and(|s| **s == d.source));

        let todo: Vec<DiscoveredSource> = current
            .values()
            .filter(|s| redescribe_all || !self.described.contains_key(&s.service))
            .map(|s| (*s).clone())
            .collect();
        let previous = |s: &DiscoveredSource| {
            self.described
                .get(&s.service)
                .and_then(|d| d.good.as_ref())
                .and_then(|g| g.spec_hash)
        };
        let jobs: Vec<(DiscoveredSource, Option<u64>)> =
            todo.iter().map(|s| (s.clone(), previous(s))).collect();
        let results: Vec<Result<Option<Compiled>, String>> = futures::stream::iter(jobs)
            .map(move |(source, hash)| async move { describe(source, timeout, hash).await })
            .buffered(MAX_CONCURRENT_DESCRIBES)
            .collect()
            .await;
        for (source, result) in todo.into_iter().zip(results) {
            let entry = self
                .described
                .entry(source.service.clone())
                .or_insert_with(|| Described {
                    source: source.clone(),
                    good: None,
                    error: None,
                });
            match result {
                Ok(compiled) => {
                    if entry.error.take().is_some() {
                        tracing::info!(service = %source.service, "discovered source described again");
                    }
                    // `None`: the spec is unchanged, the compiled version stands.
                    if let Some(compiled) = compiled {
                        entry.good = Some(compiled);
                    }
                }
                Err(message) => {
                    metrics::counter!(metric::DESCRIBE_FAILURES, "service" => source.service.to_string()).increment(1);
                    if entry.error.as_deref() != Some(message.as_str()) {
                        let kept = if entry.good.is_some() {
                            "keeping its last good version"
                        } else {
                            "left out of the graph"
                        };
                        tracing::warn!(service = %source.service, source = %source.source_name, "cannot describe discovered source ({kept}): {message}");
                    }
                    entry.error = Some(message);
                }
            }
        }

        let (files, mut report) = self.compose(inventory);
        report.watch_problems = inventory.watch_problems.clone();
        let checked = parse_files(&files);
        let ok = |breaking: &[String]| BuildReport {
            status: "ok",
            message: None,
            last_breaking_changes: breaking.to_vec(),
        };
        match checked.catalog {
            None => {
                // Only reachable with nothing to serve: every part was checked while composing.
                let message = if files.is_empty() {
                    "nothing to serve: no static files and no usable discovered source".to_string()
                } else {
                    quote(&checked.diagnostics)
                };
                if self.served.take().is_some() {
                    tracing::warn!("{message}; the graph is unloaded");
                    self.state.graph.store(None);
                }
                report.build = BuildReport {
                    status: "error",
                    message: Some(message),
                    last_breaking_changes: self.last_breaking.clone(),
                };
                metrics::counter!(metric::RELOADS, "outcome" => "build_error").increment(1);
            }
            Some(catalog) if self.served.as_ref() == Some(&catalog) => {
                report.build = ok(&self.last_breaking);
                metrics::counter!(metric::RELOADS, "outcome" => "unchanged").increment(1);
            }
            Some(catalog) => {
                let built = match crate::commands::serve::build(catalog.clone(), &self.state) {
                    Ok(loaded) => Ok((catalog, loaded)),
                    Err(message) => {
                        tracing::warn!(
                            "the merged schema does not build ({message}); looking for the parts that break it"
                        );
                        self.build_leaving_out(&files, &mut report).ok_or(message)
                    }
                };
                match built {
                    Ok((catalog, _)) if self.served.as_ref() == Some(&catalog) => {
                        report.build = ok(&self.last_breaking);
                        metrics::counter!(metric::RELOADS, "outcome" => "unchanged").increment(1);
                    }
                    Ok((catalog, loaded)) => {
                        if let Some(old) = &self.served {
                            let changes = breaking_changes(old, &catalog);
                            for change in &changes {
                                tracing::warn!(change = change.kind, at = %change.at, "breaking schema change: {change}");
                                metrics::counter!(metric::BREAKING_CHANGES, "change" => change.kind).increment(1);
                            }
                            if !changes.is_empty() {
                                self.last_breaking =
                                    changes.iter().map(ToString::to_string).collect();
                            }
                        }
                        self.state.swap(loaded);
                        tracing::info!(
                            sources = catalog.sources.len(),
                            types = catalog.types.len(),
                            "schema reloaded"
                        );
                        self.served = Some(catalog);
                        report.build = ok(&self.last_breaking);
                        metrics::counter!(metric::RELOADS, "outcome" => "swapped").increment(1);
                    }
                    Err(message) => {
                        tracing::error!(
                            "the reloaded schema does not build; still serving the previous one: {message}"
                        );
                        report.build = BuildReport {
                            status: "error",
                            message: Some(message),
                            last_breaking_changes: self.last_breaking.clone(),
                        };
                        metrics::counter!(metric::RELOADS, "outcome" => "build_error").increment(1);
                    }
                }
            }
        }
        self.log_left_out(&report);
        record_gauges(&report);
        self.state.discovery.store(Some(Arc::new(report)));
    }

    /// The files of the next graph and the report of every Service and resource: static
    /// files first, then each usable source, then each resource, in creation order, leaving
    /// out whatever collides or does not merge.
    fn compose(&self, inventory: &Inventory) -> (Vec<SdlFile>, DiscoveryReport) {
        let mut report = DiscoveryReport::default();
        let mut files = self.static_files.clone();
        // Names and root fields / types already taken, with who took them.
        let mut owners: HashMap<String, String> = HashMap::new();
        if let Some(static_catalog) = parse_files(&files).catalog {
            for name in static_catalog.sources.keys() {
                owners.insert(format!("source {name}"), "the static schema files".into());
            }
            for claim in claims(&static_catalog) {
                owners.insert(claim, "the static schema files".into());
            }
        }
        let mut accepted: Vec<(usize, SdlFile)> = Vec::new();
        for candidate in &inventory.services {
            let mut entry = ServiceReport {
                service: candidate.service.to_string(),
                source: None,
                transport: None,
                status: SourceStatus::Rejected,
                message: None,
                described_at_unix: None,
            };
            let source = match &candidate.found {
                Ok(source) => source,
                Err(error) => {
                    entry.message = Some(format!("malformed annotations: {error}"));
                    report.services.push(entry);
                    continue;
                }
            };
            entry.source = Some(source.source_name.clone());
            entry.transport = Some(source.kind.keyword());
            let Some(described) = self.described.get(&source.service) else {
                entry.status = SourceStatus::Failed;
                entry.message = Some("not described yet".into());
                report.services.push(entry);
                continue;
            };
            entry.message = described.error.clone();
            let Some(good) = &described.good else {
                entry.status = SourceStatus::Failed;
                report.services.push(entry);
                continue;
            };
            entry.described_at_unix = good.at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
            let name_claim = format!("source {}", source.source_name);
            let taken: Vec<String> = std::iter::once(&name_claim)
                .chain(good.claims.iter())
                .filter_map(|claim| {
                    owners
                        .get(claim)
                        .map(|owner| format!("{claim} is already claimed by {owner}"))
                })
                .collect();
            if !taken.is_empty() {
                let more = if taken.len() > QUOTED_DIAGNOSTICS {
                    format!(" (and {} more)", taken.len() - QUOTED_DIAGNOSTICS)
                } else {
                    String::new()
                };
                let message = format!(
                    "left out: {}{more}; set graft.dev/source-name or graft.dev/field-prefix to tell them apart",
                    taken
                        .iter()
                        .take(QUOTED_DIAGNOSTICS)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                entry.message = Some(message);
                report.services.push(entry);
                continue;
            }
            for claim in std::iter::once(name_claim).chain(good.claims.iter().cloned()) {
                owners.insert(claim, format!("Service {}", source.service));
            }
            entry.status = if described.error.is_some() {
                SourceStatus::Stale
            } else {
                SourceStatus::Ok
            };
            accepted.push((report.services.len(), good.file.clone()));
            report.services.push(entry);
        }

        // The usual case: everything merges at once. Otherwise add one part at a time and
        // leave out those that do not merge, so one bad part never takes the rest down.
        let schema_files: Vec<SdlFile> = inventory
            .schemas
            .iter()
            .map(|s| SdlFile::new(format!("graphqlschema/{}", s.key), s.sdl.clone()))
            .collect();
        let all: Vec<SdlFile> = files
            .iter()
            .cloned()
            .chain(accepted.iter().map(|(_, f)| f.clone()))
            .chain(schema_files.iter().cloned())
            .collect();
        let merged_at_once = parse_files(&all).catalog.is_some();
        // Why `file` does not merge with the parts kept so far (never asked when everything
        // merged at once, so the usual case copies no files).
        let refusal = |kept: &[SdlFile], file: &SdlFile| -> Option<String> {
            if merged_at_once {
                return None;
            }
            let mut trial = kept.to_vec();
            trial.push(file.clone());
            let checked = parse_files(&trial);
            checked
                .catalog
                .is_none()
                .then(|| quote(&checked.diagnostics))
        };
        for (index, file) in accepted {
            match refusal(&files, &file) {
                Some(why) => {
                    if let Some(entry) = report.services.get_mut(index) {
                        entry.status = SourceStatus::Rejected;
                        entry.message = Some(format!("left out: it does not merge: {why}"));
                    }
                }
                None => files.push(file),
            }
        }
        for (resource, file) in inventory.schemas.iter().zip(schema_files) {
            let entry = match refusal(&files, &file) {
                Some(message) => SchemaReport {
                    resource: resource.key.to_string(),
                    status: "rejected",
                    message: Some(message),
                },
                None => {
                    files.push(file);
                    SchemaReport {
                        resource: resource.key.to_string(),
                        status: "merged",
                        message: None,
                    }
                }
            };
            report.schemas.push(entry);
        }
        (files, report)
    }

    /// When the merged graph parses but does not build (say a resource's template names an
    /// unset `{{env.X}}`): builds again from the static files, adding the discovered sources
    /// and resources one at a time and leaving out each one the graph does not build with.
    /// `None` when even the static files do not build. Rare, so a build per part is fine.
    fn build_leaving_out(
        &self,
        files: &[SdlFile],
        report: &mut DiscoveryReport,
    ) -> Option<(Catalog, crate::app::Loaded)> {
        let try_build = |files: &[SdlFile]| -> Result<(Catalog, crate::app::Loaded), String> {
            let checked = parse_files(files);
            let catalog = checked.catalog.ok_or_else(|| quote(&checked.diagnostics))?;
            let loaded = crate::commands::serve::build(catalog.clone(), &self.state)?;
            Ok((catalog, loaded))
        };
        let statics = self.static_files.len().min(files.len());
        let (fixed, parts) = files.split_at(statics);
        let mut kept = fixed.to_vec();
        let mut last = if kept.is_empty() {
            None
        } else {
            Some(try_build(&kept).ok()?)
        };
        for part in parts {
            kept.push(part.clone());
            match try_build(&kept) {
                Ok(built) => last = Some(built),
                Err(message) => {
                    kept.pop();
                    let message = format!("left out: the graph does not build with it: {message}");
                    if let Some(key) = part.path.strip_prefix("service/") {
                        if let Some(entry) = report.services.iter_mut().find(|s| s.service == key) {
                            entry.status = SourceStatus::Rejected;
                            entry.message = Some(message);
                        }
                    } else if let Some(key) = part.path.strip_prefix("graphqlschema/")
                        && let Some(entry) = report.schemas.iter_mut().find(|s| s.resource == key)
                    {
                        entry.status = "rejected";
                        entry.message = Some(message);
                    }
                }
            }
        }
        last
    }

    /// Logs each Service or resource that is left out, once per distinct reason (reloads
    /// repeat every refresh period; the logs should not).
    fn log_left_out(&mut self, report: &DiscoveryReport) {
        let mut now = HashMap::new();
        let services = report
            .services
            .iter()
            .filter(|s| s.status == SourceStatus::Rejected)
            .map(|s| (format!("Service {}", s.service), &s.message));
        let schemas = report
            .schemas
            .iter()
            .filter(|s| s.status == "rejected")
            .map(|s| (format!("GraphQLSchema {}", s.resource), &s.message));
        for (what, message) in services.chain(schemas) {
            let message = message.clone().unwrap_or_default();
            if self.left_out.get(&what) != Some(&message) {
                tracing::warn!(object = %what, "left out of the graph: {message}");
            }
            now.insert(what, message);
        }
        for what in self.left_out.keys().filter(|k| !now.contains_key(*k)) {
            tracing::info!(object = %what, "no longer left out (fixed or removed)");
        }
        self.left_out = now;
    }
}

/// Describes one source and compiles it on its own into an SDL file; `Ok(None)` when the
/// spec text hashes to `previous` (nothing to recompile). Compiling is CPU work (a large spec
/// takes a while), so it runs off the async workers that serve requests.
async fn describe(
    source: DiscoveredSource,
    timeout: Duration,
    previous: Option<u64>,
) -> Result<Option<Compiled>, String> {
    let compiled = match &source.kind {
        SourceKind::Rest { base_url, spec_url } => {
            let options = FetchOptions {
                timeout,
                max_bytes: MAX_SPEC_BYTES,
            };
            let text = fetch_spec_with(spec_url, &options)
                .await
                .map_err(|e| e.to_string())?;
            let hash = text_hash(&text);
            if previous == Some(hash) {
                return Ok(None);
            }
            let options = OpenApiOptions::new(source.source_name.clone())
                .with_base_url(base_url.clone())
                .with_location(spec_url.clone());
            tokio::task::spawn_blocking(move || {
                let ingested =
                    schema_gen::ingest::openapi::ingest(&text, &NoExternalRefs, &options);
                compile(&source, ingested).map(|c| Compiled {
                    spec_hash: Some(hash),
                    ..c
                })
            })
            .await
            .map_err(|e| format!("compiling the spec failed: {e}"))?
        }
        SourceKind::Grpc { endpoint } => {
            let pool = engine::upstream::grpc::describe(endpoint, timeout)
                .await
                .map_err(|e| e.to_string())?;
            let ingested = schema_gen::ingest::grpc::ingest(
                &pool,
                &GrpcOptions::new(source.source_name.clone(), endpoint.clone()),
            );
            // Calls use the descriptors just read, not a copy cached before a redeploy.
            engine::upstream::grpc::register_descriptors(endpoint, pool);
            compile(&source, ingested)
        }
    };
    compiled.map(Some)
}

fn text_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Checks, prefixes and emits an ingested source, then parses it alone so that a source
/// that cannot stand on its own is reported as its own failure.
fn compile(source: &DiscoveredSource, ingested: Ingested) -> Result<Compiled, String> {
    let Some(catalog) = ingested.catalog else {
        return Err(format!(
            "the spec is unusable: {}",
            quote(&ingested.diagnostics)
        ));
    };
    if catalog.sources.len() != 1 || !catalog.sources.contains_key(&source.source_name) {
        return Err(format!(
            "the compiled spec does not define exactly the source `{}`",
            source.source_name
        ));
    }
    let catalog = match &source.field_prefix {
        Some(prefix) => schema_gen::transform::prefix(catalog, prefix),
        None => catalog,
    };
    let sdl = schema_gen::emit::sdl(&catalog);
    if let Some(var) = env_template(&sdl) {
        return Err(format!(
            "the spec uses the template `{{{{{var}}}}}`; discovered sources may not read graft's environment"
        ));
    }
    let file = SdlFile::new(format!("service/{}", source.service), sdl);
    let checked = parse_files(std::slice::from_ref(&file));
    let catalog = checked.catalog.ok_or_else(|| {
        format!(
            "the compiled schema is invalid: {}",
            quote(&checked.diagnostics)
        )
    })?;
    Ok(Compiled {
        file,
        claims: claims(&catalog),
        at: SystemTime::now(),
        spec_hash: None,
    })
}

/// The first `{{env...}}` template in an SDL text: a Service's spec must not make graft send
/// its own environment (credentials) upstream.
fn env_template(sdl: &str) -> Option<String> {
    let mut rest = sdl;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let var = after[..end].trim();
        if var == "env" || var.starts_with("env.") || var.starts_with("env[") {
            return Some(var.to_string());
        }
        rest = &after[end..];
    }
    None
}

/// What a compiled source claims in the merged graph: its root fields and its types other
/// than the roots and scalars (equal scalars merge harmlessly).
fn claims(catalog: &Catalog) -> Vec<String> {
    let roots = [
        Some(&catalog.roots.query),
        catalog.roots.mutation.as_ref(),
        catalog.roots.subscription.as_ref(),
    ];
    let roots: HashSet<&String> = roots.into_iter().flatten().collect();
    let mut claims = Vec::new();
    for def in catalog.types.values() {
        match &def.kind {
            TypeKind::Object(object) if roots.contains(&def.name) => {
                claims.extend(
                    object
                        .fields
                        .keys()
                        .map(|field| format!("field {}.{field}", def.name)),
                );
            }
            TypeKind::Scalar => {}
            _ => claims.push(format!("type {}", def.name)),
        }
    }
    claims
}

fn quote(diagnostics: &[schema_gen::Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(QUOTED_DIAGNOSTICS)
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        "no usable schema".to_string()
    } else {
        errors.join("; ")
    }
}

fn record_gauges(report: &DiscoveryReport) {
    for status in [
        SourceStatus::Ok,
        SourceStatus::Stale,
        SourceStatus::Failed,
        SourceStatus::Rejected,
    ] {
        let count = report
            .services
            .iter()
            .filter(|s| s.status == status)
            .count();
        metrics::gauge!(metric::SOURCES, "status" => status.as_str()).set(count as f64);
    }
    for status in ["merged", "rejected"] {
        let count = report.schemas.iter().filter(|s| s.status == status).count();
        metrics::gauge!(metric::SCHEMAS, "status" => status).set(count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_templates_are_found_wherever_they_are() {
        assert_eq!(
            env_template(r#"@rest(path: "/a/{{ env.SECRET }}")"#).as_deref(),
            Some("env.SECRET")
        );
        assert_eq!(
            env_template(r#"@rest(path: "/a/{{args.id}}/{{parent.x}}")"#),
            None
        );
        assert_eq!(env_template("{{"), None);
    }
}
