//! Campaign RPCs: create (now or scheduled; the segment is checked with tagging here and resolved
//! again at dispatch), get with stats counted from the messages table, list, cancel (queued messages
//! are suppressed, nothing more is enqueued).

use std::collections::HashMap;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_kit::idempotency;
use maitre_kit::page::{PageRequest, next_token};
use maitre_proto::notification::v1::{
    Campaign, CampaignState, CampaignStats, CancelCampaignRequest, CancelCampaignResponse,
    CreateCampaignRequest, CreateCampaignResponse, GetCampaignRequest, GetCampaignResponse,
    ListCampaignsRequest, ListCampaignsResponse,
};
use sea_orm::ConnectionTrait;
use tonic::{Request, Response, Status};

use super::templates::compile;
use super::{NotificationServiceApi, WRITERS};
use crate::app::delivery::append_status_event;
use crate::convert::{timestamp_from_us, timestamp_to_utc};
use crate::domain::channel::Channel;
use crate::domain::template_vars::TemplateVariable;
use crate::error::{Error, Result};
use crate::storage::campaigns::{self, CampaignRow};
use crate::storage::messages;

/// Stats of a campaign from its messages (the truth), and its state as the contract names it.
async fn to_proto(conn: &impl ConnectionTrait, row: &CampaignRow) -> Result<Campaign> {
    let counts = messages::campaign_counts(conn, &row.chain_id, &row.campaign_id).await?;
    let mut stats = CampaignStats {
        targeted: row.targeted,
        ..CampaignStats::default()
    };
    let mut suppressed: HashMap<String, i64> = HashMap::new();
    let mut pending = 0;
    for (status, reason, n) in counts {
        match status.as_str() {
            "suppressed" => *suppressed.entry(reason).or_default() += n,
            "sent" => stats.sent += n,
            "delivered" => {
                stats.sent += n;
                stats.delivered += n;
            }
            "responded" => {
                stats.sent += n;
                stats.delivered += n;
                stats.responded += n;
            }
            "dead" | "failed" => stats.failed += n,
            "queued" if reason == "quiet_hours" => {
                stats.deferred += n;
                pending += n;
            }
            _ => pending += n,
        }
    }
    stats.suppressed = suppressed;
    let state = match row.state.as_str() {
        "scheduled" => CampaignState::Scheduled,
        "running" => CampaignState::Running,
        "dispatched" if pending > 0 => CampaignState::Running,
        "dispatched" => CampaignState::Completed,
        "cancelled" => CampaignState::Cancelled,
        "failed" => CampaignState::Failed,
        _ => CampaignState::Unspecified,
    };
    // A dispatched campaign's earlier, retried failures are history, not its state.
    let failure_reason = match row.state.as_str() {
        "failed" | "scheduled" | "running" => row.failure_reason.clone(),
        _ => String::new(),
    };
    Ok(Campaign {
        campaign_id: row.campaign_id.clone(),
        name: row.name.clone(),
        segment: row.segment.clone(),
        template_id: row.template_id.clone(),
        coupon: row.coupon.clone(),
        scheduled_at: Some(timestamp_from_us(row.scheduled_at_us)),
        state: state as i32,
        stats: Some(stats),
        create_time: Some(timestamp_from_us(row.create_time_us)),
        failure_reason,
    })
}

impl NotificationServiceApi {
    pub(super) async fn create_campaign_rpc(
        &self,
        request: Request<CreateCampaignRequest>,
    ) -> Result<Response<CreateCampaignResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let db = &self.runtime.db;
        if let Some(done) =
            idempotency::recall(db, &chain, "CreateCampaign", &request.request_id).await?
        {
            return Ok(Response::new(done));
        }
        let campaign = request
            .campaign
            .ok_or_else(|| Error::invalid("campaign", "is required"))?;
        let name = campaign.name.trim();
        if name.is_empty() {
            return Err(Error::invalid("campaign.name", "must not be empty").into());
        }
        let segment = campaign.segment.trim();
        if segment.is_empty() {
            return Err(Error::invalid("campaign.segment", "must not be empty").into());
        }
        let template = self
            .template(&chain, &campaign.template_id)
            .await
            .map_err(|_| Error::invalid("campaign.template_id", "no such template in the chain"))?;
        if template.channel == Channel::StaffInbox {
            return Err(Error::invalid(
                "campaign.template_id",
                "campaigns message guests; this template is for the staff inbox",
            )
            .into());
        }
        // Campaign messages are filled with the coupon only: every other variable needs a default.
        for variable in compile(&template)?.required_variables() {
            let covered = variable == TemplateVariable::CouponCode && !campaign.coupon.is_empty();
            if !covered {
                let field = if variable.needs_coupon() {
                    "campaign.coupon"
                } else {
                    "campaign.template_id"
                };
                return Err(Error::invalid(
                    field,
                    format!("the template uses `{}` without a default", variable.path()),
                )
                .into());
            }
        }
        let now = Utc::now();
        let scheduled_at = match &campaign.scheduled_at {
            None => now,
            Some(ts) => {
                let at = timestamp_to_utc(ts)
                    .ok_or_else(|| Error::invalid("campaign.scheduled_at", "not a valid time"))?;
                if at < now {
                    return Err(Error::invalid("campaign.scheduled_at", "is in the past").into());
                }
                at
            }
        };
        // Last, after every local check: the one that asks tagging.
        self.check_segment(&chain, segment).await?;
        let row = CampaignRow {
            chain_id: chain.clone(),
            campaign_id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            segment: segment.to_owned(),
            template_id: template.template_id.clone(),
            coupon: campaign.coupon.clone(),
            scheduled_at_us: scheduled_at.timestamp_micros(),
            state: "scheduled".into(),
            targeted: 0,
            create_time_us: now.timestamp_micros(),
            attempts: 0,
            failure_reason: String::new(),
        };
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        campaigns::insert(&txn, &row).await?;
        let response = CreateCampaignResponse {
            campaign: Some(to_proto(&txn, &row).await?),
        };
        idempotency::remember(
            &txn,
            &chain,
            "CreateCampaign",
            &request.request_id,
            &response,
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(response))
    }

    /// Refuses a segment tagging cannot resolve (INVALID_ARGUMENT on `campaign.segment`); tagging
    /// unreachable or not configured is UNAVAILABLE, retryable.
    async fn check_segment(&self, chain: &str, segment: &str) -> Result<()> {
        let Some(segments) = &self.segments else {
            return Err(Error::Upstream {
                what: "tagging",
                cause: "not configured; campaign segments cannot be checked".into(),
            });
        };
        segments.check(chain, segment).await
    }

    async fn campaign(&self, chain: &str, campaign_id: &str) -> Result<CampaignRow> {
        campaigns::get(&self.runtime.db, chain, campaign_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "campaign",
                id: campaign_id.to_owned(),
            })
    }

    pub(super) async fn get_campaign_rpc(
        &self,
        request: Request<GetCampaignRequest>,
    ) -> Result<Response<GetCampaignResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let row = self
            .campaign(caller.chain()?, &request.get_ref().campaign_id)
            .await?;
        Ok(Response::new(GetCampaignResponse {
            campaign: Some(to_proto(&self.runtime.db, &row).await?),
        }))
    }

    pub(super) async fn list_campaigns_rpc(
        &self,
        request: Request<ListCampaignsRequest>,
    ) -> Result<Response<ListCampaignsResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let page = PageRequest::parse(request.page_size, &request.page_token, 500)?;
        let db = &self.runtime.db;
        let rows = campaigns::list(db, chain, &page.after, page.size + 1).await?;
        let more = rows.len() as u64 > page.size;
        let mut out = Vec::new();
        for row in rows.iter().take(page.size as usize) {
            out.push(to_proto(db, row).await?);
        }
        let next_page_token = match out.last() {
            Some(last) if more => next_token(&last.campaign_id),
            _ => String::new(),
        };
        Ok(Response::new(ListCampaignsResponse {
            campaigns: out,
            next_page_token,
        }))
    }

    pub(super) async fn cancel_campaign_rpc(
        &self,
        request: Request<CancelCampaignRequest>,
    ) -> Result<Response<CancelCampaignResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let id = request.get_ref().campaign_id.clone();
        let row = self.campaign(&chain, &id).await?;
        let db = &self.runtime.db;
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        let cancelled =
            campaigns::set_state(&txn, &chain, &id, &["scheduled", "running"], "cancelled").await?;
        let cancelled = cancelled
            || (row.state == "dispatched"
                && campaigns::set_state(&txn, &chain, &id, &["dispatched"], "cancelled").await?);
        if !cancelled && row.state != "cancelled" {
            return Err(Error::Precondition {
                field: "campaign_id",
                message: format!("a {} campaign cannot be cancelled", row.state),
            }
            .into());
        }
        let now_us = Utc::now().timestamp_micros();
        let suppressed = messages::suppress_queued_of_campaign(&txn, &chain, &id, now_us).await?;
        for message in &suppressed {
            append_status_event(
                &self.runtime.events,
                &txn,
                message,
                "suppressed",
                "campaign_cancelled",
            )
            .await?;
        }
        txn.commit().await.map_err(Error::from)?;
        self.runtime.events.committed();
        let row = self.campaign(&chain, &id).await?;
        Ok(Response::new(CancelCampaignResponse {
            campaign: Some(to_proto(db, &row).await?),
        }))
    }
}
