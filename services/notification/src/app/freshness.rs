//! Order across streams for what automations say about a guest. A tag (tagging's stream) or an
//! owner (assignment's) can reach notification before profile's own record of the change that
//! caused it: a visit makes tagging add `likes_dessert` while profile's `CustomerUpdated` with the
//! new favourite dish is still behind in notification's profile consumer, and the owner's reminder
//! would read "最爱暂无记录". So an event of those streams is applied only once the profile
//! consumer has applied profile's events of the chain as far as profile's head when the event was
//! first seen (everything that caused it was committed in profile before tagging or assignment
//! could see it). Until then the consumer's transaction is rolled back with [`ProfileBehind`] and
//! the kit retries it (backoff from 100 ms); nothing renders from facts that are behind.
//!
//! Profile's head is asked once per chain for a burst, not once per event: a head asked after an
//! event of tagging or assignment was numbered in its stream is as new as that event's cause
//! (profile numbered the cause before the other service could read it, and that service numbered
//! the event after). So the head asked for one event also serves every event of the same upstream
//! known to be numbered before the question — those read from the stream by then, which the
//! consumer tells before applying each run ([`ProfileFreshness::read_through`]). An event numbered
//! after the question asks again; that is the race the rule guards.
//!
//! Owns nothing in storage but reads the kit's cursor of the profile consumer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use maitre_kit::{auth::Minter, config::Config, config::ServiceName};
use sea_orm::{ConnectionTrait, DbErr};

/// The consumer whose cursor says how far profile's stream is applied here.
pub const PROFILE_CONSUMER: &str = "notification<-profile";

/// Profile's event log head, as its `GetLogHead` answers.
#[async_trait::async_trait]
pub trait ProfileHead: Send + Sync {
    /// The highest published sequence of `chain`'s events in profile's log (`after` is this
    /// side's cursor, so profile counts only what lies beyond it).
    async fn chain_head(&self, chain: &str, after: u64) -> Result<u64, String>;
}

/// Asks the profile service (kit `upstream_head`).
pub struct UpstreamProfileHead {
    pub config: Config,
    pub minter: Minter,
}

#[async_trait::async_trait]
impl ProfileHead for UpstreamProfileHead {
    async fn chain_head(&self, chain: &str, after: u64) -> Result<u64, String> {
        maitre_kit::eventlog::upstream_head(
            &self.config,
            &self.minter,
            ServiceName::Profile,
            after,
            Some(chain),
        )
        .await
        .map(|head| head.head_sequence)
    }
}

/// The event must wait: the guest's facts from profile may be older than it.
#[derive(Debug, thiserror::Error)]
pub enum ProfileBehind {
    #[error(
        "profile's stream of chain {chain} is applied to {cursor}, behind its head {required} when event {event} arrived; retried"
    )]
    Behind {
        chain: String,
        event: u64,
        cursor: u64,
        required: u64,
    },
    #[error("reading the profile consumer's cursor: {0}")]
    Storage(#[from] DbErr),
}

/// A head asked of profile for a chain: valid for the events of one upstream numbered up to
/// `covers` (read here before it was asked).
#[derive(Debug, Clone, Copy)]
struct AskedHead {
    covers: u64,
    head: u64,
}

/// Holds events of other streams until profile's facts have caught up with them.
pub struct ProfileFreshness {
    head: Arc<dyn ProfileHead>,
    /// (chain, upstream, event sequence) → profile's head required for the event, fixed when it
    /// was first seen, so a busy chain's moving head never starves a retried event.
    required: Mutex<HashMap<(String, &'static str, u64), u64>>,
    /// Upstream → the highest sequence read from its stream here (so numbered there).
    read: Mutex<HashMap<&'static str, u64>>,
    /// (chain, upstream) → the last head asked for the chain and the events it serves.
    asked: Mutex<HashMap<(String, &'static str), AskedHead>>,
}

impl ProfileFreshness {
    pub fn new(head: Arc<dyn ProfileHead>) -> Self {
        ProfileFreshness {
            head,
            required: Mutex::new(HashMap::new()),
            read: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
        }
    }

    /// The consumer of `upstream`'s stream has read it through `sequence` (a run about to be
    /// applied): those events were numbered before any head asked from now on.
    pub fn read_through(&self, upstream: &'static str, sequence: u64) {
        let mut read = lock(&self.read);
        let through = read.entry(upstream).or_default();
        *through = (*through).max(sequence);
    }

    /// Profile's head required for event `sequence` of `upstream`: a head asked after the event
    /// was numbered, from the chain's last question when it serves the event, else asked now.
    async fn required_head(
        &self,
        chain: &str,
        upstream: &'static str,
        sequence: u64,
        cursor: u64,
    ) -> Result<u64, String> {
        let at = (chain.to_owned(), upstream);
        if let Some(asked) = lock(&self.asked).get(&at).filter(|a| sequence <= a.covers) {
            return Ok(asked.head);
        }
        // Read before asking: every event read by now was numbered before the answer.
        let covers = lock(&self.read)
            .get(upstream)
            .copied()
            .unwrap_or(0)
            .max(sequence);
        let head = self.head.chain_head(chain, cursor).await?;
        let mut asked = lock(&self.asked);
        let entry = asked.entry(at).or_insert(AskedHead { covers, head });
        if covers >= entry.covers {
            *entry = AskedHead { covers, head };
        }
        Ok(head)
    }

    /// Ok when the profile consumer (its cursor read through `conn`, the event's transaction)
    /// has applied profile's events of `chain` up to the head required for event `sequence`
    /// of `upstream`. When profile cannot be asked, the event goes on with what is known: an
    /// outage of profile must not stop every automation.
    pub async fn ensure(
        &self,
        conn: &impl ConnectionTrait,
        chain: &str,
        upstream: &'static str,
        sequence: u64,
    ) -> Result<(), ProfileBehind> {
        let cursor = profile_cursor(conn).await?;
        let key = (chain.to_owned(), upstream, sequence);
        let known = lock(&self.required).get(&key).copied();
        let required = match known {
            Some(required) => required,
            None => match self.required_head(chain, upstream, sequence, cursor).await {
                Ok(head) => head,
                Err(error) => {
                    tracing::warn!(%chain, %error, "profile's head unknown; automations use the facts known");
                    return Ok(());
                }
            },
        };
        if caught_up(cursor, required) {
            lock(&self.required).remove(&key);
            return Ok(());
        }
        lock(&self.required).insert(key, required);
        Err(ProfileBehind::Behind {
            chain: chain.to_owned(),
            event: sequence,
            cursor,
            required,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned map only holds heads and sequences; its data stays valid.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The rule: facts are current for an event once the profile cursor reached the head required.
pub fn caught_up(profile_cursor: u64, required_head: u64) -> bool {
    profile_cursor >= required_head
}

/// The profile consumer's position: its slowest partition's when partitioned (PostgreSQL,
/// `MAITRE_EVENT_PARTITIONS`), so whatever lies below it is applied for every guest.
async fn profile_cursor(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    maitre_kit::eventlog::applied_through(conn, PROFILE_CONSUMER)
        .await
        .map_err(|e| match e {
            maitre_kit::db::DbError::Db(e) => e,
            other => DbErr::Custom(other.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_at_or_past_the_head() {
        assert!(caught_up(7, 7));
        assert!(caught_up(8, 7));
        assert!(!caught_up(6, 7));
        assert!(
            caught_up(0, 0),
            "a chain with no profile events waits for nothing"
        );
    }
}
