//! Storage rows ↔ proto messages, and the roles each family of calls admits.

use maitre_kit::auth::Role;
use maitre_proto::{
    common::v1::JobProgress,
    tagging::v1::{Segment, Tag},
};
use prost_types::Timestamp;

use crate::{
    domain::catalog::Lifecycle,
    storage::{
        catalog::{
            LIFECYCLE_ACTIVE, LIFECYCLE_DEPRECATED, LIFECYCLE_DRAFT, LIFECYCLE_RETIRED, TagRow,
        },
        jobs::JobRow,
        segments::SegmentRow,
    },
};

/// Who may change the catalog, start recomputes.
pub const CATALOG_ADMINS: &[Role] = &[Role::HqAdmin, Role::Service];
/// Who may tag customers by hand and save segments (seed 002 §1: 店长、客户经理可手动打标).
pub const TAGGERS: &[Role] = &[
    Role::HqAdmin,
    Role::StoreManager,
    Role::CustomerManager,
    Role::Service,
];
/// Who may list customers in bulk (members, previews, exports): not the front desk.
pub const AUDIENCE_READERS: &[Role] = TAGGERS;

pub fn timestamp(micros: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    })
}

pub fn tag_message(row: &TagRow, member_count: i64) -> Tag {
    Tag {
        tag_id: row.tag_id.clone(),
        name: row.name.clone(),
        display_name: row.display_name.clone(),
        category: row.category as i32,
        source: row.source as i32,
        lifecycle: row.lifecycle as i32,
        description: row.description.clone(),
        owner: row.owner.clone(),
        rule: row.rule.clone(),
        rule_version: i32::try_from(row.rule_version).unwrap_or(i32::MAX),
        member_count,
        create_time: timestamp(row.created_at_us),
        update_time: timestamp(row.updated_at_us),
        model: row.model.clone(),
    }
}

pub fn lifecycle_of(stored: i64) -> Option<Lifecycle> {
    match stored {
        LIFECYCLE_DRAFT => Some(Lifecycle::Draft),
        LIFECYCLE_ACTIVE => Some(Lifecycle::Active),
        LIFECYCLE_DEPRECATED => Some(Lifecycle::Deprecated),
        LIFECYCLE_RETIRED => Some(Lifecycle::Retired),
        _ => None,
    }
}

pub fn lifecycle_number(lifecycle: Lifecycle) -> i64 {
    match lifecycle {
        Lifecycle::Draft => LIFECYCLE_DRAFT,
        Lifecycle::Active => LIFECYCLE_ACTIVE,
        Lifecycle::Deprecated => LIFECYCLE_DEPRECATED,
        Lifecycle::Retired => LIFECYCLE_RETIRED,
    }
}

pub fn job_message(job: &JobRow) -> JobProgress {
    JobProgress {
        job_id: job.job_id.clone(),
        state: job.state as i32,
        done: job.done,
        total: job.total,
        failed: job.failed,
        error: job.error.clone(),
    }
}

pub fn segment_message(row: &SegmentRow) -> Segment {
    Segment {
        segment_id: row.segment_id.clone(),
        name: row.name.clone(),
        expression: row.expression.clone(),
        description: row.description.clone(),
        watched: row.watched,
        create_time: timestamp(row.created_at_us),
    }
}
