//! The `class_policy` and `rfm_cutoffs` tables: a chain's classification policy (the
//! contract's message) and the quintile cut-offs last computed for it.

use maitre_kit::db::stmt;
use maitre_proto::profile::v1::ClassificationPolicy;
use prost::Message;
use sea_orm::ConnectionTrait;

use super::{col, from_json, from_proto, to_json};
use crate::{domain::rfm::RfmCutoffs, error::Result};

/// The chain's stored policy, if it set one.
pub async fn get(conn: &impl ConnectionTrait, chain: &str) -> Result<Option<ClassificationPolicy>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT policy FROM class_policy WHERE chain_id = $1",
            [chain.into()],
        ))
        .await?;
    row.map(|r| {
        from_proto(
            &format!("policy of {chain}"),
            &col::<Vec<u8>>(&r, "policy")?,
        )
    })
    .transpose()
}

/// Replaces the chain's policy.
pub async fn put(
    conn: &impl ConnectionTrait,
    chain: &str,
    policy: &ClassificationPolicy,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO class_policy (chain_id, policy, updated_at_us) VALUES ($1, $2, $3) \
         ON CONFLICT (chain_id) DO UPDATE SET policy = excluded.policy, updated_at_us = excluded.updated_at_us",
        [chain.into(), policy.encode_to_vec().into(), now_us.into()],
    ))
    .await?;
    Ok(())
}

/// Cut-offs computed for a chain: over how many customers, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCutoffs {
    pub cutoffs: RfmCutoffs,
    pub population: i64,
    pub computed_at_us: i64,
}

/// The cut-offs last computed for the chain.
pub async fn cutoffs(conn: &impl ConnectionTrait, chain: &str) -> Result<Option<StoredCutoffs>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT cutoffs, population, computed_at_us FROM rfm_cutoffs WHERE chain_id = $1",
            [chain.into()],
        ))
        .await?;
    row.map(|r| {
        Ok(StoredCutoffs {
            cutoffs: from_json(
                &format!("cut-offs of {chain}"),
                &col::<String>(&r, "cutoffs")?,
            )?,
            population: col(&r, "population")?,
            computed_at_us: col(&r, "computed_at_us")?,
        })
    })
    .transpose()
}

/// Stores freshly computed cut-offs.
pub async fn put_cutoffs(
    conn: &impl ConnectionTrait,
    chain: &str,
    cutoffs: &RfmCutoffs,
    population: i64,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO rfm_cutoffs (chain_id, cutoffs, population, computed_at_us) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chain_id) DO UPDATE SET cutoffs = excluded.cutoffs, \
         population = excluded.population, computed_at_us = excluded.computed_at_us",
        [chain.into(), to_json(cutoffs)?, population.into(), now_us.into()],
    ))
    .await?;
    Ok(())
}
