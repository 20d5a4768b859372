//! Campaign dispatch: a due campaign's segment is resolved through tagging's `ExportSegment` (behind
//! [`SegmentSource`] so tests use a fixed list) and one message per customer is enqueued with the key
//! `campaign:{id}:{customer}` — so a dispatcher killed halfway and restarted enqueues nobody twice.
//! One replica works on a campaign at a time (a coordination lock); the database state is the truth.
//!
//! Campaigns of every chain share the runner, so a campaign's failure is its own: a segment that
//! resolves to nothing fails the campaign (`failed`, with the reason), a passing failure (tagging
//! unreachable, storage) is retried with backoff, and either way the round goes on to the next
//! campaign. No chain's campaign waits on another's.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use futures::StreamExt;
use maitre_kit::auth::Minter;
use maitre_proto::tagging::v1::{
    CountSegmentRequest, ExportSegmentRequest, SegmentRef, segment_ref,
    tagging_service_client::TaggingServiceClient,
};
use sea_orm::ConnectionTrait;

use crate::error::{Error, Result};
use crate::state::State;
use crate::storage::campaigns::{self, CampaignRow};
use crate::storage::messages::NewMessage;
use crate::storage::{queue, templates};

/// Customers enqueued per transaction.
const ENQUEUE_BATCH: usize = 2_000;
/// Campaigns at least this large refresh the messages table's statistics once enqueued.
const ANALYZE_AFTER: usize = 10_000;
/// How long one replica may work on a campaign before another may take over.
const CAMPAIGN_LOCK_TTL: Duration = Duration::from_secs(120);
/// The longest wait between rounds that found no due campaign: a campaign starts at most this
/// late.
const CAMPAIGN_IDLE_POLL_CAP: Duration = Duration::from_secs(4);
/// Failed dispatches after which a campaign that keeps failing for passing reasons gives up.
const MAX_DISPATCH_ATTEMPTS: i64 = 10;
/// Backoff of the first retry; it doubles per failure up to [`MAX_RETRY_BACKOFF`].
const FIRST_RETRY_BACKOFF: Duration = Duration::from_secs(2);
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);
/// The field a segment that resolves to nothing is blamed on.
const SEGMENT_FIELD: &str = "campaign.segment";

/// Resolves a campaign's segment to customer ids. A segment that resolves to nothing (no such
/// saved segment, a bad expression) is `Error::InvalidField` on `campaign.segment`; anything else
/// is a passing failure.
#[async_trait::async_trait]
pub trait SegmentSource: Send + Sync + 'static {
    /// The customers of `segment` (a saved segment id, or an expression) in `chain_id`.
    async fn export(&self, chain_id: &str, segment: &str) -> Result<Vec<String>>;

    /// Whether `segment` resolves in `chain_id` (checked when a campaign is created); by default,
    /// whether it can be exported.
    async fn check(&self, chain_id: &str, segment: &str) -> Result<()> {
        self.export(chain_id, segment).await.map(|_| ())
    }
}

/// What the runner does with a campaign whose dispatch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Give up: the campaign is `failed` with this reason.
    Fail(String),
    /// Try again after the backoff.
    RetryAfter(Duration),
}

/// The rule for a failed dispatch, `attempts` failures before this one: a segment that resolves to
/// nothing will not resolve by waiting, so it fails at once; other failures back off exponentially
/// and give up after [`MAX_DISPATCH_ATTEMPTS`].
pub fn after_failure(error: &Error, attempts: i64) -> AfterFailure {
    let permanent = matches!(error, Error::InvalidField { .. } | Error::NotFound { .. });
    if permanent {
        return AfterFailure::Fail(error.to_string());
    }
    if attempts + 1 >= MAX_DISPATCH_ATTEMPTS {
        return AfterFailure::Fail(format!("gave up after {} attempts: {error}", attempts + 1));
    }
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    AfterFailure::RetryAfter((FIRST_RETRY_BACKOFF * 2u32.pow(doublings)).min(MAX_RETRY_BACKOFF))
}

/// The tagging service's `ExportSegment`.
pub struct TaggingSegments {
    client: TaggingServiceClient<tonic::transport::Channel>,
    minter: Minter,
}

impl TaggingSegments {
    /// A client of the tagging service at `channel`, calling as the notification service.
    pub fn new(channel: tonic::transport::Channel, minter: Minter) -> Self {
        Self {
            client: TaggingServiceClient::new(channel),
            minter,
        }
    }
}

/// A saved segment id has no spaces or operators; anything else is sent as an expression.
fn segment_ref(segment: &str) -> SegmentRef {
    SegmentRef {
        r#ref: Some(if is_segment_id(segment) {
            segment_ref::Ref::SegmentId(segment.to_owned())
        } else {
            segment_ref::Ref::Expression(segment.to_owned())
        }),
    }
}

fn is_segment_id(segment: &str) -> bool {
    segment
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Tagging's answer about `segment` as this service's error: a segment that resolves to nothing is
/// the campaign's `segment` field's fault (a bare word is read as a saved segment id, so the hint
/// shows how to name a tag); anything else is tagging failing for now.
fn segment_error(segment: &str, status: &tonic::Status) -> Error {
    match status.code() {
        tonic::Code::NotFound if is_segment_id(segment) => Error::invalid(
            SEGMENT_FIELD,
            format!(
                "no saved segment `{segment}` in the chain; name a saved segment id, or write an expression such as has_tag(\"{segment}\")"
            ),
        ),
        tonic::Code::NotFound | tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            Error::invalid(SEGMENT_FIELD, status.message().to_owned())
        }
        _ => Error::Upstream {
            what: "tagging",
            cause: format!("{:?}: {}", status.code(), status.message()),
        },
    }
}

impl TaggingSegments {
    fn token(&self, chain_id: &str) -> Result<String> {
        self.minter
            .service_token("notification", chain_id)
            .map_err(|e| Error::Upstream {
                what: "tagging",
                cause: e.to_string(),
            })
    }
}

#[async_trait::async_trait]
impl SegmentSource for TaggingSegments {
    async fn export(&self, chain_id: &str, segment: &str) -> Result<Vec<String>> {
        let request = maitre_kit::client::outgoing(
            ExportSegmentRequest {
                segment: Some(segment_ref(segment)),
            },
            &self.token(chain_id)?,
        );
        let mut stream = self
            .client
            .clone()
            .export_segment(request)
            .await
            .map_err(|status| segment_error(segment, &status))?
            .into_inner();
        let mut customers = Vec::new();
        while let Some(chunk) = stream.next().await {
            customers.extend(
                chunk
                    .map_err(|status| segment_error(segment, &status))?
                    .customer_ids,
            );
        }
        Ok(customers)
    }

    /// Counting resolves the segment as exporting would, without sending its members.
    async fn check(&self, chain_id: &str, segment: &str) -> Result<()> {
        let request = maitre_kit::client::outgoing(
            CountSegmentRequest {
                segment: Some(segment_ref(segment)),
            },
            &self.token(chain_id)?,
        );
        self.client
            .clone()
            .count_segment(request)
            .await
            .map_err(|status| segment_error(segment, &status))?;
        Ok(())
    }
}

/// Works through due campaigns.
#[derive(Clone)]
pub struct CampaignRunner {
    state: State,
    segments: Arc<dyn SegmentSource>,
    poll: Duration,
    lock_ttl: Duration,
}

impl CampaignRunner {
    /// A runner resolving segments through `segments`.
    pub fn new(state: State, segments: Arc<dyn SegmentSource>, poll: Duration) -> Self {
        Self {
            state,
            segments,
            poll,
            lock_ttl: CAMPAIGN_LOCK_TTL,
        }
    }

    /// How long a crashed replica's claim on a campaign blocks others (its dedup keys keep a takeover
    /// safe either way).
    pub fn with_lock_ttl(mut self, lock_ttl: Duration) -> Self {
        self.lock_ttl = lock_ttl;
        self
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // Due campaigns are found by polling; while there are none, less often (up to every
        // CAMPAIGN_IDLE_POLL_CAP), so an idle system costs little.
        let mut poll = crate::app::idle::IdlePoll::new(self.poll, CAMPAIGN_IDLE_POLL_CAP);
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(_) => poll.reset(),
                Err(e) => tracing::warn!(error = %e, "campaign round failed"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(poll.idle()) => {}
            }
        }
    }

    /// One round: dispatches every due campaign this replica can lock; returns how many it finished.
    /// A campaign whose dispatch fails is failed or put back for a retry, and the round goes on.
    pub async fn run_once(&self) -> Result<usize> {
        let due = campaigns::due(&self.state.db, Utc::now().timestamp_micros()).await?;
        let mut finished = 0;
        for campaign in due {
            let key = format!("campaign:{}:{}", campaign.chain_id, campaign.campaign_id);
            let Some(fence) = self.state.coord.lock(&key, self.lock_ttl).await? else {
                continue;
            };
            let result = self.dispatch(&campaign).await;
            match result {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(error) => self.record_failure(&campaign, &error).await,
            }
            let _ = self.state.coord.unlock(&key, fence).await;
        }
        Ok(finished)
    }

    /// Fails the campaign or schedules its retry (see [`after_failure`]).
    async fn record_failure(&self, campaign: &CampaignRow, error: &Error) {
        let db = &self.state.db;
        let (chain, id) = (&campaign.chain_id, &campaign.campaign_id);
        let recorded = match after_failure(error, campaign.attempts) {
            AfterFailure::Fail(reason) => {
                tracing::warn!(chain = %chain, campaign = %id, reason = %reason, "campaign failed");
                campaigns::fail(db, chain, id, &reason).await.map(|_| ())
            }
            AfterFailure::RetryAfter(backoff) => {
                tracing::warn!(chain = %chain, campaign = %id, error = %error, backoff_s = backoff.as_secs(), "campaign dispatch failed; retrying later");
                let at = Utc::now() + backoff;
                campaigns::retry_later(db, chain, id, &error.to_string(), at.timestamp_micros())
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(chain = %chain, campaign = %id, error = %e, "cannot record the campaign's failure");
        }
    }

    /// Enqueues the campaign's messages; `true` when every customer is enqueued.
    async fn dispatch(&self, campaign: &CampaignRow) -> Result<bool> {
        let db = &self.state.db;
        let chain = &campaign.chain_id;
        campaigns::set_state(db, chain, &campaign.campaign_id, &["scheduled"], "running").await?;
        let Some(template) = templates::get(db, chain, &campaign.template_id).await? else {
            // Deleted after scheduling (deletion refuses while pending, so this is a race): nothing to send.
            campaigns::set_state(db, chain, &campaign.campaign_id, &["running"], "cancelled")
                .await?;
            return Ok(false);
        };
        let customers = self.segments.export(chain, &campaign.segment).await?;
        campaigns::set_targeted(
            db,
            chain,
            &campaign.campaign_id,
            i64::try_from(customers.len()).unwrap_or(i64::MAX),
        )
        .await?;
        for batch in customers.chunks(ENQUEUE_BATCH) {
            let current = campaigns::get(db, chain, &campaign.campaign_id).await?;
            if current.is_none_or(|c| c.state != "running") {
                return Ok(false);
            }
            let now_us = Utc::now().timestamp_micros();
            let mut variables = std::collections::BTreeMap::new();
            if !campaign.coupon.is_empty() {
                variables.insert("coupon.code".to_owned(), campaign.coupon.clone());
            }
            let messages: Vec<NewMessage> = batch
                .iter()
                .map(|customer| NewMessage {
                    message_id: uuid::Uuid::now_v7().to_string(),
                    customer_id: customer.clone(),
                    staff_id: String::new(),
                    channel: template.channel,
                    purpose: template.purpose,
                    template_id: template.template_id.clone(),
                    variables: variables.clone(),
                    campaign_id: campaign.campaign_id.clone(),
                    automation_id: String::new(),
                    dedup_key: format!("campaign:{}:{customer}", campaign.campaign_id),
                    next_attempt_at_us: now_us,
                })
                .collect();
            // One multi-row INSERT per batch; the dedup keys skip customers already enqueued.
            let txn = maitre_kit::db::begin_write(db).await?;
            queue::insert_all(&txn, chain, &messages, now_us).await?;
            txn.commit().await?;
            self.state.enqueued();
        }
        if customers.len() >= ANALYZE_AFTER && maitre_kit::db::is_postgres(db) {
            // The queue just grew by a campaign: fresh statistics keep the dispatchers' claims on the
            // ordered queue index instead of sorting every queued row (autovacuum's analyze may
            // lag far behind, or be off).
            if let Err(e) = db.execute_unprepared("ANALYZE notif_messages").await {
                tracing::warn!(error = %e, "cannot refresh the queue's statistics");
            }
        }
        campaigns::set_state(db, chain, &campaign.campaign_id, &["running"], "dispatched").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_that_resolves_to_nothing_fails_at_once_and_passing_failures_back_off() {
        let unknown = Error::invalid(SEGMENT_FIELD, "no saved segment `vip`");
        assert!(matches!(after_failure(&unknown, 0), AfterFailure::Fail(r) if r.contains("vip")));
        let down = Error::Upstream {
            what: "tagging",
            cause: "unavailable".into(),
        };
        assert_eq!(
            after_failure(&down, 0),
            AfterFailure::RetryAfter(FIRST_RETRY_BACKOFF)
        );
        assert_eq!(
            after_failure(&down, 2),
            AfterFailure::RetryAfter(FIRST_RETRY_BACKOFF * 4)
        );
        assert_eq!(
            after_failure(&down, 8),
            AfterFailure::RetryAfter(MAX_RETRY_BACKOFF)
        );
        assert!(matches!(
            after_failure(&down, MAX_DISPATCH_ATTEMPTS - 1),
            AfterFailure::Fail(r) if r.contains("gave up")
        ));
    }

    #[test]
    fn a_bare_word_tagging_does_not_know_is_blamed_on_the_segment_with_a_hint() {
        let error = segment_error("vip", &tonic::Status::not_found("segment `vip` not found"));
        let message = error.to_string();
        assert!(message.starts_with("campaign.segment:"), "{message}");
        assert!(message.contains("has_tag(\"vip\")"), "{message}");
        assert!(matches!(
            segment_error("vip", &tonic::Status::unavailable("down")),
            Error::Upstream { .. }
        ));
    }

    #[test]
    fn saved_ids_and_expressions_are_told_apart() {
        assert_eq!(
            segment_ref("seg-42").r#ref,
            Some(segment_ref::Ref::SegmentId("seg-42".into()))
        );
        assert_eq!(
            segment_ref("has_tag(\"vip\")").r#ref,
            Some(segment_ref::Ref::Expression("has_tag(\"vip\")".into()))
        );
    }
}
