//! How far tagging is behind profile for one chain, and a bounded wait until it is not.
//! A refit fits what tagging has applied: one started while profile's events are still
//! arriving (after an import) would fit part of the data and store it as the chain's model
//! (issue 20, item 9). The figures are those `GetConsumerStatus` reports for
//! `tagging<-profile`: this consumer's cursor against profile's `GetLogHead` for the chain.

use std::time::Duration;

use maitre_kit::{
    config::ServiceName,
    eventlog::{Consumer, upstream_head},
};
use tokio::time::Instant;

use crate::{error::TaggingError, state::Deps};

/// The profile consumer's name (its cursor row): consumed in `events`, its lag measured here.
pub const PROFILE_CONSUMER: &str = "tagging<-profile";

/// How often a waiting refit asks again. The consumer's progress wakes nobody here, and
/// the wait is bounded and rare (a refit right after an import), so a short poll is enough.
const ASK_EVERY: Duration = Duration::from_millis(250);

/// Tagging's lag behind profile for one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileLag {
    /// Events of the chain profile has logged that tagging has not applied.
    pub pending_events: u64,
    /// Age of the oldest of them, in milliseconds (0 when none).
    pub oldest_pending_age_ms: i64,
}

/// The chain's lag; `Ok(None)` when this process follows no profile (nothing to wait for),
/// `Err` when profile cannot say (unreachable).
pub async fn profile_lag(deps: &Deps, chain_id: &str) -> Result<Option<ProfileLag>, String> {
    let runtime = &deps.runtime;
    if runtime.config.upstream(ServiceName::Profile).is_empty() {
        return Ok(None);
    }
    let cursor = Consumer::new(PROFILE_CONSUMER, runtime.db.clone())
        .cursor()
        .await
        .map_err(|e| format!("reading tagging's cursor: {e}"))?;
    let head = upstream_head(
        &runtime.config,
        &runtime.minter,
        ServiceName::Profile,
        cursor,
        Some(chain_id),
    )
    .await?;
    let oldest_pending_age_ms = head
        .oldest_pending_time
        .map(|t| {
            let at_ms = t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000;
            (chrono::Utc::now().timestamp_millis() - at_ms).max(0)
        })
        .unwrap_or(0);
    Ok(Some(ProfileLag {
        pending_events: head.pending_events,
        oldest_pending_age_ms,
    }))
}

/// Waits up to `limit` for tagging to have applied every profile event of the chain.
/// Still behind then → `Lagging` (UNAVAILABLE: retry), naming the lag; profile silent the
/// whole time → `LagUnknown` (UNAVAILABLE too): a refit never starts blind.
pub async fn wait_for_profile(
    deps: &Deps,
    chain_id: &str,
    limit: Duration,
) -> Result<(), TaggingError> {
    let deadline = Instant::now() + limit;
    loop {
        let failure = match profile_lag(deps, chain_id).await {
            Ok(None) => return Ok(()),
            Ok(Some(lag)) if lag.pending_events == 0 => return Ok(()),
            Ok(Some(lag)) => TaggingError::Lagging {
                pending_events: lag.pending_events,
                oldest_pending_age_ms: lag.oldest_pending_age_ms,
            },
            Err(cause) => TaggingError::LagUnknown { cause },
        };
        if Instant::now() + ASK_EVERY > deadline {
            return Err(failure);
        }
        tokio::time::sleep(ASK_EVERY).await;
    }
}
