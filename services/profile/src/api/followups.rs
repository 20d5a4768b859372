//! Follow-ups (跟进): records of interactions and plans with due dates (open, due today in
//! UTC terms of the caller's day window, overdue), completed by hand.

use chrono::{Duration, Utc};
use maitre_kit::{
    auth::{Caller, Role},
    idempotency,
};
use maitre_proto::{
    events::v1::{EventScope, FollowUpRecorded, event::Payload},
    profile::v1::{self as pb, FollowUpPlanStatus},
};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::{
        begin_write,
        view::{live_customer, require_customer_scope, require_customer_writer},
    },
    convert::{required, time_of, timestamp_us},
    domain::{
        error::check_max_chars_public,
        followup::{PlanStatus, plan_source, plan_status},
    },
    error::{Error, Result},
    storage::followups::{self, PlanFilter, PlanRow, RecordRow},
};

const STAFF: &[Role] = &[
    Role::HqAdmin,
    Role::StoreManager,
    Role::CustomerManager,
    Role::Service,
];
/// A plan is "due" within this window before its due time.
const DUE_WINDOW: Duration = Duration::hours(24);
const MAX_CONTENT_CHARS: usize = 2_000;

fn kind(field: &str, k: i32) -> Result<i32> {
    match pb::FollowUpKind::try_from(k) {
        Ok(pb::FollowUpKind::Unspecified) | Err(_) => Err(Error::invalid(
            field,
            "call, wechat, visit or note is required",
        )),
        Ok(k) => Ok(k as i32),
    }
}

fn record_proto(r: &RecordRow) -> pb::FollowUpRecord {
    pb::FollowUpRecord {
        record_id: r.record_id.clone(),
        customer_id: r.customer_id.clone(),
        manager_id: r.manager_id.clone(),
        kind: r.kind,
        content: r.content.clone(),
        occurred_at: Some(timestamp_us(r.occurred_at_us)),
        plan_id: r.plan_id.clone(),
    }
}

fn status_of(p: &PlanRow, now: chrono::DateTime<Utc>) -> FollowUpPlanStatus {
    if !p.superseded_by.is_empty() {
        return FollowUpPlanStatus::Superseded;
    }
    let at = |us: i64| chrono::DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    match plan_status(at(p.due_at_us), p.completed_at_us.map(at), now, DUE_WINDOW) {
        PlanStatus::Upcoming => FollowUpPlanStatus::Open,
        PlanStatus::DueSoon => FollowUpPlanStatus::Due,
        PlanStatus::Overdue => FollowUpPlanStatus::Overdue,
        PlanStatus::Completed { .. } => FollowUpPlanStatus::Completed,
    }
}

fn plan_proto(p: &PlanRow, now: chrono::DateTime<Utc>) -> pb::FollowUpPlan {
    pb::FollowUpPlan {
        plan_id: p.plan_id.clone(),
        customer_id: p.customer_id.clone(),
        manager_id: p.manager_id.clone(),
        kind: p.kind,
        title: p.title.clone(),
        due_at: Some(timestamp_us(p.due_at_us)),
        status: status_of(p, now) as i32,
        source: p.source.clone(),
        complete_time: p.completed_at_us.map(timestamp_us),
        superseded_by: p.superseded_by.clone(),
    }
}

pub(super) async fn create_record(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::CreateFollowUpRecordRequest,
) -> Result<pb::CreateFollowUpRecordResponse> {
    let chain = caller.chain()?;
    caller.require_role(STAFF)?;
    let record = r
        .record
        .ok_or_else(|| Error::invalid("record", "is required"))?;
    let customer_id = required("customer_id", &r.customer_id)?;
    let now = Utc::now();
    let occurred = match &record.occurred_at {
        Some(ts) => time_of("record.occurred_at", Some(ts))?,
        None => now,
    };
    if occurred - now > Duration::minutes(10) {
        return Err(Error::invalid("record.occurred_at", "lies in the future"));
    }
    if record.content.trim().is_empty() {
        return Err(Error::invalid("record.content", "is required"));
    }
    check_max_chars_public("record.content", &record.content, MAX_CONTENT_CHARS)
        .map_err(|e| Error::field("", &e))?;
    let row = RecordRow {
        record_id: uuid::Uuid::now_v7().to_string(),
        customer_id: String::new(),
        manager_id: if record.manager_id.trim().is_empty() {
            caller.staff_id.clone()
        } else {
            record.manager_id.trim().to_owned()
        },
        kind: kind("record.kind", record.kind)?,
        content: record.content.clone(),
        occurred_at_us: occurred.timestamp_micros(),
        plan_id: record.plan_id.trim().to_owned(),
    };
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) =
        idempotency::recall(&txn, chain, "CreateFollowUpRecord", &r.request_id).await?
    {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    let customer = live_customer(&txn, chain, customer_id).await?;
    require_customer_writer(&txn, chain, &customer, caller).await?;
    let row = RecordRow {
        customer_id: customer.customer_id.clone(),
        ..row
    };
    followups::insert_record(&txn, chain, &row, now.timestamp_micros()).await?;
    if !row.plan_id.is_empty() {
        followups::get_plan(&txn, chain, &row.plan_id)
            .await?
            .ok_or_else(|| Error::invalid("record.plan_id", "no such plan"))?;
        followups::complete_plan(
            &txn,
            chain,
            &row.plan_id,
            &row.record_id,
            now.timestamp_micros(),
        )
        .await?;
    }
    api.runtime
        .events
        .append(
            &txn,
            chain,
            EventScope {
                customer_id: row.customer_id.clone(),
                store_id: customer.home_store_id.clone(),
                manager_id: row.manager_id.clone(),
            },
            Payload::FollowUpRecorded(FollowUpRecorded {
                record_id: row.record_id.clone(),
                customer_id: row.customer_id.clone(),
                manager_id: row.manager_id.clone(),
            }),
        )
        .await?;
    let response = pb::CreateFollowUpRecordResponse {
        record: Some(record_proto(&row)),
    };
    idempotency::remember(
        &txn,
        chain,
        "CreateFollowUpRecord",
        &r.request_id,
        &response,
    )
    .await?;
    txn.commit().await?;
    api.runtime.events.committed();
    Ok(response)
}

pub(super) async fn list_records(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListFollowUpRecordsRequest,
) -> Result<pb::ListFollowUpRecordsResponse> {
    let chain = caller.chain()?;
    caller.require_role(STAFF)?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let customer = Some(r.customer_id.trim()).filter(|c| !c.is_empty());
    let mut manager = Some(r.manager_id.trim().to_owned()).filter(|m| !m.is_empty());
    if caller.role == Role::CustomerManager && customer.is_none() {
        manager = Some(caller.staff_id.clone());
    }
    if let Some(id) = customer {
        let row = live_customer(&api.runtime.db, chain, id).await?;
        require_customer_scope(&api.runtime.db, chain, &row, caller).await?;
    }
    let rows = followups::list_records(
        &api.runtime.db,
        chain,
        customer,
        manager.as_deref(),
        offset,
        size,
    )
    .await?;
    Ok(pb::ListFollowUpRecordsResponse {
        next_page_token: next_page(offset, size, rows.len()),
        records: rows.iter().map(record_proto).collect(),
    })
}

pub(super) async fn create_plan(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::CreateFollowUpPlanRequest,
) -> Result<pb::CreateFollowUpPlanResponse> {
    let chain = caller.chain()?;
    caller.require_role(STAFF)?;
    let plan = r
        .plan
        .ok_or_else(|| Error::invalid("plan", "is required"))?;
    let customer_id = required("plan.customer_id", &plan.customer_id)?;
    let due = time_of("plan.due_at", plan.due_at.as_ref())?;
    let title = required("plan.title", &plan.title)?.to_owned();
    let source = plan_source(&plan.source, caller.role == Role::Service)
        .map_err(|e| Error::field("", &e))?;
    let now = Utc::now();
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) =
        idempotency::recall(&txn, chain, "CreateFollowUpPlan", &r.request_id).await?
    {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    let customer = live_customer(&txn, chain, customer_id).await?;
    require_customer_writer(&txn, chain, &customer, caller).await?;
    let row = PlanRow {
        plan_id: uuid::Uuid::now_v7().to_string(),
        customer_id: customer.customer_id.clone(),
        manager_id: if plan.manager_id.trim().is_empty() {
            caller.staff_id.clone()
        } else {
            plan.manager_id.trim().to_owned()
        },
        kind: kind("plan.kind", plan.kind)?,
        title,
        due_at_us: due.timestamp_micros(),
        source,
        completed_at_us: None,
        record_id: String::new(),
        source_event_id: String::new(),
        superseded_by: String::new(),
    };
    followups::insert_plan(&txn, chain, &row, now.timestamp_micros()).await?;
    let response = pb::CreateFollowUpPlanResponse {
        plan: Some(plan_proto(&row, now)),
    };
    idempotency::remember(&txn, chain, "CreateFollowUpPlan", &r.request_id, &response).await?;
    txn.commit().await?;
    Ok(response)
}

pub(super) async fn list_plans(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListFollowUpPlansRequest,
) -> Result<pb::ListFollowUpPlansResponse> {
    let chain = caller.chain()?;
    caller.require_role(STAFF)?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let now = Utc::now();
    let mut filter = PlanFilter {
        manager_id: Some(r.manager_id.trim().to_owned()).filter(|m| !m.is_empty()),
        customer_id: Some(r.customer_id.trim().to_owned()).filter(|c| !c.is_empty()),
        ..PlanFilter::default()
    };
    if caller.role == Role::CustomerManager && filter.manager_id.is_none() {
        filter.manager_id = Some(caller.staff_id.clone());
    }
    let statuses: Vec<FollowUpPlanStatus> = r
        .statuses
        .iter()
        .filter_map(|s| FollowUpPlanStatus::try_from(*s).ok())
        .collect();
    // Closed plans (completed, superseded) only when asked for.
    let closed = |s: FollowUpPlanStatus| {
        matches!(
            s,
            FollowUpPlanStatus::Completed | FollowUpPlanStatus::Superseded
        )
    };
    let wants = |s: FollowUpPlanStatus| statuses.is_empty() && !closed(s) || statuses.contains(&s);
    filter.superseded = wants(FollowUpPlanStatus::Superseded);
    filter.completed = match (
        wants(FollowUpPlanStatus::Completed) || filter.superseded,
        [
            FollowUpPlanStatus::Open,
            FollowUpPlanStatus::Due,
            FollowUpPlanStatus::Overdue,
        ]
        .iter()
        .any(|s| wants(*s)),
    ) {
        (true, false) => Some(true),
        (false, _) => Some(false),
        (true, true) => None,
    };
    if !wants(FollowUpPlanStatus::Open)
        && !wants(FollowUpPlanStatus::Completed)
        && !filter.superseded
    {
        // Due and/or overdue only: plans due before the end of the due window.
        filter.due_before_us = Some((now + DUE_WINDOW).timestamp_micros());
    }
    let rows = followups::list_plans(&api.runtime.db, chain, &filter, offset, size).await?;
    let got = rows.len();
    let plans = rows
        .iter()
        .map(|p| plan_proto(p, now))
        .filter(|p| {
            let s =
                FollowUpPlanStatus::try_from(p.status).unwrap_or(FollowUpPlanStatus::Unspecified);
            wants(s)
        })
        .collect();
    Ok(pb::ListFollowUpPlansResponse {
        next_page_token: next_page(offset, size, got),
        plans,
    })
}

pub(super) async fn complete_plan(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::CompleteFollowUpPlanRequest,
) -> Result<pb::CompleteFollowUpPlanResponse> {
    let chain = caller.chain()?;
    caller.require_role(STAFF)?;
    let plan_id = required("plan_id", &r.plan_id)?;
    let now = Utc::now();
    let txn = begin_write(&api.runtime.db).await?;
    let plan = followups::get_plan(&txn, chain, plan_id)
        .await?
        .ok_or_else(|| Error::not_found("follow-up plan", plan_id))?;
    if caller.role == Role::CustomerManager && plan.manager_id != caller.staff_id {
        return Err(Error::PermissionDenied(
            "the plan belongs to another manager".into(),
        ));
    }
    if !plan.superseded_by.is_empty() {
        return Err(Error::FailedPrecondition {
            field: "plan_id".into(),
            message: format!(
                "the plan was superseded by plan {}; complete that one",
                plan.superseded_by
            ),
        });
    }
    if !r.record_id.trim().is_empty()
        && followups::get_record(&txn, chain, r.record_id.trim())
            .await?
            .is_none()
    {
        return Err(Error::invalid("record_id", "no such follow-up record"));
    }
    // Completing twice keeps the first completion.
    followups::complete_plan(
        &txn,
        chain,
        plan_id,
        r.record_id.trim(),
        now.timestamp_micros(),
    )
    .await?;
    let plan = followups::get_plan(&txn, chain, plan_id)
        .await?
        .ok_or_else(|| Error::not_found("follow-up plan", plan_id))?;
    txn.commit().await?;
    Ok(pb::CompleteFollowUpPlanResponse {
        plan: Some(plan_proto(&plan, now)),
    })
}
