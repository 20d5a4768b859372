//! What assignment does with profile's events (consumed in `crate::events`, the cursor
//! committed with the effect): contacts (`ContactRecorded`, decided exactly as
//! `AssignOnContact` decides them and keyed by the same event id — see `contact`), merges (the survivor takes the locked owner,
//! else the latest contact's — `domain::merge`), erasures (drop the free text staff wrote
//! about the guest; ownership and anonymous aggregates stay) and store time zones (the
//! store-local day of the even splits).

use chrono::Utc;
use maitre_proto::events::v1::{CustomerErased, CustomerMerged, StoreChanged};
use sea_orm::DatabaseTransaction;

use super::{Change, ChangeContext, Engine};
use crate::domain::explain::Facts;
use crate::domain::merge::{MergeSide, merge_owners};
use crate::domain::ownership::lock_reached_threshold;
use crate::error::Error;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::{contacts, decisions, policies};
use crate::time::from_micros;

fn side(row: &CustomerRow) -> MergeSide {
    MergeSide {
        state: row.state(),
        last_contact_at: (row.last_contact_us != 0).then(|| from_micros(row.last_contact_us)),
    }
}

impl Engine {
    /// Applies a merge in `txn`; the customers whose rows changed.
    pub async fn apply_merge(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        merged: &CustomerMerged,
    ) -> Result<Vec<String>, Error> {
        let mut touched = vec![merged.survivor_id.clone()];
        for absorbed_id in &merged.absorbed_ids {
            if absorbed_id == &merged.survivor_id {
                continue;
            }
            let Some(absorbed) = customers::get(txn, chain_id, absorbed_id).await? else {
                continue;
            };
            touched.push(absorbed_id.clone());
            contacts::repoint(txn, chain_id, absorbed_id, &merged.survivor_id).await?;
            customers::delete(txn, chain_id, absorbed_id).await?;
            let survivor = match customers::get(txn, chain_id, &merged.survivor_id).await? {
                Some(row) => row,
                None => {
                    // The survivor was never seen here: it starts from nobody.
                    let row = CustomerRow::new(&merged.survivor_id, &absorbed.store_id);
                    customers::insert(txn, chain_id, &row).await?;
                    customers::get(txn, chain_id, &merged.survivor_id)
                        .await?
                        .ok_or_else(|| Error::not_found("customer", &merged.survivor_id))?
                }
            };
            let now = Utc::now();
            let decision = merge_owners(&side(&survivor), &side(&absorbed), now);
            let mut after = survivor.clone();
            after.set_state(&decision.next);
            after.last_contact_us = survivor.last_contact_us.max(absorbed.last_contact_us);
            after.last_visit_us = survivor.last_visit_us.max(absorbed.last_visit_us);
            after.counted_spend_fen = survivor
                .counted_spend_fen
                .saturating_add(absorbed.counted_spend_fen);
            if decision.next.owner != survivor.state().owner {
                after.reason = crate::domain::HistoryReason::Merge.as_str().to_owned();
                after.since_us = now.timestamp_micros();
                after.store_id.clone_from(&absorbed.store_id);
            }
            // The two records' spend adds up: past the value lock without a crossing, the
            // survivor is locked to the owner the merge left them with.
            let mut history = decision.history.clone();
            let policy = self.effective_policy(chain_id, &after.store_id).await?;
            let spend =
                super::lock_review::counted_spend_now(txn, chain_id, &after, &policy.rules, now)
                    .await?;
            if let Some(lock) = lock_reached_threshold(&after.state(), &policy.rules, spend, now) {
                after.set_state(&lock.next);
                after.reason = crate::domain::HistoryReason::ValueLock.as_str().to_owned();
                history.extend(lock.history);
            }
            let context = ChangeContext {
                actor: "system".to_owned(),
                skip_capacity: true,
                facts: Facts {
                    absorbed_id: absorbed_id.clone(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let change = Change {
                before: &survivor,
                after,
                history: &history,
                context: &context,
            };
            self.write_change(txn, chain_id, change).await?;
        }
        Ok(touched)
    }

    /// Erasure: ownership stays (anonymous), staff notes about the guest go.
    pub async fn apply_erasure(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        erased: &CustomerErased,
    ) -> Result<Vec<String>, Error> {
        decisions::clear_notes(txn, chain_id, &erased.customer_id).await?;
        if let Some(row) = customers::get(txn, chain_id, &erased.customer_id).await? {
            let mut after = row.clone();
            after.erased = true;
            if !customers::update_if_version(txn, chain_id, &after, row.version).await? {
                return Err(Error::Conflict {
                    customer_id: row.customer_id,
                });
            }
        }
        Ok(vec![erased.customer_id.clone()])
    }

    /// A store's time zone defines its day and month for the even splits.
    pub async fn apply_store(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        store: &StoreChanged,
    ) -> Result<(), Error> {
        if store.time_zone.is_empty() || store.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Ok(());
        }
        let mut fields = policies::get(txn, chain_id, &store.store_id).await?;
        if fields.time_zone.as_deref() == Some(store.time_zone.as_str()) {
            return Ok(());
        }
        fields.time_zone = Some(store.time_zone.clone());
        policies::put(
            txn,
            chain_id,
            &store.store_id,
            &fields,
            Utc::now().timestamp_micros(),
        )
        .await?;
        self.forget_policies(chain_id);
        Ok(())
    }
}
