//! SummarizeFollowUps: one manager's follow-up counts for a period (assignment's manager
//! stats). HQ and internal services see any manager of the chain, a customer manager only
//! themselves, a store manager the follow-ups of customers of their stores.

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_proto::profile::v1 as pb;

use super::ProfileServiceApi;
use crate::{
    convert::{required, time_of},
    error::{Error, Result},
    storage::followup_summary::{self, Period},
};

pub(super) async fn summarize(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::SummarizeFollowUpsRequest,
) -> Result<pb::SummarizeFollowUpsResponse> {
    let chain = caller.chain()?;
    let manager_id = required("manager_id", &r.manager_id)?;
    let start = time_of("period_start", r.period_start.as_ref())?;
    let end = time_of("period_end", r.period_end.as_ref())?;
    if end <= start {
        return Err(Error::invalid("period_end", "must be after period_start"));
    }
    let stores = match caller.role {
        Role::HqAdmin | Role::Service => None,
        Role::StoreManager => Some(caller.stores.as_slice()),
        Role::CustomerManager if caller.staff_id == manager_id => None,
        _ => {
            return Err(Error::PermissionDenied(format!(
                "may not read the follow-ups of manager `{manager_id}`"
            )));
        }
    };
    let period = Period {
        start_us: start.timestamp_micros(),
        end_us: end.timestamp_micros(),
        now_us: Utc::now().timestamp_micros(),
    };
    let summary =
        followup_summary::of_manager(&api.runtime.db, chain, manager_id, &period, stores).await?;
    Ok(pb::SummarizeFollowUpsResponse {
        plans_completed: summary.plans_completed,
        records: summary.records,
        plans_overdue: summary.plans_overdue,
    })
}
