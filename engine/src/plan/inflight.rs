//! Identical in-flight work shared by key, across requests: the first caller drives the work
//! inside its own task and later callers wait for its result.
//!
//! Driving it in the caller's task, rather than spawning it, sends the upstream request in
//! the same poll that found the work new; a spawned task would wait its turn behind every
//! client connection ready at that moment. Waiters are woken once, when the result is set (a
//! `futures::Shared` polled by every waiter would wake them all on each I/O event). When the
//! driver is dropped (its client went away, its deadline passed) or panics, a waiter takes
//! the work over, and the key leaves the table so that later callers start afresh.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

/// In-flight work by key.
pub struct InFlight<K, T> {
    /// Seeded foldhash: keys carry client input, and SipHash cost a measured share of a
    /// request that joins shared work.
    map: Mutex<HashMap<K, Arc<OnceCell<T>>, foldhash::fast::RandomState>>,
}

impl<K, T> Default for InFlight<K, T> {
    fn default() -> Self {
        InFlight {
            map: Mutex::new(HashMap::default()),
        }
    }
}

impl<K, T> fmt::Debug for InFlight<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        write!(f, "InFlight({len} keys)")
    }
}

impl<K: Eq + Hash + Clone, T: Clone> InFlight<K, T> {
    /// The result of `work` for `key`: run here, or awaited from the caller already running it.
    pub async fn share<F: Future<Output = T>>(&self, key: K, work: impl FnOnce() -> F) -> T {
        let cell = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked up before inserting: most callers join, and need no copy of the key.
            match map.get(&key) {
                Some(cell) => Arc::clone(cell),
                None => Arc::clone(map.entry(key.clone()).or_default()),
            }
        };
        cell.get_or_init(|| async {
            let _leave = Leave {
                table: self,
                key,
                cell: &cell,
            };
            work().await
        })
        .await
        .clone()
    }
}

/// Takes the work's key out of the table when its driver finishes, fails or is dropped,
/// unless the key already names newer work.
struct Leave<'a, K: Eq + Hash, T> {
    table: &'a InFlight<K, T>,
    key: K,
    cell: &'a Arc<OnceCell<T>>,
}

impl<K: Eq + Hash, T> Drop for Leave<'_, K, T> {
    fn drop(&mut self) {
        let mut map = self
            .table
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell))
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn callers_of_one_key_share_one_run_and_a_dropped_driver_is_taken_over() {
        let table: Arc<InFlight<&str, usize>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let work = |runs: Arc<AtomicUsize>| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            runs.fetch_add(1, Ordering::SeqCst) + 1
        };
        let calls = (0..5).map(|_| table.share("a", || work(Arc::clone(&runs))));
        let results = futures::future::join_all(calls).await;
        assert_eq!(results, vec![1; 5]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(format!("{table:?}"), "InFlight(0 keys)", "done work leaves");

        // The driver gives up (its deadline passes) while another caller waits: the waiter
        // runs the work itself and gets a result.
        let driver = tokio::time::timeout(
            Duration::from_millis(10),
            table.share("b", || work(Arc::clone(&runs))),
        );
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            table.share("b", || work(Arc::clone(&runs))).await
        };
        let (driven, waited) = tokio::join!(driver, waiter);
        assert!(driven.is_err());
        assert_eq!(waited, 2);
        assert_eq!(format!("{table:?}"), "InFlight(0 keys)");
    }
}
