//! Identical in-flight work shared by key, across requests: the first caller drives the work
//! inside its own task and later callers wait for its result.
//!
//! Driving it in the caller's task, rather than spawning it, sends the upstream request in
//! the same poll that found the work new; a spawned task would wait its turn behind every
//! client connection ready at that moment. Waiters are woken once, when the result is set (a
//! `futures::Shared` polled by every waiter would wake them all on each I/O event).
//!
//! When the driver goes away (its client disconnected, its deadline passed) while others
//! wait, the work is not dropped with it: it is handed to a task of its own, whose result the
//! next waiter adopts, so the upstream is not called twice. Only a driver that panicked, or
//! a handed-off task that did, leaves a waiter to run the work afresh. Either way the key
//! leaves the table with its driver, so later callers start afresh.
//!
//! A [gathering](InFlight::gathering) table's driver whose work others joined yields to the
//! scheduler once when the work is done, before it publishes the result and leaves the
//! table. Tokio runs a yielded task after its next I/O poll, so requests that have reached
//! the server by then (their bytes in the socket, the work's answer already on its way) join
//! the finished work instead of starting it again. Work nobody joined is published at once:
//! it is not in demand, and under load the pass would only delay its caller; so a caller
//! alone never waits for the pass. On a busy server it saves a whole execution per wave: on
//! the kit's Q1 a shared execution served ~35 of the 50 connections' requests without it,
//! all 50 with it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::{OnceCell, oneshot};

/// In-flight work by key.
pub struct InFlight<K, T> {
    /// Seeded foldhash: keys carry client input, and SipHash cost a measured share of a
    /// request that joins shared work.
    map: Mutex<HashMap<K, Arc<Entry<T>>, foldhash::fast::RandomState>>,
    /// Whether a driver yields once before publishing (see the module doc).
    gather: bool,
}

/// One key's work: its result once set, the work a departed driver handed off, and whether
/// another caller has joined it.
struct Entry<T> {
    cell: OnceCell<T>,
    handed_off: Mutex<Option<oneshot::Receiver<T>>>,
    joined: Arc<AtomicBool>,
}

impl<T> Default for Entry<T> {
    fn default() -> Self {
        Entry {
            cell: OnceCell::new(),
            handed_off: Mutex::new(None),
            joined: Arc::default(),
        }
    }
}

impl<K, T> Default for InFlight<K, T> {
    fn default() -> Self {
        InFlight {
            map: Mutex::new(HashMap::default()),
            gather: false,
        }
    }
}

impl<K, T> InFlight<K, T> {
    /// A table whose finished work waits one scheduler pass for more callers before it
    /// publishes its result.
    pub fn gathering() -> Self {
        InFlight {
            gather: true,
            ..InFlight::default()
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

impl<K: Eq + Hash + Clone, T: Clone + Send + 'static> InFlight<K, T> {
    /// The result of `work` for `key`: run here, or awaited from the caller already running it.
    pub async fn share<F>(&self, key: K, work: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let entry = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked up before inserting: most callers join, and need no copy of the key.
            match map.get(&key) {
                Some(entry) => {
                    entry.joined.store(true, Ordering::Relaxed);
                    Arc::clone(entry)
                }
                None => Arc::clone(map.entry(key.clone()).or_default()),
            }
        };
        entry
            .cell
            .get_or_init(|| async {
                let leave = Leave {
                    table: self,
                    key,
                    entry: &entry,
                };
                if let Some(result) = (Adopt { entry: &entry }).await {
                    return result;
                }
                let work = work();
                let work: Pin<Box<dyn Future<Output = T> + Send>> = if self.gather {
                    // The flag, not the entry: the entry's strong count is how a departing
                    // driver tells whether anyone waits (`Drive::drop`).
                    let joined = Arc::clone(&entry.joined);
                    Box::pin(async move {
                        let result = work.await;
                        if joined.load(Ordering::Relaxed) {
                            tokio::task::yield_now().await;
                        }
                        result
                    })
                } else {
                    Box::pin(work)
                };
                Drive {
                    work: Some(work),
                    leave: &leave,
                }
                .await
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
    entry: &'a Arc<Entry<T>>,
}

impl<K: Eq + Hash, T> Leave<'_, K, T> {
    /// Whether the table still names this work under its key.
    fn in_table(&self) -> bool {
        let map = self
            .table
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&self.key)
            .is_some_and(|e| Arc::ptr_eq(e, self.entry))
    }
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
            .is_some_and(|e| Arc::ptr_eq(e, self.entry))
        {
            map.remove(&self.key);
        }
    }
}

/// Runs the work; dropped before it finishes while others wait, hands it to a task.
struct Drive<'a, K: Eq + Hash, T: Send + 'static> {
    work: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    leave: &'a Leave<'a, K, T>,
}

impl<K: Eq + Hash, T: Send + 'static> Future for Drive<'_, K, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(work) = self.work.as_mut() else {
            return Poll::Pending;
        };
        let result = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(result)
    }
}

impl<K: Eq + Hash, T: Send + 'static> Drop for Drive<'_, K, T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Work that panicked is not polled again.
        if std::thread::panicking() {
            return;
        }
        // This driver and (until its `Leave` runs) the table hold the entry; any further
        // holder is a waiter.
        let entry = self.leave.entry;
        let holders = 1 + usize::from(self.leave.in_table());
        if Arc::strong_count(entry) <= holders {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (done, result) = oneshot::channel();
        *entry
            .handed_off
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(result);
        runtime.spawn(async move {
            // Nobody may be left to take it; then the result is dropped.
            let _ = done.send(work.await);
        });
    }
}

/// Awaits the result of work a departed driver handed off, if any: `None` when there is
/// none or its task failed. Dropped while waiting, it leaves the work for the next waiter.
struct Adopt<'a, T> {
    entry: &'a Arc<Entry<T>>,
}

impl<T> Future for Adopt<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut handed_off = self
            .entry
            .handed_off
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(result) = handed_off.as_mut() else {
            return Poll::Ready(None);
        };
        let result = std::task::ready!(Pin::new(result).poll(cx)).ok();
        *handed_off = None;
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn callers_of_one_key_share_one_run() {
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
    }

    #[tokio::test]
    async fn a_gathering_table_lets_callers_of_the_finishing_pass_join_work_in_demand() {
        for (table, runs_expected) in [(InFlight::gathering(), 1), (InFlight::default(), 2)] {
            let table: Arc<InFlight<&str, usize>> = Arc::new(table);
            let runs = Arc::new(AtomicUsize::new(0));
            let (release, released) = oneshot::channel::<()>();
            let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
            let caller = || {
                let (table, runs, released) =
                    (Arc::clone(&table), Arc::clone(&runs), Arc::clone(&released));
                tokio::spawn(async move {
                    table
                        .share("g", || async move {
                            let wait = released.lock().await.take();
                            if let Some(wait) = wait {
                                let _ = wait.await;
                            }
                            runs.fetch_add(1, Ordering::SeqCst) + 1
                        })
                        .await
                })
            };
            // A driver waits for its answer, and a second caller joins it.
            let (first, second) = (caller(), caller());
            tokio::task::yield_now().await;
            // The answer arrives, and a third caller in the same scheduler pass: it runs after
            // the driver has finished the work. A plain table has published and forgotten
            // the work by then; a gathering one waits one pass, so the third caller joins.
            release.send(()).unwrap();
            let third = caller();
            let answers = [first, second, third].map(|c| async { c.await.unwrap() });
            let answers = futures::future::join_all(answers).await;
            assert_eq!(runs.load(Ordering::SeqCst), runs_expected);
            assert_eq!(answers, [1, 1, runs_expected]);
            assert_eq!(format!("{table:?}"), "InFlight(0 keys)");
        }
    }

    #[tokio::test]
    async fn a_gathering_table_publishes_work_nobody_joined_at_once() {
        // Two callers scheduled together, for work done at once: the first finishes it before
        // the second runs, and with nobody waiting it does not hold the result back.
        let table: Arc<InFlight<&str, usize>> = Arc::new(InFlight::gathering());
        let runs = Arc::new(AtomicUsize::new(0));
        let caller = || {
            let (table, runs) = (Arc::clone(&table), Arc::clone(&runs));
            tokio::spawn(async move {
                table
                    .share(
                        "h",
                        || async move { runs.fetch_add(1, Ordering::SeqCst) + 1 },
                    )
                    .await
            })
        };
        let (first, second) = (caller(), caller());
        assert_eq!((first.await.unwrap(), second.await.unwrap()), (1, 2));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// Work that answers `id` after 50 ms, counting how often it finished.
    fn tagged(id: usize, done: &Arc<AtomicUsize>) -> impl Future<Output = usize> + use<> {
        let done = Arc::clone(done);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.fetch_add(1, Ordering::SeqCst);
            id
        }
    }

    #[tokio::test]
    async fn a_driver_that_goes_away_hands_its_work_to_the_waiters() {
        let table: InFlight<&str, usize> = InFlight::default();
        let done = Arc::new(AtomicUsize::new(0));
        // The driver gives up (its deadline passes) while two callers wait, one of which
        // gives up too: the driver's own work finishes for the one left, and runs once.
        let driver = tokio::time::timeout(
            Duration::from_millis(10),
            table.share("b", || tagged(1, &done)),
        );
        let quitter = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            tokio::time::timeout(
                Duration::from_millis(20),
                table.share("b", || tagged(2, &done)),
            )
            .await
        };
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            table.share("b", || tagged(3, &done)).await
        };
        let (driven, quit, waited) = tokio::join!(driver, quitter, waiter);
        assert!(driven.is_err() && quit.is_err());
        assert_eq!(waited, 1, "the driver's work, not a new one");
        assert_eq!(done.load(Ordering::SeqCst), 1);
        assert_eq!(format!("{table:?}"), "InFlight(0 keys)");

        // Nobody waits: the work is dropped with its driver, not finished in the background,
        // in a gathering table too (whose work holds the joined flag, not the entry).
        let gathering: InFlight<&str, usize> = InFlight::gathering();
        for table in [&table, &gathering] {
            let alone = tokio::time::timeout(
                Duration::from_millis(10),
                table.share("c", || tagged(4, &done)),
            );
            assert!(alone.await.is_err());
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_driver_that_panics_leaves_a_waiter_to_run_the_work_afresh() {
        let table: Arc<InFlight<&str, usize>> = Arc::default();
        let done = Arc::new(AtomicUsize::new(0));
        let panicking = {
            let table = Arc::clone(&table);
            tokio::spawn(async move {
                table
                    .share("d", || async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        panic!("deliberate");
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let waited = table.share("d", || tagged(5, &done)).await;
        assert!(panicking.await.is_err());
        assert_eq!(waited, 5);
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    /// Handed-off work that panics leaves the next waiter to run the work itself; when that
    /// waiter goes away in turn, its work is handed off like a first driver's.
    #[tokio::test]
    async fn a_waiter_that_took_over_hands_its_work_off_too() {
        let table: InFlight<&str, usize> = InFlight::default();
        let done = Arc::new(AtomicUsize::new(0));
        let ms = Duration::from_millis;
        let driver = tokio::time::timeout(
            ms(10),
            table.share("e", || async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                panic!("deliberate");
            }),
        );
        let second = async {
            tokio::time::sleep(ms(1)).await;
            tokio::time::timeout(ms(45), table.share("e", || tagged(2, &done))).await
        };
        let third = async {
            tokio::time::sleep(ms(2)).await;
            table.share("e", || tagged(3, &done)).await
        };
        let (driven, second, third) = tokio::join!(driver, second, third);
        assert!(driven.is_err() && second.is_err());
        assert_eq!(
            third, 2,
            "the second caller's work, handed off when it went away"
        );
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
