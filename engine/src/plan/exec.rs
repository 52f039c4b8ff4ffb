//! Executing a plan's upstream calls, level by level.
//!
//! A round takes every call node instance of one level (node × parent value), renders them,
//! runs each distinct request once (per-request dedupe), turns batched links into
//! ⌈keys / maxSize⌉ calls, and descends into the answers to find the next level's calls.
//! Answers stay shared (`Arc<Fetched>`, a tape or a `Value`, read through
//! [`crate::decoded::Val`]): results are recorded by (node id, parent address) and the writer
//! (`write.rs`) reads them in place.
//!
//! Below the per-request layer every read goes through the response cache (when the field
//! caches: `cacheTtl` or the source's `httpCache`; the TTL is [`crate::cache::ttl`]) and
//! the cross-request in-flight table (when the source allows dedupe).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::parser::types::OperationDefinition;
use async_graphql::{Name, Value as GqlValue, Variables};
use futures::future::BoxFuture;
use futures::{FutureExt, future};
use http::HeaderMap;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::PreparedField;
use super::compile::{CallNode, FieldSource, Plan, Selection, Sub};
use crate::cache::{self, ResponseCache};
use crate::decoded::{Decoded, Val};
use crate::error::{ErrorKind, UpstreamError};
use crate::resolve::Wire;
use crate::upstream::{self, CallInput, Rendered, SendContext, value_text};

/// One upstream answer as every sharer sees it.
#[derive(Debug)]
pub struct Fetched {
    pub value: Decoded,
    /// Response headers the source passes back (already filtered by the transport).
    pub headers: HeaderMap,
}

pub type FetchResult = Result<Arc<Fetched>, UpstreamError>;
/// What the executor shares across requests.
#[derive(Debug)]
pub struct Common {
    /// Identical in-flight upstream reads across all requests of one gateway.
    pub in_flight: Arc<super::inflight::InFlight<String, FetchResult>>,
    pub cache: ResponseCache,
    pub dedupe_requests: bool,
    pub max_calls: usize,
    pub wire: Wire,
}

/// How one (node, parent) was resolved.
#[derive(Debug, Clone)]
pub enum Resolved {
    Value(Arc<Fetched>),
    /// Item `index` of a batch answer's list of items (at this path in the answer).
    Item(Arc<Fetched>, Arc<[String]>, usize),
    /// Null without an error (a link whose parent key is null).
    Null,
    Error(UpstreamError),
}

impl Resolved {
    /// The value, as the executor and the writer read it.
    pub fn view(&self) -> Option<Val<'_>> {
        match self {
            Resolved::Value(f) => Some(f.value.view()),
            Resolved::Item(f, path, spot) => f.value.item(path, *spot),
            Resolved::Null | Resolved::Error(_) => None,
        }
    }
}

/// Resolved calls by (node id, parent address). Keys are numbers graft makes, not client
/// input, so a fast non-keyed hash is fine.
pub type Results = rustc_hash::FxHashMap<(usize, usize), Resolved>;

/// Address of a parent value, identifying it while the answers holding it are alive.
pub fn addr(parent: Option<Val<'_>>) -> usize {
    parent.map_or(0, Val::addr)
}

/// One call node instance waiting for its round.
struct Pending<'p, 'v> {
    node: &'p CallNode,
    sub: &'p Sub,
    parent: Option<Val<'v>>,
}

/// How a pending instance gets its value from the round's jobs.
enum Assign {
    Whole(usize),
    /// The index of the parent's key among its node's batch keys.
    Batch(usize),
    Done(Resolved),
}

/// A batched node's distinct parent keys in first-seen order: (key text, key value), and
/// each key text's index.
#[derive(Default)]
struct BatchKeys {
    keys: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl BatchKeys {
    fn add(&mut self, text: String, value: Cow<'_, Value>) -> usize {
        if let Some(&i) = self.index.get(&text) {
            return i;
        }
        self.keys.push((text.clone(), value.into_owned()));
        self.index.insert(text, self.keys.len() - 1);
        self.keys.len() - 1
    }
}

/// Where a batch chunk's answer is: a job of this round, or an answer this request already
/// had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Job(usize),
    Ready(usize),
}

impl Slot {
    fn pick<'a>(
        self,
        answers: &'a [FetchResult],
        ready: &'a [FetchResult],
    ) -> Option<&'a FetchResult> {
        match self {
            Slot::Job(i) => answers.get(i),
            Slot::Ready(i) => ready.get(i),
        }
    }
}

/// A distinct request of the round.
struct Job {
    rendered: Box<dyn Rendered>,
    field: Arc<PreparedField>,
    /// Whether the call was counted against the request's budget when added. A read the
    /// shared tier may answer is counted only when the shared tier misses (in `fetch`).
    counted: bool,
}

/// Per-request execution state.
pub struct Run<'p> {
    pub shared: &'p Common,
    pub plan: &'p Plan,
    pub headers: &'p HeaderMap,
    pub request_id: Arc<str>,
    pub variables: &'p Variables,
    pub operation: &'p OperationDefinition,
    pub results: Results,
    pub response_headers: HeaderMap,
    /// Answers of calls already made in this request, by request key.
    done: HashMap<String, FetchResult>,
    /// Wire arguments per call node, computed on first use.
    args: HashMap<usize, Result<Arc<Map<String, Value>>, UpstreamError>>,
    /// Upstream calls counted against `max_upstream_calls`; the round's fetches count too.
    calls: AtomicUsize,
}

impl<'p> Run<'p> {
    pub fn new(
        shared: &'p Common,
        plan: &'p Plan,
        headers: &'p HeaderMap,
        request_id: Arc<str>,
        variables: &'p Variables,
        operation: &'p OperationDefinition,
    ) -> Self {
        Run {
            shared,
            plan,
            headers,
            request_id,
            variables,
            operation,
            results: Results::default(),
            response_headers: HeaderMap::new(),
            done: HashMap::new(),
            args: HashMap::new(),
            calls: AtomicUsize::new(0),
        }
    }

    /// Runs every call of the plan.
    pub async fn fetch_all(&mut self) {
        let mut pending = Vec::new();
        collect(&self.plan.root, None, &self.shared.wire, &mut pending);
        if self.plan.serial {
            // Mutations: root fields one after another, each with its whole subtree.
            for one in pending {
                round(self, vec![one]).await;
            }
        } else {
            round(self, pending).await;
        }
    }

    fn variable(&self, name: &str) -> Option<GqlValue> {
        let def = self
            .operation
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == name)?;
        self.variables
            .get(&def.node.name.node)
            .or_else(|| def.node.default_value())
            .cloned()
    }

    /// The node's arguments in wire spelling (GraphQL names as keys).
    fn wire_args(&mut self, node: &CallNode) -> Result<Arc<Map<String, Value>>, UpstreamError> {
        if let Some(done) = self.args.get(&node.id) {
            return done.clone();
        }
        let source = node.field.invoke.source_name();
        let mut map = Map::with_capacity(node.field.args.len());
        let mut failed = None;
        for (name, ty, default) in &node.field.args {
            let given = node.args.iter().find(|(n, _)| n.as_str() == name);
            let json = match given {
                Some((_, value)) => {
                    let constant = value.clone().into_const_with(|var: Name| {
                        self.variable(&var)
                            .ok_or_else(|| format!("Variable {var} is not defined."))
                    });
                    match constant.map(|c| c.into_json().map_err(|e| e.to_string())) {
                        Ok(Ok(json)) => Some(json),
                        Ok(Err(e)) | Err(e) => {
                            failed = Some(UpstreamError::new(ErrorKind::InvalidRequest, source, e));
                            break;
                        }
                    }
                }
                None => default.clone(),
            };
            if let Some(json) = json {
                map.insert(name.clone(), self.shared.wire.input(json, ty));
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None => Ok(Arc::new(map)),
        };
        self.args.insert(node.id, result.clone());
        result
    }

    /// Renders one call of `node` for `parent`.
    fn render(
        &mut self,
        node: &CallNode,
        parent: Option<Val<'_>>,
        batch_keys: Option<Vec<Value>>,
    ) -> Result<Box<dyn Rendered>, UpstreamError> {
        let args = self.wire_args(node)?;
        let field = &node.field;
        if let (Some(batch), Some(keys)) = (&field.batch, batch_keys) {
            let mut batch_args = Map::with_capacity(1);
            batch_args.insert("keys".to_string(), Value::Array(keys));
            let input = CallInput {
                args: &batch_args,
                wire_args: &batch_args,
                parent: None,
                headers: self.headers,
                projection: node.batch_projection.as_ref(),
            };
            return batch.invoke.render(&input);
        }
        let wire_args = upstream::wire_args(&args, &field.renamed_args);
        let input = CallInput {
            args: &args,
            wire_args: &wire_args,
            parent,
            headers: self.headers,
            projection: node.projection.as_ref(),
        };
        field.invoke.render(&input)
    }

    /// Takes in an upstream answer: its passed-back headers join the response's, and a read's
    /// answer (`key`) is remembered for identical requests later in this request.
    fn answered(&mut self, key: Option<String>, answer: &FetchResult) {
        if let Ok(fetched) = answer {
            for (name, value) in &fetched.headers {
                self.response_headers.append(name.clone(), value.clone());
            }
        }
        if let Some(key) = key {
            self.done.insert(key, answer.clone());
        }
    }
}

/// Counts one upstream call of a request against its limit of `max` (`calls` so far).
fn count_call(calls: &AtomicUsize, max: usize, source: &str) -> Result<(), UpstreamError> {
    if calls.fetch_add(1, Ordering::Relaxed) >= max {
        return Err(UpstreamError::new(
            ErrorKind::CallLimit,
            source,
            format!("this request reached its limit of {max} upstream calls"),
        ));
    }
    Ok(())
}

/// The key text of a value for matching batch items to parents. A float with an integral
/// value is spelled as the integer (`1.0` and `1` are the same key).
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64()?;
            // Exactly representable integers only (|f| < 2^53).
            Some(if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                (f as i64).to_string()
            } else {
                n.to_string()
            })
        }
        other => Some(value_text(other).into_owned()),
    }
}

/// Walks `value` through `selection` and records the call nodes it reaches.
fn collect<'p, 'v>(
    selection: &'p Selection,
    parent: Option<Val<'v>>,
    wire: &Wire,
    out: &mut Vec<Pending<'p, 'v>>,
) {
    for field in &selection.fields {
        match &field.source {
            FieldSource::Call(node) => out.push(Pending {
                node,
                sub: &field.sub,
                parent,
            }),
            FieldSource::Property(property) => {
                if matches!(field.sub, Sub::Leaf) {
                    continue;
                }
                if let Some(child) = parent.and_then(|p| p.property(property)) {
                    descend(&field.sub, field.ty.base(), child, wire, out);
                }
            }
            FieldSource::Typename(_) | FieldSource::Null | FieldSource::Introspection => {}
        }
    }
}

/// Finds the calls below one field's value (lists of any depth, objects, union members).
fn descend<'p, 'v>(
    sub: &'p Sub,
    type_name: &str,
    value: Val<'v>,
    wire: &Wire,
    out: &mut Vec<Pending<'p, 'v>>,
) {
    if let Some(items) = value.items() {
        for item in items {
            descend(sub, type_name, item, wire, out);
        }
    } else if value.is_object() {
        let selection = match sub {
            Sub::Union(_) => wire
                .union_member(type_name, &value.to_json())
                .ok()
                .and_then(|m| sub.for_member(m)),
            _ => sub.for_member(type_name),
        };
        if let Some(selection) = selection {
            collect(selection, Some(value), wire, out);
        }
    }
}

/// One level of calls, then (recursively) the levels below it.
fn round<'r, 'p: 'r>(run: &'r mut Run<'p>, pending: Vec<Pending<'p, 'r>>) -> BoxFuture<'r, ()> {
    async move {
        if pending.is_empty() {
            return;
        }
        let mut jobs: Vec<Job> = Vec::new();
        let mut job_by_key: HashMap<String, usize> = HashMap::new();
        let mut assigns: Vec<Assign> = Vec::with_capacity(pending.len());
        // Batched links: keys per node (by node id), in first-seen order, deduplicated.
        let mut batches: FxHashMap<usize, BatchKeys> = FxHashMap::default();
        for p in &pending {
            if let Some(batch) = &p.node.field.batch {
                let key = p
                    .parent
                    .and_then(|parent| parent.at_path(&batch.parent_key));
                match key
                    .map(Val::to_json)
                    .and_then(|k| key_text(&k).map(|t| (t, k)))
                {
                    None => assigns.push(Assign::Done(Resolved::Null)),
                    Some((text, value)) => {
                        let keys = batches.entry(p.node.id).or_default();
                        assigns.push(Assign::Batch(keys.add(text, value)));
                    }
                }
                continue;
            }
            let rendered = run.render(p.node, p.parent, None);
            let assign = match rendered {
                Err(e) => Assign::Done(Resolved::Error(e)),
                Ok(rendered) => add_job(run, &mut jobs, &mut job_by_key, rendered, &p.node.field),
            };
            assigns.push(assign);
        }
        // Render the batch calls: ⌈keys / maxSize⌉ per node; remember which job answers each
        // chunk (the slot of key `i` is chunk `i / maxSize`'s).
        let mut chunk_slots: FxHashMap<usize, Vec<Option<Slot>>> = FxHashMap::default();
        let mut ready: Vec<FetchResult> = Vec::new();
        let mut batch_errors: FxHashMap<usize, UpstreamError> = FxHashMap::default();
        for p in &pending {
            let Some(batch) = &p.node.field.batch else {
                continue;
            };
            let Some(keys) = batches.get(&p.node.id) else {
                continue;
            };
            if chunk_slots.contains_key(&p.node.id) {
                continue;
            }
            let slots = chunk_slots.entry(p.node.id).or_default();
            for chunk in keys.keys.chunks(batch.max_size) {
                slots.push(None);
                let values = chunk.iter().map(|(_, v)| v.clone()).collect();
                match run.render(p.node, None, Some(values)) {
                    Err(e) => {
                        batch_errors.insert(p.node.id, e);
                    }
                    Ok(rendered) => {
                        let assign =
                            add_job(run, &mut jobs, &mut job_by_key, rendered, &p.node.field);
                        let slot = match assign {
                            Assign::Whole(job) => Slot::Job(job),
                            // Already answered earlier in this request.
                            Assign::Done(Resolved::Value(fetched)) => {
                                ready.push(Ok(fetched));
                                Slot::Ready(ready.len() - 1)
                            }
                            Assign::Done(Resolved::Error(e)) => {
                                batch_errors.insert(p.node.id, e);
                                continue;
                            }
                            Assign::Done(_) | Assign::Batch(_) => continue,
                        };
                        if let Some(last) = slots.last_mut() {
                            *last = Some(slot);
                        }
                    }
                }
            }
        }
        let shared = run.shared;
        let request_id = Arc::clone(&run.request_id);
        let calls = &run.calls;
        let keys: Vec<Option<String>> = jobs
            .iter()
            .map(|j| {
                j.field
                    .invoke
                    .is_read()
                    .then(|| j.rendered.key().to_string())
            })
            .collect();
        let answers: Vec<FetchResult> = if run.plan.serial {
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs.drain(..) {
                out.push(fetch(shared, job, &request_id, calls).await);
            }
            out
        } else {
            future::join_all(
                jobs.drain(..)
                    .map(|job| fetch(shared, job, &request_id, calls)),
            )
            .await
        };
        for (key, answer) in keys.into_iter().zip(&answers) {
            run.answered(key, answer);
        }
        // Index batch answers: key text → item index (the first item with a key wins).
        let mut indexes: FxHashMap<Slot, HashMap<String, usize>> = FxHashMap::default();
        let mut resolved_here: Vec<Resolved> = Vec::with_capacity(pending.len());
        for (p, assign) in pending.iter().zip(assigns) {
            let resolved = match assign {
                Assign::Done(r) => r,
                Assign::Whole(job) => match answers.get(job) {
                    Some(Ok(f)) => Resolved::Value(Arc::clone(f)),
                    Some(Err(e)) => Resolved::Error(e.clone()),
                    None => Resolved::Null,
                },
                Assign::Batch(key) => {
                    let source = p.node.field.invoke.source_name();
                    let max_size = p.node.field.batch.as_ref().map_or(1, |b| b.max_size.max(1));
                    let slot = chunk_slots
                        .get(&p.node.id)
                        .and_then(|slots| slots.get(key / max_size).copied().flatten());
                    let text = batches
                        .get(&p.node.id)
                        .and_then(|keys| keys.keys.get(key))
                        .map_or("", |(text, _)| text.as_str());
                    match slot {
                        None => Resolved::Error(
                            batch_errors.get(&p.node.id).cloned().unwrap_or_else(|| {
                                UpstreamError::new(
                                    ErrorKind::InvalidRequest,
                                    source,
                                    "the batch call could not be rendered",
                                )
                            }),
                        ),
                        Some(slot) => match slot.pick(&answers, &ready) {
                            Some(Ok(fetched)) => match &p.node.field.batch {
                                Some(batch) => {
                                    let index = indexes
                                        .entry(slot)
                                        .or_insert_with(|| index_items(&fetched.value, batch));
                                    match index.get(text) {
                                        Some(&i) => Resolved::Item(
                                            Arc::clone(fetched),
                                            Arc::clone(&batch.items),
                                            i,
                                        ),
                                        None => Resolved::Error(missing_item(
                                            source,
                                            &fetched.value,
                                            batch,
                                            text,
                                        )),
                                    }
                                }
                                None => Resolved::Null,
                            },
                            Some(Err(e)) => Resolved::Error(e.clone()),
                            None => Resolved::Null,
                        },
                    }
                }
            };
            run.results
                .insert((p.node.id, addr(p.parent)), resolved.clone());
            resolved_here.push(resolved);
        }
        // Descend into this round's answers for the next level; `resolved_here` (owned by
        // this frame) keeps them alive while the next rounds borrow them.
        let mut next: Vec<Pending<'p, '_>> = Vec::new();
        for (p, resolved) in pending.iter().zip(&resolved_here) {
            if !p.node.calls_below {
                continue;
            }
            if let Some(value) = resolved.view() {
                descend(p.sub, field_type_of(p), value, &run.shared.wire, &mut next);
            }
        }
        // The same parent reached twice (a batch item shared by several posts) resolves once.
        next.sort_by_key(|n| (n.node.id, addr(n.parent)));
        next.dedup_by_key(|n| (n.node.id, addr(n.parent)));
        round(run, next).await;
    }
    .boxed()
}

fn field_type_of<'p>(p: &Pending<'p, '_>) -> &'p str {
    p.node.field.type_name.as_str()
}

/// The list of items in a batch answer: the list at `path` (empty: the answer itself).
/// A batch answer's items by key text (the first item with a key wins), each as the spot
/// [`Decoded::item`] reaches it by.
fn index_items(answer: &Decoded, batch: &upstream::BatchInvoke) -> HashMap<String, usize> {
    let mut index = HashMap::new();
    for (spot, item) in answer.items_at(&batch.items).into_iter().flatten() {
        let key = item.property(&batch.item_key).map(Val::to_json);
        if let Some(text) = key.as_deref().and_then(key_text) {
            index.entry(text).or_insert(spot);
        }
    }
    index
}

fn missing_item(
    source: &str,
    answer: &Decoded,
    batch: &upstream::BatchInvoke,
    key: &str,
) -> UpstreamError {
    let item_key = &batch.item_key;
    let message = match answer.items_at(&batch.items) {
        Some(_) => {
            format!("the batch answer of `{source}` has no item whose `{item_key}` is `{key}`")
        }
        None if batch.items.is_empty() => format!("the batch answer of `{source}` is not a list"),
        None => format!(
            "the batch answer of `{source}` has no list at `{}`",
            batch.items.join(".")
        ),
    };
    UpstreamError::new(ErrorKind::InvalidResponse, source, message)
}

/// Adds a rendered request to the round unless an identical read is already part of it.
fn add_job(
    run: &mut Run<'_>,
    jobs: &mut Vec<Job>,
    by_key: &mut HashMap<String, usize>,
    rendered: Box<dyn Rendered>,
    field: &Arc<PreparedField>,
) -> Assign {
    let read = field.invoke.is_read();
    if read {
        if let Some(&job) = by_key.get(rendered.key()) {
            return Assign::Whole(job);
        }
        if let Some(done) = run.done.get(rendered.key()) {
            return Assign::Done(match done {
                Ok(f) => Resolved::Value(Arc::clone(f)),
                Err(e) => Resolved::Error(e.clone()),
            });
        }
        // A cached answer is looked up here, before the call budget: it costs no upstream
        // call, so it does not count against `max_upstream_calls`.
        if run.shared.cache.enabled() && caches(field) {
            let hit = run.shared.cache.get(rendered.key());
            field.lookups.record(hit.is_some());
            if let Some(hit) = hit {
                // Not remembered for the request: an identical field without caching
                // still calls the upstream.
                run.answered(None, &Ok(Arc::clone(&hit)));
                return Assign::Done(Resolved::Value(hit));
            }
        }
    }
    // A read the shared tier may answer costs a call only if it misses there (`fetch`).
    let counted = !(read && run.shared.cache.shares() && caches(field) && field.shared_cache);
    if counted
        && let Err(e) = count_call(&run.calls, run.shared.max_calls, field.invoke.source_name())
    {
        return Assign::Done(Resolved::Error(e));
    }
    if read {
        by_key.insert(rendered.key().to_string(), jobs.len());
    }
    jobs.push(Job {
        rendered,
        field: Arc::clone(field),
        counted,
    });
    Assign::Whole(jobs.len() - 1)
}

/// Whether a field's answers may be cached at all (the TTL is decided per answer).
fn caches(field: &PreparedField) -> bool {
    field.cache_ttl.is_some() || field.http_cache
}

/// Sends one request through the cross-request in-flight table and stores cacheable answers.
/// A call not counted yet (a read the shared tier may answer) is looked up there first, for
/// this request alone, and counted against its `calls` only when the shared tier misses: the
/// limit counts calls to upstreams, and a request over it must not fail others that share
/// the call.
async fn fetch(
    shared: &Common,
    job: Job,
    request_id: &Arc<str>,
    calls: &AtomicUsize,
) -> FetchResult {
    // The in-process tier was read when the job was added (`add_job`).
    let Job {
        rendered,
        field,
        counted,
    } = job;
    let read = field.invoke.is_read();
    let cacheable = read && shared.cache.enabled() && caches(&field);
    let cx = SendContext {
        deadline: tokio::time::Instant::now() + field.timeout,
        request_id: Arc::clone(request_id),
    };
    let store = cacheable.then(|| {
        if field.shared_cache {
            shared.cache.clone()
        } else {
            shared.cache.in_process_only()
        }
    });
    if !counted {
        // Boxed: the Redis lookup's future is large, and most calls are not cached.
        if let Some(store) = &store
            && let Some(hit) = Box::pin(store.get_shared(rendered.key())).await
        {
            return Ok(hit);
        }
        count_call(calls, shared.max_calls, field.invoke.source_name())?;
    }
    let prepared = Arc::clone(&field);
    let send = move |rendered: Box<dyn Rendered>, key: String| async move {
        let output = rendered.send(cx).await?;
        let ttl = store
            .as_ref()
            .and_then(|_| cache::ttl(prepared.cache_ttl, prepared.http_cache, &output.freshness));
        let fetched = Arc::new(Fetched {
            value: output.value,
            headers: output.headers,
        });
        if let (Some(store), Some(ttl)) = (store, ttl) {
            store.insert(key, Arc::clone(&fetched), ttl);
        }
        Ok(fetched)
    };
    if !(read && field.shareable && shared.dedupe_requests) {
        let key = if cacheable {
            rendered.key().to_string()
        } else {
            String::new()
        };
        return send(rendered, key).await;
    }
    let key = rendered.key().to_string();
    shared
        .in_flight
        .share(key.clone(), || send(rendered, key))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_keys_match_across_number_spellings_but_not_across_values() {
        let text = |v: Value| key_text(&v);
        assert_eq!(text(json!(1.0)), text(json!(1)));
        assert_eq!(text(json!(-7.0)), Some("-7".to_string()));
        assert_ne!(text(json!(1.5)), text(json!(1)));
        assert_eq!(text(json!("1")), Some("1".to_string()));
        // Beyond 2^53 a float is not an exact integer: it keeps its own spelling.
        assert_eq!(text(json!(1e300)), Some("1e+300".to_string()));
        assert_eq!(text(json!(null)), None);
        assert_eq!(text(json!({"id": 1})), None);
    }

    #[test]
    fn batch_keys_keep_first_seen_order_and_index_duplicates_once() {
        let mut keys = BatchKeys::default();
        let (a, b) = (json!(3), json!(1));
        assert_eq!(keys.add("3".into(), Cow::Borrowed(&a)), 0);
        assert_eq!(keys.add("1".into(), Cow::Borrowed(&b)), 1);
        assert_eq!(keys.add("3".into(), Cow::Borrowed(&a)), 0);
        let texts: Vec<&str> = keys.keys.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["3", "1"]);
    }
}
