//! Kubernetes watches: kube-rs reflectors over labelled Services and `GraphQLSchema`
//! resources, in all namespaces or a configured list, published as an [`Inventory`].
//!
//! One watcher per (resource, namespace scope) feeds a reflector store. After every event the
//! stores are read into a fresh inventory, published on a `tokio::sync::watch` channel only
//! when it differs from the last one. Watch errors (RBAC denied, CRD missing, API server
//! down) are retried with backoff by the watcher; meanwhile they are logged, counted and
//! listed in the inventory, and the stores keep their last contents, so the graph keeps
//! serving what it had. The label selector is sent with every request and checked again
//! here, because some API servers (and test fakes) ignore it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher as watch_stream;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::annotations::{self, ObjectKey};
use super::crd::GraphQLSchema;
use super::{Candidate, Inventory, KubernetesConfig, SchemaResource, WatchProblem, metric};

const SERVICES: &str = "services";
const SCHEMAS: &str = "graphqlschemas";
const ALL_NAMESPACES: &str = "all namespaces";

/// Running watches; dropping this stops them.
pub struct Watches {
    inventory: watch::Receiver<Inventory>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watches {
    /// A receiver of the inventory, marked changed whenever it changes.
    pub fn subscribe(&self) -> watch::Receiver<Inventory> {
        self.inventory.clone()
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Identifies one watch: (resource, namespace scope).
type WatchId = (&'static str, String);

/// What every watch task shares: the stores' readers and the per-watch health.
struct Shared {
    services: Vec<Store<Service>>,
    schemas: Vec<Store<GraphQLSchema>>,
    health: Mutex<BTreeMap<WatchId, Health>>,
    sender: watch::Sender<Inventory>,
}

#[derive(Debug, Clone, PartialEq)]
enum Health {
    /// Not listed yet.
    Starting,
    Listed,
    Failing(WatchProblem),
}

/// Starts watching Services (label `graft.dev/discover=true`) and GraphQLSchema resources in
/// `config.namespaces` (all when empty). Must be called inside a tokio runtime.
pub fn start(client: Client, config: &KubernetesConfig) -> Watches {
    let mut scopes: Vec<Option<String>> = config
        .namespaces
        .iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .map(Some)
        .collect();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        scopes.push(None);
    }
    let scope_name =
        |scope: &Option<String>| scope.clone().unwrap_or_else(|| ALL_NAMESPACES.to_string());

    let mut service_writers = Vec::new();
    let mut schema_writers = Vec::new();
    let mut health = BTreeMap::new();
    let (mut services, mut schemas) = (Vec::new(), Vec::new());
    for scope in &scopes {
        let (reader, writer) = reflector::store::<Service>();
        services.push(reader);
        service_writers.push((scope.clone(), writer));
        let (reader, writer) = reflector::store::<GraphQLSchema>();
        schemas.push(reader);
        schema_writers.push((scope.clone(), writer));
        health.insert((SERVICES, scope_name(scope)), Health::Starting);
        health.insert((SCHEMAS, scope_name(scope)), Health::Starting);
    }
    let (sender, inventory) = watch::channel(Inventory::default());
    let shared = Arc::new(Shared {
        services,
        schemas,
        health: Mutex::new(health),
        sender,
    });

    let mut tasks = Vec::new();
    for (scope, writer) in service_writers {
        let api: Api<Service> = api_for(&client, scope.as_deref());
        let config = watcher::Config::default().labels(annotations::DISCOVER_SELECTOR);
        let id = (SERVICES, scope_name(&scope));
        tasks.push(tokio::spawn(run_watch(
            api,
            config,
            writer,
            Arc::clone(&shared),
            id,
        )));
    }
    for (scope, writer) in schema_writers {
        let api: Api<GraphQLSchema> = api_for(&client, scope.as_deref());
        let id = (SCHEMAS, scope_name(&scope));
        tasks.push(tokio::spawn(run_watch(
            api,
            watcher::Config::default(),
            writer,
            Arc::clone(&shared),
            id,
        )));
    }
    Watches { inventory, tasks }
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Retries quickly at first so that an API server restart is noticed well within the 30 s
/// the graph has to follow the cluster, doubling up to 10 s while it stays down; any
/// successful event starts over. (kube's own exponential backoff has no public constructor
/// with other bounds, and its default waits up to 30 s.)
#[derive(Debug, Clone)]
struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(10);

    fn new() -> Self {
        RetryBackoff { next: Self::FIRST }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(wait)
    }
}

/// Runs one watch for the life of the process. After any error the watcher is started
/// afresh (a new list, which replaces the store when it completes) rather than resumed from
/// the last resource version: an API server that restarted with different contents, or a
/// fake that ignores resource versions, would otherwise never report what went away.
async fn run_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    mut writer: reflector::store::Writer<K>,
    shared: Arc<Shared>,
    id: WatchId,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Default + Eq + std::hash::Hash,
{
    let mut backoff = RetryBackoff::new();
    loop {
        let mut stream = std::pin::pin!(watch_stream(api.clone(), config.clone()));
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    writer.apply_watcher_event(&event);
                    backoff.reset();
                    // Mid-listing (Init, InitApply) the store is not replaced until InitDone.
                    if matches!(event, Event::InitDone | Event::Apply(_) | Event::Delete(_)) {
                        shared.set_health(&id, Health::Listed);
                        shared.publish();
                    }
                }
                Err(error) => {
                    shared.set_health(&id, Health::Failing(problem(id.0, &id.1, &error)));
                    shared.publish();
                    break;
                }
            }
        }
        tokio::time::sleep(backoff.next().unwrap_or(RetryBackoff::MAX)).await;
    }
}

/// A watcher error as a problem for logs, metrics and `/readyz`.
fn problem(resource: &'static str, scope: &str, error: &watcher::Error) -> WatchProblem {
    let api_error = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        },
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::NoResourceVersion => None,
    };
    let unreachable = matches!(
        error,
        watcher::Error::InitialListFailed(kube::Error::HyperError(_) | kube::Error::Service(_))
            | watcher::Error::WatchStartFailed(
                kube::Error::HyperError(_) | kube::Error::Service(_)
            )
            | watcher::Error::WatchFailed(kube::Error::HyperError(_) | kube::Error::Service(_))
    );
    let (reason, hint) = match api_error {
        Some(403) => (
            "forbidden",
            format!(
                " (graft's ServiceAccount needs get/list/watch on {resource}; see k8s/base/rbac.yaml)"
            ),
        ),
        Some(404) if resource == SCHEMAS => (
            "not_found",
            " (is the GraphQLSchema CRD installed? k8s/base/crd-graphqlschema.yaml)".to_string(),
        ),
        Some(404) => ("not_found", String::new()),
        _ if unreachable => ("unreachable", String::new()),
        _ => ("other", String::new()),
    };
    WatchProblem {
        resource,
        scope: scope.to_string(),
        reason,
        message: format!("{error}{hint}"),
    }
}

impl Shared {
    fn set_health(&self, id: &WatchId, health: Health) {
        let Ok(mut map) = self.health.lock() else {
            return;
        };
        let previous = map.insert(id.clone(), health.clone());
        match (&previous, &health) {
            (_, Health::Failing(problem)) => {
                metrics::counter!(metric::WATCH_ERRORS, "resource" => problem.resource, "reason" => problem.reason).increment(1);
                // The watcher retries with backoff; log each distinct failure once.
                if !matches!(&previous, Some(Health::Failing(p)) if p.message == problem.message) {
                    tracing::warn!(resource = problem.resource, scope = %problem.scope, reason = problem.reason, "discovery watch failing: {}", problem.message);
                }
            }
            (Some(Health::Failing(_)), Health::Listed) => {
                tracing::info!(resource = id.0, scope = %id.1, "discovery watch recovered");
            }
            _ => {}
        }
    }

    /// Reads the stores into an inventory and publishes it when it changed.
    fn publish(&self) {
        let inventory = self.inventory();
        self.sender.send_if_modified(|current| {
            if *current == inventory {
                false
            } else {
                *current = inventory;
                true
            }
        });
    }

    fn inventory(&self) -> Inventory {
        let (synced, watch_problems) = match self.health.lock() {
            Ok(map) => (
                map.values().all(|h| !matches!(h, Health::Starting)),
                map.values()
                    .filter_map(|h| match h {
                        Health::Failing(problem) => Some(problem.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            Err(_) => (false, Vec::new()),
        };
        let mut services: Vec<(Option<Time>, Candidate)> = self
            .services
            .iter()
            .flat_map(|store| store.state())
            .filter(|service| annotations::is_discoverable(service))
            .filter_map(|service| {
                let key = annotations::service_key(&service)?;
                Some((
                    service.metadata.creation_timestamp.clone(),
                    Candidate {
                        service: key,
                        found: annotations::discover(&service),
                    },
                ))
            })
            .collect();
        services.sort_by(|a, b| (&a.0, &a.1.service).cmp(&(&b.0, &b.1.service)));
        services.dedup_by(|a, b| a.1.service == b.1.service);
        let mut schemas: Vec<(Option<Time>, SchemaResource)> = self
            .schemas
            .iter()
            .flat_map(|store| store.state())
            .filter_map(|resource| {
                let key = ObjectKey {
                    namespace: resource.namespace()?,
                    name: resource.name_any(),
                };
                Some((
                    resource.metadata.creation_timestamp.clone(),
                    SchemaResource {
                        key,
                        sdl: resource.spec.sdl.clone(),
                    },
                ))
            })
            .collect();
        schemas.sort_by(|a, b| (&a.0, &a.1.key).cmp(&(&b.0, &b.1.key)));
        schemas.dedup_by(|a, b| a.1.key == b.1.key);
        Inventory {
            synced,
            services: services.into_iter().map(|(_, c)| c).collect(),
            schemas: schemas.into_iter().map(|(_, s)| s).collect(),
            watch_problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    use super::*;

    fn status(code: u16, reason: &str) -> Response<Body> {
        let body = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "message": format!("{reason} by the test"), "reason": reason, "code": code});
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap()
    }

    fn list(items: serde_json::Value) -> Response<Body> {
        let body = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "7"}, "items": items});
        Response::builder()
            .status(200)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap()
    }

    fn service(name: &str, label: Option<&str>) -> serde_json::Value {
        let labels = label
            .map(|v| json!({"graft.dev/discover": v}))
            .unwrap_or(json!({}));
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": "shop", "resourceVersion": "5", "labels": labels,
                            "annotations": {"graft.dev/openapi": "/openapi.json"}},
               "spec": {"ports": [{"name": "http", "port": 8080}]}})
    }

    async fn wait_for(
        rx: &mut watch::Receiver<Inventory>,
        what: &str,
        check: impl Fn(&Inventory) -> bool,
    ) -> Inventory {
        let found = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|i| check(i)))
            .await
            .map(|r| r.map(|i| i.clone()));
        match found {
            Ok(Ok(inventory)) => inventory,
            _ => panic!(
                "timed out waiting for {what}; last inventory: {:?}",
                *rx.borrow()
            ),
        }
    }

    /// Answers the mocked API server: Services are forbidden until `allow` is set, the CRD is
    /// missing, and watches hang (as an idle watch does).
    async fn api_server(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
        allow: Arc<std::sync::atomic::AtomicBool>,
        selectors: Arc<Mutex<Vec<String>>>,
    ) {
        let mut hanging = Vec::new();
        while let Some((request, respond)) = handle.next_request().await {
            let uri = request.uri().clone();
            let query = uri.query().unwrap_or_default().to_string();
            if uri.path() == "/api/v1/services"
                && let Ok(mut seen) = selectors.lock()
            {
                seen.push(query.clone());
            }
            if query.contains("watch=true") {
                hanging.push(respond);
                continue;
            }
            let response = match uri.path() {
                "/api/v1/services" if allow.load(std::sync::atomic::Ordering::SeqCst) => {
                    // This fake ignores the label selector, like some real ones.
                    list(json!([
                        service("labelled", Some("true")),
                        service("unlabelled", None),
                        service("opted-out", Some("false"))
                    ]))
                }
                "/api/v1/services" => status(403, "Forbidden"),
                _ => status(404, "NotFound"),
            };
            respond.send_response(response);
        }
    }

    #[tokio::test]
    async fn a_forbidden_list_is_reported_and_discovery_recovers_when_access_is_granted() {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let allow = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let selectors = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(api_server(
            handle,
            Arc::clone(&allow),
            Arc::clone(&selectors),
        ));

        let watches = start(client, &KubernetesConfig::default());
        let mut rx = watches.subscribe();
        let denied = wait_for(&mut rx, "both watches to fail", |i| {
            i.synced && i.watch_problems.len() == 2
        })
        .await;
        let reasons: Vec<_> = denied
            .watch_problems
            .iter()
            .map(|p| (p.resource, p.reason))
            .collect();
        assert!(reasons.contains(&(SERVICES, "forbidden")), "{reasons:?}");
        assert!(reasons.contains(&(SCHEMAS, "not_found")), "{reasons:?}");
        let forbidden = denied
            .watch_problems
            .iter()
            .find(|p| p.resource == SERVICES)
            .unwrap();
        assert!(
            forbidden.message.contains("rbac.yaml"),
            "{}",
            forbidden.message
        );
        assert!(denied.services.is_empty());

        allow.store(true, std::sync::atomic::Ordering::SeqCst);
        let granted = wait_for(&mut rx, "the services watch to recover", |i| {
            !i.services.is_empty()
        })
        .await;
        let names: Vec<_> = granted
            .services
            .iter()
            .map(|c| c.service.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["labelled"],
            "Services without the label are filtered even when the API server ignores the selector"
        );
        assert!(granted.services[0].found.is_ok());
        assert!(
            granted.watch_problems.iter().all(|p| p.resource == SCHEMAS),
            "{:?}",
            granted.watch_problems
        );
        let seen = selectors.lock().unwrap().clone();
        assert!(
            seen.iter()
                .all(|q| q.contains("labelSelector=graft.dev%2Fdiscover%3Dtrue")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn configured_namespaces_are_watched_one_by_one() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let config = KubernetesConfig {
            namespaces: vec!["shop".into(), "billing".into(), "shop".into()],
        };
        let _watches = start(client, &config);
        let mut paths = Vec::new();
        for _ in 0..4 {
            let Some((request, respond)) =
                tokio::time::timeout(Duration::from_secs(10), handle.next_request())
                    .await
                    .unwrap()
            else {
                break;
            };
            paths.push(request.uri().path().to_string());
            respond.send_response(status(404, "NotFound"));
        }
        paths.sort();
        assert_eq!(
            paths,
            [
                "/api/v1/namespaces/billing/services",
                "/api/v1/namespaces/shop/services",
                "/apis/graft.dev/v1alpha1/namespaces/billing/graphqlschemas",
                "/apis/graft.dev/v1alpha1/namespaces/shop/graphqlschemas",
            ]
        );
    }
}
