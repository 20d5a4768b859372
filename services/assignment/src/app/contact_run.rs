//! A run of profile's stream applied in the consumer's one transaction (issue 22): what can
//! be written for the whole run is written in set-based statements, the decision of each
//! contact stays the one [`Engine::apply_contact`] makes, in stream order.
//!
//! Per consecutive contacts of a run (a merge, an erasure or a store change between them is
//! applied alone, in its place): the first contact of each customer is recorded in the
//! ledger in one multi-row INSERT (replays drop out: exactly once, as one at a time), and
//! the customers seen for the first time are inserted in one more; then each contact is
//! decided in order. Only a customer's FIRST contact of the stretch is recorded up front, so
//! no decision sees a later contact of the same customer in the ledger — the outcome is the
//! one the events applied one by one reach.

use std::collections::{HashMap, HashSet};

use maitre_proto::events::v1::ContactRecorded;
use sea_orm::DatabaseTransaction;

use super::Engine;
use super::allocate::Allocated;
use super::contact::{ContactInput, recorded_contact_input};
use crate::error::Error;
use crate::storage::{contacts, customers};

impl Engine {
    /// Applies consecutive `ContactRecorded` events of one run (`(chain_id, contact)`, in
    /// stream order) in `txn`; the `(chain_id, customer_id)` whose rows changed. Balance
    /// picks are added to `picks`.
    pub async fn apply_contact_run(
        &self,
        txn: &DatabaseTransaction,
        run: &[(&str, &ContactRecorded)],
        picks: &mut Vec<Allocated>,
    ) -> Result<Vec<(String, String)>, Error> {
        let inputs: Vec<ContactInput> = run
            .iter()
            .filter_map(|(chain_id, contact)| recorded_contact_input(chain_id, contact))
            .collect();
        // The first contact of each customer in the stretch, per chain.
        let mut seen = HashSet::new();
        let mut firsts: HashMap<&str, Vec<&ContactInput>> = HashMap::new();
        for input in &inputs {
            if seen.insert((input.chain_id.as_str(), input.customer_id.as_str())) {
                firsts
                    .entry(input.chain_id.as_str())
                    .or_default()
                    .push(input);
            }
        }
        let mut recorded: HashSet<(String, String)> = HashSet::new();
        for (chain_id, firsts) in &firsts {
            let rows: Vec<_> = firsts.iter().map(|input| input.ledger_row()).collect();
            let fresh = contacts::record_all(txn, chain_id, &rows).await?;
            let new_customers: Vec<(String, String)> = firsts
                .iter()
                .filter(|input| fresh.contains(&input.source_event_id))
                .map(|input| (input.customer_id.clone(), input.store_id.clone()))
                .collect();
            customers::insert_new(txn, chain_id, &new_customers).await?;
            recorded.extend(fresh.into_iter().map(|id| ((*chain_id).to_owned(), id)));
        }
        let mut touched = Vec::new();
        for input in &inputs {
            let key = (input.chain_id.clone(), input.source_event_id.clone());
            let first = seen.remove(&(input.chain_id.as_str(), input.customer_id.as_str()));
            if first && !recorded.contains(&key) {
                // Recorded before this run: a replay, nothing changes.
                continue;
            }
            let changed = self.apply_stream_contact(txn, input, first, picks).await?;
            touched.extend(changed.into_iter().map(|c| (input.chain_id.clone(), c)));
        }
        Ok(touched)
    }
}
