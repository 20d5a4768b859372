//! Leased jobs: scheduled work that one replica at a time does (daily scans, sweeps, refits).
//!
//! Every replica runs the same loop; each round it tries to take (or renew) the job's leader
//! lease and runs the work only when it holds it. A replica that dies simply stops renewing:
//! another takes over when the lease expires. On shutdown the lease is released so a
//! successor need not wait for the expiry.
//!
//! The work must be safe to repeat (a round may run twice around a takeover, or without
//! coordination at all when the operator flushes Redis): the jobs keep their own progress in
//! the database, and the lease only keeps replicas from sharing the same work.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::coord::{Coordination, Fence};

/// How a leased job is scheduled.
#[derive(Clone)]
pub struct LeasedJob {
    /// The lease's name, shared by every replica of the service.
    pub lease: String,
    /// This replica's identity on the lease (unique per process).
    pub holder: String,
    /// How long a lease lasts without renewal: longer than one round of work, so a slow round
    /// is not taken over midway.
    pub ttl: Duration,
    /// Time between rounds.
    pub every: Duration,
    /// Run a round at start (sweeps that should catch up at once), or only after `every`
    /// (daily work that need not race the start-up).
    pub first_round: FirstRound,
    /// A signal that starts a round early (e.g. "an automation was enabled").
    pub wake: Option<Arc<Notify>>,
}

/// When the first round runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstRound {
    AtStart,
    AfterInterval,
}

impl LeasedJob {
    /// A job on `lease`, held by a fresh holder id, with a TTL of twice the interval.
    pub fn new(lease: impl Into<String>, every: Duration) -> Self {
        Self {
            lease: lease.into(),
            holder: uuid::Uuid::new_v4().to_string(),
            ttl: every * 2,
            every,
            first_round: FirstRound::AtStart,
            wake: None,
        }
    }

    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn first_round(mut self, first_round: FirstRound) -> Self {
        self.first_round = first_round;
        self
    }

    pub fn wake_on(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Runs `round` whenever this replica holds the lease, until `shutdown`; then releases it.
    /// A coordination failure skips the round (logged): the next round tries again.
    pub async fn run<F, Fut>(
        self,
        coord: Arc<dyn Coordination>,
        shutdown: impl Future<Output = ()>,
        mut round: F,
    ) where
        F: FnMut(Fence) -> Fut,
        Fut: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        let mut first = true;
        loop {
            if !(first && self.first_round == FirstRound::AtStart) {
                let wake = async {
                    match &self.wake {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(self.every) => {}
                    () = wake => {}
                }
            }
            first = false;
            match coord
                .lease_acquire(&self.lease, &self.holder, self.ttl)
                .await
            {
                Ok(Some(fence)) => {
                    // Each round is a trace of its own: its log lines carry a trace id.
                    let span = crate::telemetry::work_span("job", &self.lease);
                    tracing::Instrument::instrument(round(fence), span).await
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(lease = %self.lease, %error, "job lease unavailable"),
            }
        }
        let _ = coord.lease_release(&self.lease, &self.holder).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::coord::MemoryCoordination;

    /// Two replicas of one job: only the lease holder runs rounds; after the holder shuts down
    /// (releasing the lease) the other takes over without waiting for the expiry.
    #[tokio::test(start_paused = true)]
    async fn one_replica_at_a_time_and_a_handover_on_shutdown() {
        let coord: Arc<dyn Coordination> = Arc::new(MemoryCoordination::new());
        let (first_rounds, second_rounds) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stop_first = Arc::new(Notify::new());
        let job =
            LeasedJob::new("test-job", Duration::from_secs(10)).ttl(Duration::from_secs(3600));

        let first = tokio::spawn({
            let (coord, rounds, stop) = (coord.clone(), first_rounds.clone(), stop_first.clone());
            let job = job.clone().holder("first");
            async move {
                job.run(coord, async move { stop.notified().await }, |_| {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    async {}
                })
                .await
            }
        });
        // The first replica holds the lease before the second starts.
        while first_rounds.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let (coord, rounds) = (coord.clone(), second_rounds.clone());
            let job = job.clone().holder("second");
            async move {
                job.run(coord, std::future::pending(), |_| {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    async {}
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(
            first_rounds.load(Ordering::SeqCst),
            4,
            "at start and three intervals"
        );
        assert_eq!(second_rounds.load(Ordering::SeqCst), 0, "the lease is held");

        stop_first.notify_one();
        first.await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            second_rounds.load(Ordering::SeqCst) >= 1,
            "released lease taken over within one interval, not after the hour's TTL"
        );
        second.abort();
    }

    /// A wake signal starts a round before the interval.
    #[tokio::test(start_paused = true)]
    async fn a_wake_starts_a_round_early() {
        let coord: Arc<dyn Coordination> = Arc::new(MemoryCoordination::new());
        let rounds = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let job = LeasedJob::new("woken", Duration::from_secs(3600))
            .first_round(FirstRound::AfterInterval)
            .wake_on(wake.clone());
        let task = tokio::spawn({
            let rounds = rounds.clone();
            async move {
                job.run(coord, std::future::pending(), |_| {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    async {}
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 0, "no round at start");
        wake.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        task.abort();
    }
}
