//! Source probes behind `/readyz`: every source of the loaded graph is checked periodically,
//! so readiness says whether the graph's upstreams answered at the last check.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use engine::upstream::Probe;
use serde::Serialize;

use crate::app::AppState;

/// One source's state at the last probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceHealth {
    /// `up`, `down` or `unchecked` (a transport that cannot be probed without a call).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The last round of probes.
#[derive(Debug, Clone)]
pub struct Probes {
    pub checked_at: SystemTime,
    pub sources: HashMap<String, SourceHealth>,
}

impl Probes {
    /// True when any source was found down.
    pub fn any_down(&self) -> bool {
        self.sources.values().any(|s| s.status == "down")
    }
}

/// Probes the current graph's sources now and then every `readiness.probe_interval_ms`.
pub fn spawn(state: Arc<AppState>) {
    let interval = Duration::from_millis(state.config.readiness.probe_interval_ms.max(100));
    let timeout = Duration::from_millis(state.config.readiness.probe_timeout_ms.max(1));
    tokio::spawn(async move {
        loop {
            if let Some(loaded) = state.graph.load_full() {
                let env = |name: &str| std::env::var(name).ok();
                let sources = loaded.gateway.catalog().sources.values();
                let probes = sources.map(|source| async {
                    let health = match engine::upstream::probe(source, &env, timeout).await {
                        Probe::Up => SourceHealth {
                            status: "up",
                            detail: None,
                        },
                        Probe::Down(why) => SourceHealth {
                            status: "down",
                            detail: Some(why),
                        },
                        Probe::Unchecked => SourceHealth {
                            status: "unchecked",
                            detail: None,
                        },
                    };
                    (source.name.clone(), health)
                });
                let sources = futures::future::join_all(probes)
                    .await
                    .into_iter()
                    .collect();
                let probes = Probes {
                    checked_at: SystemTime::now(),
                    sources,
                };
                if probes.any_down() {
                    tracing::warn!(down = ?probes.sources.iter().filter(|(_, h)| h.status == "down").map(|(n, _)| n).collect::<Vec<_>>(), "sources did not answer their readiness probe");
                }
                state.probes.store(Some(Arc::new(probes)));
            }
            tokio::time::sleep(interval).await;
        }
    });
}
