//! `AssignOnContact`: the per-contact decision (seed 二: last contact, value lock, expiry,
//! allocation of customers nobody booked with).
//!
//! Fast path — the owner does not change (a regular guest booking with their own manager,
//! an online booking of an owned customer, any booking of a locked one): for a contact
//! without spend, ONE coordination round trip (GET of the cached owner row) and the domain
//! rule on it; no database write. Contacts with spend always reach the database: they go
//! into the ledger the value lock counts. A cache miss reads the database once, and fills
//! the cache when the owner is kept.
//!
//! Slow path ([`Engine::apply_contact`]): in one transaction, record the contact (profile's
//! event id is the key: a replay changes nothing), read and lock the customer's row, read
//! the ledger when spend matters, decide, allocate if needed and write the change
//! conditionally on the version read.
//!
//! Two routes reach the slow path with the same contact: `AssignOnContact` (profile's fast
//! answer to the front desk) and profile's `ContactRecorded` stream
//! ([`Engine::apply_recorded_contact`], in the consumer's transaction). The stream is what
//! makes ownership survive an assignment outage, a timed-out call and a batch import (which
//! makes no call); whichever route comes second finds the event id recorded and changes
//! nothing. A contact answered by the fast path is recorded when the stream brings it, so
//! its time still counts as the last contact.

use chrono::{DateTime, Duration, Utc};
use maitre_proto::events::v1::ContactRecorded;
use sea_orm::DatabaseTransaction;

use super::{Allocated, Change, ChangeContext, Engine, retry_conflicts};
use crate::domain::HistoryReason;
use crate::domain::ManagerId;
use crate::domain::allocation::PoolReason;
use crate::domain::history::HistoryEntry;
use crate::domain::ownership::{Contact, assign_allocated, decide_on_contact};
use crate::domain::policy::SpendWindow;
use crate::domain::roster::{Manager, Roster};
use crate::domain::value_lock::{SpendEntry, counted_spend_fen};
use crate::error::Error;
use crate::storage::cache::{self, EffectivePolicy};
use crate::storage::contacts::{self, ContactRow};
use crate::storage::customers::{self, CustomerRow};
use crate::time::{from_micros, parse_timestamp};

/// One validated contact.
#[derive(Debug, Clone)]
pub struct ContactInput {
    pub chain_id: String,
    pub customer_id: String,
    pub store_id: String,
    /// Empty when the guest booked with nobody.
    pub contact_manager_id: String,
    pub amount_fen: i64,
    pub occurred_at: DateTime<Utc>,
    pub source_event_id: String,
    /// Profile's latest other contact of the customer (µs), when the caller says: the
    /// synchronous route's knowledge of contacts its stream has not brought yet.
    pub latest_other_contact_us: Option<i64>,
}

impl ContactInput {
    /// The contact as the spend ledger records it.
    pub(super) fn ledger_row(&self) -> ContactRow {
        ContactRow {
            source_event_id: self.source_event_id.clone(),
            customer_id: self.customer_id.clone(),
            store_id: self.store_id.clone(),
            manager_id: self.contact_manager_id.clone(),
            amount_fen: self.amount_fen,
            occurred_at_us: self.occurred_at.timestamp_micros(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ContactOutcome {
    pub row: CustomerRow,
    pub changed: bool,
}

impl Engine {
    pub async fn assign_on_contact(&self, input: ContactInput) -> Result<ContactOutcome, Error> {
        let policy = self
            .effective_policy(&input.chain_id, &input.store_id)
            .await?;
        if input.amount_fen == 0
            && let Some(outcome) = self.contact_fast_path(&input, &policy).await?
        {
            return Ok(outcome);
        }
        retry_conflicts(|| {
            let (input, policy) = (&input, policy.clone());
            async move {
                // No coordination lock here: the transaction locks the customer's row.
                cache::forget_owner(
                    self.runtime.coord.as_ref(),
                    &input.chain_id,
                    &input.customer_id,
                )
                .await;
                let result = self.contact_in_own_transaction(input, &policy).await;
                if let Ok(outcome) = &result {
                    cache::publish_owner(
                        self.runtime.coord.as_ref(),
                        &input.chain_id,
                        &outcome.row,
                    )
                    .await;
                }
                result
            }
        })
        .await
    }

    /// `Some` when the domain keeps the owner on the cached (or freshly loaded) row.
    async fn contact_fast_path(
        &self,
        input: &ContactInput,
        policy: &EffectivePolicy,
    ) -> Result<Option<ContactOutcome>, Error> {
        let coord = self.runtime.coord.as_ref();
        let (row, cached) = match cache::cached_owner(coord, &input.chain_id, &input.customer_id)
            .await
        {
            Some(row) => (row, true),
            None => {
                let Some(row) =
                    customers::get(&self.runtime.db, &input.chain_id, &input.customer_id).await?
                else {
                    return Ok(None);
                };
                (row, false)
            }
        };
        let contact = Contact {
            via_manager: (!input.contact_manager_id.is_empty())
                .then(|| ManagerId::new(&input.contact_manager_id)),
            spend_before_fen: row.counted_spend_fen,
            spend_after_fen: row.counted_spend_fen,
            last_visit_at: row.last_visit_at(),
        };
        let decision = decide_on_contact(&row.state(), &contact, &policy.rules, input.occurred_at);
        if !decision.is_fast_path() {
            // The slow path forgets and republishes the row around its write; filling the
            // cache here would only be undone.
            return Ok(None);
        }
        if !cached {
            cache::publish_owner(coord, &input.chain_id, &row).await;
        }
        Ok(Some(ContactOutcome {
            row,
            changed: false,
        }))
    }

    /// The slow path in a transaction of its own (the `AssignOnContact` route).
    async fn contact_in_own_transaction(
        &self,
        input: &ContactInput,
        policy: &EffectivePolicy,
    ) -> Result<ContactOutcome, Error> {
        let txn = maitre_kit::db::begin_write(&self.runtime.db).await?;
        let Some(applied) = self.apply_contact(&txn, input, policy, false).await? else {
            txn.rollback().await?;
            let row = customers::get(&self.runtime.db, &input.chain_id, &input.customer_id)
                .await?
                .ok_or_else(|| Error::not_found("customer", &input.customer_id))?;
            return Ok(ContactOutcome {
                row,
                changed: false,
            });
        };
        match txn.commit().await {
            Ok(()) => {
                self.runtime.events.committed();
                Ok(applied.outcome)
            }
            Err(error) => {
                self.uncount(&applied.allocated).await;
                Err(error.into())
            }
        }
    }

    /// Applies one contact of profile's `ContactRecorded` stream in the consumer's
    /// transaction: the same decision as `AssignOnContact`, keyed by the same event id.
    /// The customers whose rows changed (for the owner cache). A malformed event is logged
    /// and skipped: it could never apply, and must not hold up the stream.
    pub async fn apply_recorded_contact(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        contact: &ContactRecorded,
        picks: &mut Vec<Allocated>,
    ) -> Result<Vec<String>, Error> {
        let Some(input) = recorded_contact_input(chain_id, contact) else {
            return Ok(Vec::new());
        };
        self.apply_stream_contact(txn, &input, false, picks).await
    }

    /// [`Engine::apply_contact`] of a stream contact; `recorded`: its run recorded it
    /// already (`contact_run`), in this transaction. Its balance picks are added to `picks`,
    /// to count back if the transaction does not commit.
    pub(super) async fn apply_stream_contact(
        &self,
        txn: &DatabaseTransaction,
        input: &ContactInput,
        recorded: bool,
        picks: &mut Vec<Allocated>,
    ) -> Result<Vec<String>, Error> {
        let policy = self
            .effective_policy(&input.chain_id, &input.store_id)
            .await?;
        Ok(
            match self.apply_contact(txn, input, &policy, recorded).await? {
                Some(applied) => {
                    picks.push(applied.allocated);
                    vec![input.customer_id.clone()]
                }
                None => Vec::new(),
            },
        )
    }

    /// Records `input` and applies its decision in `txn` — THE path of a contact to
    /// ownership, whichever route brought it. `None` when the contact was applied before
    /// (its event id is recorded): nothing changes. On success the caller commits (and
    /// counts back `allocated` if the commit fails). `recorded`: the caller recorded the
    /// contact in `txn` already (a run of the stream, `contact_run`), and it was fresh.
    async fn apply_contact(
        &self,
        txn: &DatabaseTransaction,
        input: &ContactInput,
        policy: &EffectivePolicy,
        recorded: bool,
    ) -> Result<Option<AppliedContact>, Error> {
        let chain_id = input.chain_id.as_str();
        let occurred_us = input.occurred_at.timestamp_micros();
        let fresh = recorded || contacts::record(txn, chain_id, &input.ledger_row()).await?;
        if !fresh {
            return Ok(None);
        }
        let via_id = input.contact_manager_id.as_str();
        let mut read =
            customers::get_for_update_with_manager(txn, chain_id, &input.customer_id, via_id)
                .await?;
        if read.is_none() {
            customers::insert(
                txn,
                chain_id,
                &CustomerRow::new(&input.customer_id, &input.store_id),
            )
            .await?;
            read =
                customers::get_for_update_with_manager(txn, chain_id, &input.customer_id, via_id)
                    .await?;
        }
        let (before, via_status) =
            read.ok_or_else(|| Error::not_found("customer", &input.customer_id))?;
        // Ownership follows occurred_at, not arrival: a contact older than the last recorded
        // one (a late or replayed delivery) is not the *last* contact — it counts its spend
        // but names no manager. "Recorded" includes what profile says it holds: a newer
        // contact answered by the fast path (which writes nothing) reaches this row only when
        // the stream brings it, and an older booking's call arriving first must not take the
        // guest even for that moment (issue 20, item 3).
        let latest_known_us = before
            .last_contact_us
            .max(input.latest_other_contact_us.unwrap_or(i64::MIN));
        let stale = occurred_us < latest_known_us;
        // A manager id the roster does not know names nobody: it cannot make an owner, and a
        // guest left without one waits in the pool saying so (not allocated to someone else).
        let unknown_manager = !stale && !via_id.is_empty() && via_status.is_none();
        let via = match via_status {
            Some(status) if !stale && !via_id.is_empty() => {
                let manager = Manager {
                    id: ManagerId::new(via_id),
                    store_ids: Default::default(),
                    status,
                    max_customers: None,
                };
                Roster::new(vec![manager])
                    .map_err(Error::rule("contact_manager_id"))?
                    .contact_manager(&ManagerId::new(via_id))
            }
            _ => None,
        };
        let (spend_before_fen, spend_after_fen) =
            self.spend_around(txn, input, policy, &before).await?;
        let contact = Contact {
            via_manager: via,
            spend_before_fen,
            spend_after_fen,
            last_visit_at: before.last_visit_at(),
        };
        let at = input.occurred_at;
        let decision = decide_on_contact(&before.state(), &contact, &policy.rules, at);
        let mut history = decision.history;
        let mut next = decision.next;
        let mut context = ChangeContext {
            actor: "system".to_owned(),
            source_event_id: input.source_event_id.clone(),
            skip_capacity: true,
            facts: crate::domain::explain::Facts {
                store_id: input.store_id.clone(),
                expiry_days: policy.rules.value_lock().and_then(|l| l.expiry_days()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut after = before.clone();
        let mut allocated = Allocated::Pool(PoolReason::UnknownContactManager);
        if let Some(pending) = decision.allocation {
            if !unknown_manager {
                allocated = self
                    .allocate(txn, chain_id, &input.store_id, at, policy)
                    .await?;
            }
            match &allocated {
                Allocated::Manager {
                    manager_id,
                    reason,
                    day,
                    month,
                    ..
                } => {
                    let assigned = assign_allocated(&next, manager_id, *reason, &pending, at);
                    history.extend(assigned.history);
                    next = assigned.next;
                    context.alloc_day.clone_from(day);
                    context.alloc_month.clone_from(month);
                    context.skip_capacity = false;
                }
                Allocated::Pool(reason) => {
                    if before.reason != HistoryReason::Unassigned.as_str()
                        || before.pool_reason != reason.as_str()
                    {
                        history.push(HistoryEntry {
                            from: None,
                            to: None,
                            reason: HistoryReason::Unassigned,
                            locked_after: false,
                            at,
                        });
                    }
                    context.facts.pool_reason = Some(*reason);
                    after.pool_reason = reason.as_str().to_owned();
                }
            }
        }
        after.set_state(&next);
        if let Some(last) = history.last() {
            after.reason = last.reason.as_str().to_owned();
        }
        if after.manager_id != before.manager_id {
            after.since_us = occurred_us;
        }
        if !stale {
            after.last_contact_us = occurred_us;
            after.store_id.clone_from(&input.store_id);
        }
        if input.amount_fen > 0 {
            after.last_visit_us = after.last_visit_us.max(occurred_us);
        }
        after.counted_spend_fen = spend_after_fen;
        let change = Change {
            before: &before,
            after,
            history: &history,
            context: &context,
        };
        match self.write_change(txn, chain_id, change).await {
            Ok(row) => Ok(Some(AppliedContact {
                outcome: ContactOutcome {
                    changed: row.manager_id != before.manager_id,
                    row,
                },
                allocated,
            })),
            Err(error) => {
                self.uncount(&allocated).await;
                Err(error)
            }
        }
    }

    /// Counted spend (policy window) before and after `input`, as of the customer's latest
    /// known contact, so a late delivery neither hides spend recorded after it nor misses a
    /// crossing.
    async fn spend_around(
        &self,
        txn: &DatabaseTransaction,
        input: &ContactInput,
        policy: &EffectivePolicy,
        before: &CustomerRow,
    ) -> Result<(i64, i64), Error> {
        let occurred_us = input.occurred_at.timestamp_micros();
        let counted_at = from_micros(occurred_us.max(before.last_contact_us));
        let window = policy
            .rules
            .value_lock()
            .map_or(SpendWindow::Lifetime, |l| l.window());
        if input.amount_fen == 0 && window == SpendWindow::Lifetime {
            // Nothing to add, and lifetime spend never decays: the row's count is current
            // (every contact with spend is written here and recounts it).
            return Ok((before.counted_spend_fen, before.counted_spend_fen));
        }
        let since = match window {
            SpendWindow::Lifetime => None,
            SpendWindow::LastDays(days) => {
                Some((counted_at - Duration::days(i64::from(days))).timestamp_micros())
            }
        };
        let mut entries = contacts::spend_entries(
            txn,
            &input.chain_id,
            &input.customer_id,
            &input.source_event_id,
            since,
            counted_at.timestamp_micros(),
        )
        .await?;
        let spend_before_fen = counted_spend_fen(&entries, window, counted_at);
        entries.push(SpendEntry {
            at: input.occurred_at,
            amount_fen: input.amount_fen,
        });
        Ok((
            spend_before_fen,
            counted_spend_fen(&entries, window, counted_at),
        ))
    }
}

/// The contact a `ContactRecorded` event brings, `None` (logged) when it is malformed: it
/// could never apply, and must not hold up the stream.
pub(super) fn recorded_contact_input(
    chain_id: &str,
    contact: &ContactRecorded,
) -> Option<ContactInput> {
    let occurred_at = match parse_timestamp("occurred_at", contact.occurred_at.as_ref()) {
        Ok(at) => at,
        Err(error) => {
            tracing::warn!(%error, event_id = contact.event_id, "ContactRecorded skipped");
            return None;
        }
    };
    if contact.event_id.is_empty()
        || contact.customer_id.is_empty()
        || contact.store_id.is_empty()
        || contact.amount_fen < 0
    {
        tracing::warn!(
            event_id = contact.event_id,
            "ContactRecorded without event id, customer, store or with negative spend skipped"
        );
        return None;
    }
    Some(ContactInput {
        chain_id: chain_id.to_owned(),
        customer_id: contact.customer_id.clone(),
        store_id: contact.store_id.clone(),
        contact_manager_id: contact.manager_id.trim().to_owned(),
        amount_fen: contact.amount_fen,
        occurred_at,
        source_event_id: contact.event_id.clone(),
        // The stream brings profile's contacts in profile's order: every earlier one is
        // applied already.
        latest_other_contact_us: None,
    })
}

/// A contact applied in the caller's transaction, not yet committed.
struct AppliedContact {
    outcome: ContactOutcome,
    /// Balances counted for an allocation: counted back if the commit fails.
    allocated: Allocated,
}
