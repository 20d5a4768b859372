//! `asg_policy`: the chain policy (`store_id = ''`) and each store's override, stored as
//! the fields that were set (proto meanings: 0 days = lifetime / never, 0 cap = none).
//! The effective policy is defaults ← chain ← store; the domain validates the result.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::{exec, one};
use crate::error::Error;

/// The policy fields set at one level; `None` inherits from the level above.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFields {
    pub value_lock_threshold_fen: Option<i64>,
    pub value_window_days: Option<i32>,
    pub lock_expiry_days: Option<i32>,
    /// Proto `Strategy` number.
    pub strategy: Option<i32>,
    pub monthly_daily_cap: Option<i32>,
    /// Proto `LockCrossing` number.
    pub lock_crossing: Option<i32>,
    /// IANA zone of the store (from profile's `StoreChanged`).
    pub time_zone: Option<String>,
}

impl PolicyFields {
    /// `self` with every field `over` sets replacing ours.
    pub fn overlaid(&self, over: &PolicyFields) -> PolicyFields {
        PolicyFields {
            value_lock_threshold_fen: over
                .value_lock_threshold_fen
                .or(self.value_lock_threshold_fen),
            value_window_days: over.value_window_days.or(self.value_window_days),
            lock_expiry_days: over.lock_expiry_days.or(self.lock_expiry_days),
            strategy: over.strategy.or(self.strategy),
            monthly_daily_cap: over.monthly_daily_cap.or(self.monthly_daily_cap),
            lock_crossing: over.lock_crossing.or(self.lock_crossing),
            time_zone: over.time_zone.clone().or_else(|| self.time_zone.clone()),
        }
    }
}

/// The fields stored for the chain (`store_id = ""`) or a store; empty when none.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
) -> Result<PolicyFields, Error> {
    let row = one(
        conn,
        "SELECT fields FROM asg_policy WHERE chain_id = $1 AND store_id = $2",
        [chain_id.into(), store_id.into()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(PolicyFields::default());
    };
    let fields: String = row.try_get_by_index(0)?;
    serde_json::from_str(&fields).map_err(|e| Error::Corrupt {
        what: "policy",
        reason: e.to_string(),
    })
}

pub async fn put(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
    fields: &PolicyFields,
    now_us: i64,
) -> Result<(), Error> {
    let json = serde_json::to_string(fields).map_err(|e| Error::Corrupt {
        what: "policy",
        reason: e.to_string(),
    })?;
    exec(
        conn,
        "INSERT INTO asg_policy (chain_id, store_id, fields, updated_at_us) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain_id, store_id) DO UPDATE SET fields = excluded.fields, updated_at_us = excluded.updated_at_us",
        [chain_id.into(), store_id.into(), json.into(), now_us.into()],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_fields_override_only_what_they_set() {
        let chain = PolicyFields {
            value_lock_threshold_fen: Some(500_000),
            strategy: Some(1),
            ..Default::default()
        };
        let store = PolicyFields {
            strategy: Some(3),
            ..Default::default()
        };
        let effective = chain.overlaid(&store);
        assert_eq!(effective.value_lock_threshold_fen, Some(500_000));
        assert_eq!(effective.strategy, Some(3));
        assert_eq!(effective.time_zone, None);
    }
}
