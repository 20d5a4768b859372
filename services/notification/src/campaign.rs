//! Campaign dispatch: a due campaign's segment is resolved through tagging's `ExportSegment` (behind
//! [`SegmentSource`] so tests use a fixed list) and one message per customer is enqueued with the key
//! `campaign:{id}:{customer}` — so a dispatcher killed halfway and restarted enqueues nobody twice.
//! One replica works on a campaign at a time (a coordination lock); the database state is the truth.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use futures::StreamExt;
use maitre_kit::auth::Minter;
use maitre_proto::tagging::v1::{
    ExportSegmentRequest, SegmentRef, segment_ref, tagging_service_client::TaggingServiceClient,
};
use sea_orm::ConnectionTrait;

use crate::delivery::Pipeline;
use crate::error::{Error, Result};
use crate::storage::campaigns::{self, CampaignRow};
use crate::storage::messages::NewMessage;
use crate::storage::{queue, templates};

/// Customers enqueued per transaction.
const ENQUEUE_BATCH: usize = 2_000;
/// Campaigns at least this large refresh the messages table's statistics once enqueued.
const ANALYZE_AFTER: usize = 10_000;
/// How long one replica may work on a campaign before another may take over.
const CAMPAIGN_LOCK_TTL: Duration = Duration::from_secs(120);

/// Resolves a campaign's segment to customer ids.
#[async_trait::async_trait]
pub trait SegmentSource: Send + Sync + 'static {
    /// The customers of `segment` (a saved segment id, or an expression) in `chain_id`.
    async fn export(&self, chain_id: &str, segment: &str) -> Result<Vec<String>>;
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
    let is_id = segment
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    SegmentRef {
        r#ref: Some(if is_id {
            segment_ref::Ref::SegmentId(segment.to_owned())
        } else {
            segment_ref::Ref::Expression(segment.to_owned())
        }),
    }
}

#[async_trait::async_trait]
impl SegmentSource for TaggingSegments {
    async fn export(&self, chain_id: &str, segment: &str) -> Result<Vec<String>> {
        let upstream = |cause: String| Error::Upstream {
            what: "tagging",
            cause,
        };
        let token = self
            .minter
            .service_token("notification", chain_id)
            .map_err(|e| upstream(e.to_string()))?;
        let request = maitre_kit::client::outgoing(
            ExportSegmentRequest {
                segment: Some(segment_ref(segment)),
            },
            &token,
        );
        let mut stream = self
            .client
            .clone()
            .export_segment(request)
            .await
            .map_err(|e| upstream(e.to_string()))?
            .into_inner();
        let mut customers = Vec::new();
        while let Some(chunk) = stream.next().await {
            customers.extend(chunk.map_err(|e| upstream(e.to_string()))?.customer_ids);
        }
        Ok(customers)
    }
}

/// Works through due campaigns.
#[derive(Clone)]
pub struct CampaignRunner {
    pipeline: Pipeline,
    segments: Arc<dyn SegmentSource>,
    poll: Duration,
    lock_ttl: Duration,
}

impl CampaignRunner {
    /// A runner resolving segments through `segments`.
    pub fn new(pipeline: Pipeline, segments: Arc<dyn SegmentSource>, poll: Duration) -> Self {
        Self {
            pipeline,
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
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "campaign round failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// One round: dispatches every due campaign this replica can lock; returns how many it finished.
    pub async fn run_once(&self) -> Result<usize> {
        let due = campaigns::due(&self.pipeline.db, Utc::now().timestamp_micros()).await?;
        let mut finished = 0;
        for campaign in due {
            let key = format!("campaign:{}:{}", campaign.chain_id, campaign.campaign_id);
            let Some(fence) = self.pipeline.coord.lock(&key, self.lock_ttl).await? else {
                continue;
            };
            let result = self.dispatch(&campaign).await;
            let _ = self.pipeline.coord.unlock(&key, fence).await;
            if result? {
                finished += 1;
            }
        }
        Ok(finished)
    }

    /// Enqueues the campaign's messages; `true` when every customer is enqueued.
    async fn dispatch(&self, campaign: &CampaignRow) -> Result<bool> {
        let db = &self.pipeline.db;
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
            self.pipeline.enqueued();
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
