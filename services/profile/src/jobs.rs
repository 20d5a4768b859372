//! Profile's scheduled work, each job on the kit's leased loop (`maitre_kit::jobs`): every
//! replica runs the loop, the lease holder does the round. The rounds are use cases in
//! `app`; this module only says when they run and under which lease.

use std::{future::Future, time::Duration};

use chrono::Utc;
use maitre_kit::{
    jobs::{FirstRound, LeasedJob},
    runtime::Runtime,
};
use tokio::task::JoinHandle;

use crate::app::{classify::recompute_chain, reminders::announce_due_plans};

/// The lease and the marker of the daily class recompute.
const DAILY_CLASSES: &str = "daily-classes";
const DAILY_CLASSES_DONE: &str = "daily-classes-done";

/// Starts every job; each stops when its `stopped()` future resolves (and releases its lease).
pub fn spawn_all<S>(runtime: &Runtime, stopped: impl Fn() -> S) -> Vec<JoinHandle<()>>
where
    S: Future<Output = ()> + Send + 'static,
{
    vec![
        tokio::spawn(daily_classes(runtime.clone(), stopped())),
        tokio::spawn(follow_up_due(runtime.clone(), stopped())),
    ]
}

/// The daily recompute: one replica recomputes every chain's classes once a day (time alone
/// moves recency); the first round waits an interval so it does not race the start-up.
async fn daily_classes(runtime: Runtime, stopped: impl Future<Output = ()>) {
    let job = LeasedJob::new(DAILY_CLASSES, Duration::from_secs(600))
        .ttl(Duration::from_secs(3600))
        .first_round(FirstRound::AfterInterval);
    let coord = runtime.coord.clone();
    job.run(coord.clone(), stopped, |_| async {
        let today = Utc::now().date_naive().to_string();
        // Done today (the marker is only a shortcut: a flush recomputes, which changes nothing).
        let done = coord.get(DAILY_CLASSES_DONE).await.ok().flatten();
        if done.as_deref() == Some(today.as_str()) {
            return;
        }
        let chains = match crate::storage::customers::chains(&runtime.db).await {
            Ok(chains) => chains,
            Err(e) => {
                tracing::warn!(error = %e, "daily classes: listing chains failed");
                return;
            }
        };
        for chain in chains {
            match recompute_chain(&runtime.db, &runtime.events, &chain, Utc::now()).await {
                Ok(changed) => tracing::info!(chain, changed, "daily classes recomputed"),
                Err(e) => tracing::warn!(chain, error = %e, "daily classes failed"),
            }
        }
        let _ = coord.set(DAILY_CLASSES_DONE, &today, None).await;
    })
    .await;
}

/// Announces due follow-up plans every minute (`FollowUpDue`, `app::reminders`).
async fn follow_up_due(runtime: Runtime, stopped: impl Future<Output = ()>) {
    let job =
        LeasedJob::new("follow-up-due", Duration::from_secs(60)).ttl(Duration::from_secs(180));
    job.run(runtime.coord.clone(), stopped, |_| async {
        if let Err(e) = announce_due_plans(&runtime.db, &runtime.events, Utc::now()).await {
            tracing::warn!(error = %e, "announcing due follow-up plans failed");
        }
    })
    .await;
}
