//! Proto ↔ domain mappings: statuses, reasons, ownership and decisions, policies.

use maitre_proto::assignment::v1 as pb;

use crate::domain::HistoryReason;
use crate::domain::policy::{AllocationStrategy, AssignmentPolicySpec, LockOwnerOnCrossing};
use crate::domain::roster::ManagerStatus;
use crate::error::Error;
use crate::storage::customers::CustomerRow;
use crate::storage::decisions::DecisionRow;
use crate::storage::managers::ManagerRow;
use crate::storage::policies::PolicyFields;
use crate::time::micros_to_timestamp;

pub fn status_from_proto(field: &str, status: i32) -> Result<ManagerStatus, Error> {
    match pb::ManagerStatus::try_from(status) {
        Ok(pb::ManagerStatus::OnDuty) => Ok(ManagerStatus::OnDuty),
        Ok(pb::ManagerStatus::OffDuty) => Ok(ManagerStatus::OffDuty),
        Ok(pb::ManagerStatus::Left) => Ok(ManagerStatus::Left),
        _ => Err(Error::invalid(field, "must be ON_DUTY, OFF_DUTY or LEFT")),
    }
}

pub fn status_to_proto(status: ManagerStatus) -> pb::ManagerStatus {
    match status {
        ManagerStatus::OnDuty => pb::ManagerStatus::OnDuty,
        ManagerStatus::OffDuty => pb::ManagerStatus::OffDuty,
        ManagerStatus::Left => pb::ManagerStatus::Left,
    }
}

pub fn reason_to_proto(reason: Option<HistoryReason>) -> pb::Reason {
    match reason {
        None => pb::Reason::Unspecified,
        Some(HistoryReason::LastContact) => pb::Reason::LastContact,
        Some(HistoryReason::ValueLock) => pb::Reason::ValueLock,
        Some(HistoryReason::DailyEvenSplit) => pb::Reason::DailyEvenSplit,
        Some(HistoryReason::MonthlyEvenSplit) => pb::Reason::MonthlyEvenSplit,
        Some(HistoryReason::DailyRotation) => pb::Reason::DailyRotation,
        Some(HistoryReason::Transfer) => pb::Reason::Transfer,
        Some(HistoryReason::BulkTransfer) => pb::Reason::BulkTransfer,
        Some(HistoryReason::Unlock) => pb::Reason::Unlock,
        Some(HistoryReason::Expiry) => pb::Reason::Expiry,
        Some(HistoryReason::Merge) => pb::Reason::Merge,
        Some(HistoryReason::Unassigned) => pb::Reason::Unassigned,
        Some(HistoryReason::ManualLock) => pb::Reason::ManualLock,
    }
}

pub fn manager_to_proto(row: &ManagerRow) -> pb::Manager {
    pb::Manager {
        manager_id: row.manager_id.clone(),
        name: row.name.clone(),
        store_ids: row.store_ids.clone(),
        capacity: row.capacity,
        status: status_to_proto(row.status) as i32,
        owned_count: row.owned_count,
        roster_position: i32::try_from(row.roster_position).unwrap_or(i32::MAX),
    }
}

pub fn ownership_to_proto(row: &CustomerRow) -> pb::Ownership {
    pb::Ownership {
        customer_id: row.customer_id.clone(),
        manager_id: row.manager_id.clone(),
        locked: row.lock.is_some(),
        reason: reason_to_proto(row.reason()) as i32,
        since: micros_to_timestamp(row.since_us),
        locked_at: row
            .lock
            .map(|lock| crate::time::to_timestamp(lock.locked_at)),
        counted_spend_fen: row.counted_spend_fen,
        last_contact_time: micros_to_timestamp(row.last_contact_us),
        store_id: row.store_id.clone(),
        unassigned_reason: row.pool_reason.clone(),
    }
}

pub fn decision_to_proto(row: &DecisionRow) -> pb::Decision {
    let explanation = if row.note.is_empty() {
        row.explanation.clone()
    } else {
        format!("{} (note: {})", row.explanation, row.note)
    };
    pb::Decision {
        decision_id: row.decision_id.clone(),
        customer_id: row.customer_id.clone(),
        from_manager_id: row.from_manager_id.clone(),
        to_manager_id: row.to_manager_id.clone(),
        reason: reason_to_proto(HistoryReason::parse(&row.reason)) as i32,
        actor: row.actor.clone(),
        decide_time: micros_to_timestamp(row.decided_at_us),
        explanation,
        source_event_id: row.source_event_id.clone(),
        locked: row.locked_after,
    }
}

/// Defaults of a chain that never set its policy: no value lock, locks expire after 365 days
/// without a visit, daily even split, Shanghai time.
pub fn default_fields() -> PolicyFields {
    PolicyFields {
        value_lock_threshold_fen: None,
        value_window_days: Some(0),
        lock_expiry_days: Some(365),
        strategy: Some(pb::Strategy::DailyEvenSplit as i32),
        monthly_daily_cap: Some(0),
        lock_crossing: Some(pb::LockCrossing::OwnerBeforeContact as i32),
        time_zone: Some("Asia/Shanghai".to_owned()),
    }
}

fn positive_days(field: &str, value: Option<i32>) -> Result<Option<u32>, Error> {
    match value.unwrap_or(0) {
        0 => Ok(None),
        days => u32::try_from(days)
            .map(Some)
            .map_err(|_| Error::invalid(field, "must not be negative")),
    }
}

/// The domain spec of effective fields (validate it with `AssignmentPolicy::try_from`).
pub fn fields_to_spec(fields: &PolicyFields) -> Result<AssignmentPolicySpec, Error> {
    let strategy = match fields.strategy.map(pb::Strategy::try_from) {
        None | Some(Ok(pb::Strategy::DailyEvenSplit)) => AllocationStrategy::DailyEvenSplit,
        Some(Ok(pb::Strategy::MonthlyEvenSplit)) => AllocationStrategy::MonthlyEvenSplit,
        Some(Ok(pb::Strategy::DailyRotation)) => AllocationStrategy::DailyRotation,
        _ => return Err(Error::invalid("policy.strategy", "unknown strategy")),
    };
    let lock_owner_on_crossing = match fields.lock_crossing.map(pb::LockCrossing::try_from) {
        None | Some(Ok(pb::LockCrossing::OwnerBeforeContact)) => {
            LockOwnerOnCrossing::OwnerBeforeContact
        }
        Some(Ok(pb::LockCrossing::ContactManager)) => LockOwnerOnCrossing::ContactManager,
        _ => return Err(Error::invalid("policy.lock_crossing", "unknown value")),
    };
    Ok(AssignmentPolicySpec {
        // 0 at the contract's edge = no value lock (the domain refuses a threshold ≤ 0).
        value_lock_threshold_fen: fields.value_lock_threshold_fen.filter(|fen| *fen != 0),
        spend_window_days: positive_days("policy.value_window_days", fields.value_window_days)?,
        lock_owner_on_crossing,
        lock_expiry_days: positive_days("policy.lock_expiry_days", fields.lock_expiry_days)?,
        strategy,
        monthly_daily_cap: positive_days("policy.monthly_daily_cap", fields.monthly_daily_cap)?
            .map(u64::from),
        time_zone: fields
            .time_zone
            .clone()
            .unwrap_or_else(|| "Asia/Shanghai".to_owned()),
    })
}

pub fn fields_to_proto(store_id: &str, fields: &PolicyFields) -> pb::Policy {
    pb::Policy {
        store_id: store_id.to_owned(),
        value_lock_threshold_fen: fields.value_lock_threshold_fen.unwrap_or(0),
        value_window_days: fields.value_window_days.unwrap_or(0),
        lock_expiry_days: fields.lock_expiry_days.unwrap_or(0),
        strategy: fields.strategy.unwrap_or(0),
        monthly_daily_cap: fields.monthly_daily_cap.unwrap_or(0),
        lock_crossing: fields.lock_crossing.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::AssignmentPolicy;

    #[test]
    fn defaults_validate_and_zero_means_none() {
        let spec = fields_to_spec(&default_fields()).expect("valid");
        assert_eq!(spec.spend_window_days, None);
        assert_eq!(spec.lock_expiry_days, Some(365));
        assert_eq!(spec.monthly_daily_cap, None);
        assert!(AssignmentPolicy::try_from(spec).is_ok());
    }

    #[test]
    fn negative_days_and_unknown_enums_name_the_field() {
        let fields = PolicyFields {
            value_window_days: Some(-3),
            ..default_fields()
        };
        assert!(matches!(
            fields_to_spec(&fields),
            Err(Error::InvalidArgument { field, .. }) if field == "policy.value_window_days"
        ));
        let fields = PolicyFields {
            strategy: Some(42),
            ..default_fields()
        };
        assert!(matches!(
            fields_to_spec(&fields),
            Err(Error::InvalidArgument { field, .. }) if field == "policy.strategy"
        ));
    }

    #[test]
    fn every_reason_maps_to_a_proto_reason() {
        for reason in HistoryReason::ALL {
            assert_ne!(reason_to_proto(Some(reason)), pb::Reason::Unspecified);
        }
    }
}
