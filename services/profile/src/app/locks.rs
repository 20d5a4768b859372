//! Serialising writers of the same customer: two first events of one new customer arriving
//! at once through two channels (or replicas) must not both create it, and two events of a
//! customer named by id must not overwrite each other's aggregates.
//!
//! The locks live in the database transaction that writes, so they are released by its
//! commit or rollback and survive nothing else: no Redis round trips on the ingestion path,
//! and a flushed Redis or a dead holder can't leave a key locked. On PostgreSQL they are
//! transaction-level advisory locks on a 64-bit hash of each name, taken in one statement
//! in hash order (two writers never wait on each other in a cycle); a hash collision only
//! serialises two unrelated writers. SQLite needs none: its write transactions begin
//! IMMEDIATE and so already run one at a time.
//!
//! Replays need no lock: `(chain, channel, external_id)` is unique, so the second of two
//! concurrent copies fails on insert and its retry sees the first (`is_retryable`).

use sea_orm::ConnectionTrait;

use crate::{error::Result, storage::to_json};

/// The lock name of an identity key (canonical form) of a chain.
pub fn key_lock(chain: &str, canonical: &str) -> String {
    format!("identity:{chain}:{canonical}")
}

/// The lock name of a customer named by id.
pub fn customer_lock(chain: &str, customer_id: &str) -> String {
    format!("customer:{chain}:{customer_id}")
}

/// Takes the locks `names` until the end of the transaction `txn`, waiting for busy ones.
/// Call it first in the transaction, before anything it protects is read.
pub async fn lock_in_transaction(txn: &impl ConnectionTrait, names: &[String]) -> Result<()> {
    if names.is_empty() || !maitre_kit::db::is_postgres(txn) {
        return Ok(());
    }
    txn.query_one_raw(maitre_kit::db::stmt(
        txn,
        // The sort sits in the subquery, so the locks are taken in hash order.
        "SELECT COUNT(pg_advisory_xact_lock(h)) FROM ( \
           SELECT DISTINCT hashtextextended(n, 0) AS h \
           FROM jsonb_array_elements_text($1::jsonb) AS n ORDER BY h) AS wanted",
        [to_json(&names)?],
    ))
    .await?;
    Ok(())
}
