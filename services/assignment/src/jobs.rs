//! Scheduled work, each on the kit's leased-loop helper (`kit::jobs::LeasedJob`: one replica
//! at a time, released at shutdown): the value-lock expiry sweep, and the resumption of lock
//! reviews a stopped replica left running (each review under its own lease besides).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use maitre_kit::jobs::LeasedJob;

use crate::app::Engine;
use crate::storage::jobs::{self, KIND_LOCK_REVIEW};

/// How often one replica sweeps for value locks past their expiry (a lock expires by days,
/// so an hour late is on time).
pub const LOCK_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How often a replica looks for lock reviews left running by a replica that stopped
/// (`app::lock_review`; a running review's lease keeps the others off it).
pub const LOCK_REVIEW_RESUME_EVERY: Duration = Duration::from_secs(60);

/// Releases value locks past their expiry every `every`, until `shutdown`.
pub async fn lock_sweeps(engine: Arc<Engine>, every: Duration, shutdown: impl Future<Output = ()>) {
    let job = LeasedJob::new("lock-expiry-sweep", every);
    job.run(engine.runtime.coord.clone(), shutdown, |_| async {
        match engine.expire_due_locks(Utc::now()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "expired value locks released"),
            Err(error) => tracing::warn!(%error, "lock-expiry sweep failed"),
        }
    })
    .await;
}

/// Resumes running lock reviews (a replica crashed or restarted mid-review) every `every`,
/// until `shutdown`; each review runs under its own lease, so the replica that started one
/// keeps it.
pub async fn lock_review_resumes(
    engine: Arc<Engine>,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let job = LeasedJob::new("lock-review-resume", every);
    job.run(engine.runtime.coord.clone(), shutdown, |_| async {
        match jobs::running(&engine.runtime.db, KIND_LOCK_REVIEW).await {
            Ok(running) => {
                for (chain_id, job) in running {
                    engine.run_lock_review_leased(&chain_id, &job).await;
                }
            }
            Err(error) => tracing::warn!(%error, "listing running lock reviews failed"),
        }
    })
    .await;
}
