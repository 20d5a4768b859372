//! Policy RPCs: GetPolicy (effective: defaults ← chain ← store), UpdatePolicy (field
//! mask; the result is validated by `domain::policy` before anything is stored; a value
//! lock turned on or changed starts a lock review, `app::lock_review`) and
//! GetLockReview.

use std::sync::Arc;

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_proto::assignment::v1 as pb;

use super::scope;
use crate::app::Engine;
use crate::convert::{default_fields, fields_to_proto, fields_to_spec};
use crate::domain::policy::AssignmentPolicy;
use crate::domain::policy::ValueLockPolicy;
use crate::error::Error;
use crate::storage::policies::{self, PolicyFields};

const FIELDS: [&str; 6] = [
    "value_lock_threshold_fen",
    "value_window_days",
    "lock_expiry_days",
    "strategy",
    "monthly_daily_cap",
    "lock_crossing",
];

pub async fn get_policy(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetPolicyRequest,
) -> Result<pb::GetPolicyResponse, Error> {
    let chain_id = scope::chain(caller)?;
    if !request.store_id.is_empty() {
        scope::require_store(caller, &request.store_id)?;
    }
    let policy = engine.effective_policy(chain_id, &request.store_id).await?;
    Ok(pb::GetPolicyResponse {
        policy: Some(fields_to_proto(&request.store_id, &policy.fields)),
    })
}

/// Sets the masked field of `fields` from `policy`, validating what the proto allows.
fn apply_path(fields: &mut PolicyFields, policy: &pb::Policy, path: &str) -> Result<(), Error> {
    let non_negative = |field: &str, value: i32| {
        if value < 0 {
            Err(Error::invalid(
                format!("policy.{field}"),
                "must not be negative (0 = none)",
            ))
        } else {
            Ok(Some(value))
        }
    };
    match path {
        "value_lock_threshold_fen" => {
            // 0 = no value lock, as every other "0 = none" field of the contract (a store
            // override of 0 turns the chain's lock off at that store; `convert`).
            if policy.value_lock_threshold_fen < 0 {
                return Err(Error::invalid(
                    "policy.value_lock_threshold_fen",
                    "must not be negative (0 = no value lock)",
                ));
            }
            fields.value_lock_threshold_fen = Some(policy.value_lock_threshold_fen);
        }
        "value_window_days" => {
            fields.value_window_days = non_negative(path, policy.value_window_days)?
        }
        "lock_expiry_days" => {
            fields.lock_expiry_days = non_negative(path, policy.lock_expiry_days)?
        }
        "monthly_daily_cap" => {
            fields.monthly_daily_cap = non_negative(path, policy.monthly_daily_cap)?
        }
        "strategy" => {
            if pb::Strategy::try_from(policy.strategy).unwrap_or_default()
                == pb::Strategy::Unspecified
            {
                return Err(Error::invalid("policy.strategy", "must be a strategy"));
            }
            fields.strategy = Some(policy.strategy);
        }
        "lock_crossing" => {
            if pb::LockCrossing::try_from(policy.lock_crossing).unwrap_or_default()
                == pb::LockCrossing::Unspecified
            {
                return Err(Error::invalid(
                    "policy.lock_crossing",
                    "must be a crossing rule",
                ));
            }
            fields.lock_crossing = Some(policy.lock_crossing);
        }
        other => {
            return Err(Error::invalid(
                "update_mask",
                format!("unknown field `{other}`"),
            ));
        }
    }
    Ok(())
}

/// The value lock `fields` make effective, if any (threshold and window: what decides who
/// is locked).
fn value_lock_of(
    fields: &crate::storage::policies::PolicyFields,
) -> Result<Option<ValueLockPolicy>, Error> {
    let rules =
        AssignmentPolicy::try_from(fields_to_spec(fields)?).map_err(Error::rule("policy"))?;
    Ok(rules.value_lock().copied())
}

pub async fn update_policy(
    engine: &Arc<Engine>,
    caller: &Caller,
    request: pb::UpdatePolicyRequest,
) -> Result<pb::UpdatePolicyResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let policy = request
        .policy
        .ok_or_else(|| Error::invalid("policy", "is required"))?;
    let store_id = policy.store_id.trim().to_owned();
    if store_id.is_empty() {
        scope::require_role(caller, &[Role::HqAdmin, Role::Service])?;
    } else {
        scope::require_role(caller, scope::ADMINS)?;
        scope::require_store(caller, &store_id)?;
    }
    let paths: Vec<String> = match request.update_mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths,
        _ => FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    };
    let db = &engine.runtime.db;
    let mut level = policies::get(db, chain_id, &store_id).await?;
    let chain_level = policies::get(db, chain_id, "").await?;
    let effective_of = |level: &PolicyFields| {
        if store_id.is_empty() {
            default_fields().overlaid(level)
        } else {
            default_fields().overlaid(&chain_level).overlaid(level)
        }
    };
    let effective_before = effective_of(&level);
    let lock_before = value_lock_of(&effective_before).ok().flatten();
    for path in &paths {
        let path = path.strip_prefix("policy.").unwrap_or(path);
        apply_path(&mut level, &policy, path)?;
    }
    // Validate the policy this change makes effective for the level it changes.
    let effective = effective_of(&level);
    let lock_after = value_lock_of(&effective)?;
    let txn = maitre_kit::db::begin_write(db).await?;
    policies::put(
        &txn,
        chain_id,
        &store_id,
        &level,
        Utc::now().timestamp_micros(),
    )
    .await?;
    // The level's effective policy before and after (a store's shows the chain's values it
    // inherits, as GetPolicy does).
    maitre_kit::audit::record(
        &txn,
        &maitre_kit::audit::Actor::of(caller),
        chain_id,
        maitre_kit::audit::Change {
            action: "assignment.policy.update",
            target_type: "policy",
            target_id: if store_id.is_empty() {
                "chain"
            } else {
                &store_id
            },
            before: maitre_kit::audit::json_of(&fields_to_proto(&store_id, &effective_before)),
            after: maitre_kit::audit::json_of(&fields_to_proto(&store_id, &effective)),
        },
    )
    .await?;
    txn.commit().await?;
    engine.forget_policies(chain_id);
    // A lock is otherwise earned only by crossing the threshold: customers already past a
    // new or lowered threshold (or a new window) are evaluated by a review.
    let review_due = lock_after.is_some_and(|after| {
        lock_before.is_none_or(|before| {
            (before.threshold_fen(), before.window()) != (after.threshold_fen(), after.window())
        })
    });
    let lock_review = if review_due {
        let job = engine
            .start_lock_review(chain_id, &store_id, &caller.staff_id)
            .await?;
        Some(crate::app::progress(&job))
    } else {
        None
    };
    Ok(pb::UpdatePolicyResponse {
        policy: Some(fields_to_proto(&store_id, &effective)),
        lock_review,
    })
}

pub async fn get_lock_review(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetLockReviewRequest,
) -> Result<pb::GetLockReviewResponse, Error> {
    let chain_id = scope::chain(caller)?;
    scope::require_role(caller, scope::ADMINS)?;
    let job_id = request.job_id.trim();
    if job_id.is_empty() {
        return Err(Error::invalid("job_id", "is required"));
    }
    let (job, locked) = engine.lock_review(chain_id, job_id).await?;
    Ok(pb::GetLockReviewResponse {
        progress: Some(crate::app::progress(&job)),
        locked_per_manager: locked.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_fields_are_set_and_unknown_paths_refused() {
        let mut fields = PolicyFields::default();
        let policy = pb::Policy {
            value_window_days: 90,
            ..Default::default()
        };
        apply_path(&mut fields, &policy, "value_window_days").expect("valid");
        assert_eq!(fields.value_window_days, Some(90));
        assert!(matches!(
            apply_path(&mut fields, &policy, "colour"),
            Err(Error::InvalidArgument { field, .. }) if field == "update_mask"
        ));
        let negative = pb::Policy {
            lock_expiry_days: -1,
            ..Default::default()
        };
        assert!(matches!(
            apply_path(&mut fields, &negative, "lock_expiry_days"),
            Err(Error::InvalidArgument { field, .. }) if field == "policy.lock_expiry_days"
        ));
        assert!(apply_path(&mut fields, &pb::Policy::default(), "strategy").is_err());
    }
}
