//! Timers a connection keeps from one request to the next: one for hyper's header-read
//! timeout, one for the request deadline.
//!
//! A new tokio timer is entered into the runtime's timer wheel on its first poll and taken
//! out again when dropped; a timer tokio already tracks, set to a later deadline, only
//! records the new deadline (and moves in the wheel when the old one comes round). Each
//! request used to start two new timers; on a kept-alive connection both are now the same
//! two timers, set a little later each time (docs/performance.md). A kept timer whose
//! deadline passes while its connection is idle wakes the connection once, for nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A timer kept for reuse. An HTTP/1.1 connection has one request (or one header read) at
/// a time, so one timer serves them all; when it is in use, a [`Deadline`] gets a new one.
#[derive(Clone, Default)]
pub struct ConnectionTimer(Arc<Mutex<Option<Pin<Box<Sleep>>>>>);

impl ConnectionTimer {
    /// A deadline at `at`, on this timer when it is free.
    pub fn deadline(&self, at: Instant) -> Deadline {
        let kept = self.0.lock().ok().and_then(|mut kept| kept.take());
        let sleep = match kept {
            Some(mut sleep) => {
                sleep.as_mut().reset(at);
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(at)),
        };
        Deadline {
            sleep: Some(sleep),
            home: Some(self.clone()),
        }
    }
}

/// Completes when its deadline passes. One taken from a [`ConnectionTimer`] goes back to it
/// when dropped.
pub struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    home: Option<ConnectionTimer>,
}

impl Deadline {
    /// A deadline on a timer of its own.
    pub fn at(at: Instant) -> Self {
        Deadline {
            sleep: Some(Box::pin(tokio::time::sleep_until(at))),
            home: None,
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let (Some(home), Some(sleep)) = (&self.home, self.sleep.take())
            && let Ok(mut kept) = home.0.lock()
        {
            *kept = Some(sleep);
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

/// hyper's timer for one connection: the header-read timeout on the connection's own timer.
#[derive(Default)]
pub struct HeaderTimer(ConnectionTimer);

impl hyper::rt::Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.0.deadline(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.0.deadline(deadline.into()))
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// The address of the timer a deadline runs on.
    fn timer_of(deadline: &Deadline) -> *const Sleep {
        std::ptr::addr_of!(**deadline.sleep.as_ref().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_timer_is_reused_and_each_deadline_fires_at_its_own_time() {
        let timer = ConnectionTimer::default();
        let start = Instant::now();
        let mut first = timer.deadline(start + Duration::from_secs(10));
        assert!((&mut first).now_or_never().is_none()); // polled: tokio now tracks it
        let address = timer_of(&first);
        drop(first);
        // Later than before: the same timer, which must not fire at the earlier deadline.
        let mut later = timer.deadline(start + Duration::from_secs(20));
        assert_eq!(timer_of(&later), address);
        assert!((&mut later).now_or_never().is_none());
        tokio::time::sleep_until(start + Duration::from_secs(15)).await;
        assert!(
            (&mut later).now_or_never().is_none(),
            "fired at the old deadline"
        );
        tokio::time::timeout_at(start + Duration::from_secs(21), &mut later)
            .await
            .expect("not fired at its deadline");
        drop(later);
        // Earlier than the timer's last deadline, and after it fired: the same timer again.
        let now = Instant::now();
        let earlier = timer.deadline(now + Duration::from_secs(1));
        assert_eq!(timer_of(&earlier), address);
        tokio::time::timeout_at(now + Duration::from_millis(1001), earlier)
            .await
            .expect("not fired at its deadline");
        // In use by another request: a timer of its own.
        let held = timer.deadline(now + Duration::from_secs(5));
        let other = timer.deadline(now + Duration::from_secs(5));
        assert_ne!(timer_of(&held), timer_of(&other));
        drop((held, other));
        // Earlier than a deadline tokio still tracks: the timer moves to the earlier one.
        let now = Instant::now();
        let mut far = timer.deadline(now + Duration::from_secs(60));
        assert!((&mut far).now_or_never().is_none());
        drop(far);
        let near = timer.deadline(now + Duration::from_secs(2));
        tokio::time::timeout_at(now + Duration::from_millis(2001), near)
            .await
            .expect("not fired at the earlier deadline");
    }
}
