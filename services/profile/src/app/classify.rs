//! RFM classes kept current: the chain's policy and cut-offs loaded once per call, the
//! class recomputed whenever aggregates change (ClassChanged emitted on a change), and a
//! daily recompute of every customer (`jobs`: time alone moves recency).

use chrono::{DateTime, Utc};
use maitre_kit::eventlog::EventLog;
use maitre_proto::{
    events::v1::{ClassChanged, EventScope, event::Payload},
    profile::v1 as pb,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::{
    convert::policy::{classification, default_policy, proto_class, to_domain},
    domain::{
        classification::{ClassificationPolicy, RfmScoring, classify},
        followup::FollowUpRules,
        rfm::RfmCutoffs,
    },
    error::Result,
    storage::{customers, customers::CustomerRow, policy},
};

/// What classifying a chain's customers needs.
#[derive(Debug, Clone)]
pub struct ClassContext {
    pub policy: ClassificationPolicy,
    pub rules: FollowUpRules,
    pub cutoffs: RfmCutoffs,
}

/// The chain's policy and cut-offs as stored, and whether its quintiles are due for a
/// recompute (fixed cut-offs never are). Quintiles never computed are computed now.
pub async fn read_context(
    db: &DatabaseConnection,
    chain: &str,
    now: DateTime<Utc>,
) -> Result<(ClassContext, bool)> {
    let stored = policy::get(db, chain).await?.unwrap_or_else(default_policy);
    let (policy, rules) = to_domain(&stored)?;
    let (cutoffs, due) = match &policy.scoring {
        RfmScoring::Fixed(cutoffs) => (cutoffs.clone(), false),
        RfmScoring::Quintiles { .. } => match policy::cutoffs(db, chain).await? {
            Some(stored) => {
                let due = stale(&stored, now);
                (stored.cutoffs, due)
            }
            None => (refresh_cutoffs(db, chain, &policy, now).await?, false),
        },
    };
    let ctx = ClassContext {
        policy,
        rules,
        cutoffs,
    };
    Ok((ctx, due))
}

/// Cut-offs of the chain's policy: fixed ones, or the quintiles last computed (computed
/// now when there are none yet or they are due).
pub async fn load_context(
    db: &DatabaseConnection,
    chain: &str,
    now: DateTime<Utc>,
) -> Result<ClassContext> {
    let (mut ctx, due) = read_context(db, chain, now).await?;
    if due {
        ctx.cutoffs = refresh_cutoffs(db, chain, &ctx.policy, now).await?;
    }
    Ok(ctx)
}

/// Below this many customers quintiles move quickly (a young chain), so they are
/// recomputed at most every [`SMALL_CHAIN_REFRESH_US`] instead of daily.
const SMALL_CHAIN: i64 = 1_000;
const SMALL_CHAIN_REFRESH_US: i64 = 60 * 1_000_000;
/// Cut-offs older than this were missed by the daily job: recompute on use.
const MAX_AGE_US: i64 = 26 * 3600 * 1_000_000;

fn stale(stored: &policy::StoredCutoffs, now: DateTime<Utc>) -> bool {
    let age_us = now.timestamp_micros() - stored.computed_at_us;
    age_us > MAX_AGE_US || (stored.population < SMALL_CHAIN && age_us > SMALL_CHAIN_REFRESH_US)
}

/// Recomputes the chain's cut-offs over its customers and stores them.
pub async fn refresh_cutoffs(
    db: &DatabaseConnection,
    chain: &str,
    policy: &ClassificationPolicy,
    now: DateTime<Utc>,
) -> Result<RfmCutoffs> {
    let population = customers::all_aggregates(db, chain).await?;
    let cutoffs = policy.cutoffs(population.iter().map(|(_, a)| a), now);
    let size = i64::try_from(population.len()).unwrap_or(i64::MAX);
    policy::put_cutoffs(db, chain, &cutoffs, size, now.timestamp_micros()).await?;
    Ok(cutoffs)
}

/// Classes `row` as of `now`; returns `(from, to)` contract class numbers when it changed.
pub fn reclassify(
    row: &mut CustomerRow,
    ctx: &ClassContext,
    now: DateTime<Utc>,
) -> Option<(i32, i32)> {
    let computed = classify(&row.aggregates, now, &ctx.policy, &ctx.cutoffs);
    let to = proto_class(computed.class) as i32;
    let from = row.class;
    row.classification = Some(classification(&computed, now));
    row.class = to;
    (from != to).then_some((from, to))
}

/// The `ClassChanged` event of a change returned by [`reclassify`].
pub fn change_event(row: &CustomerRow, (from, to): (i32, i32)) -> (EventScope, Payload) {
    (
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: row.home_store_id.clone(),
            manager_id: row.owner_manager_id.clone(),
        },
        Payload::ClassChanged(ClassChanged {
            customer_id: row.customer_id.clone(),
            from,
            to,
        }),
    )
}

/// Appends `ClassChanged` for a change returned by [`reclassify`].
pub async fn emit_change(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain: &str,
    row: &CustomerRow,
    change: (i32, i32),
) -> Result<()> {
    let (scope, payload) = change_event(row, change);
    events.append(conn, chain, scope, payload).await?;
    Ok(())
}

/// Recomputes the chain's cut-offs and brings every class up to them (and to `now`);
/// returns how many classes changed. The one step that keeps classes current when the
/// population moves the quintiles: after a policy change, after an import (a class given
/// during an import was computed with the cut-offs before it, over a chain without the
/// imported guests), when a young chain's quintiles come due, and daily (time moves
/// recency). Only customers whose class or scores differ are locked and written.
pub async fn recompute_chain(
    db: &DatabaseConnection,
    events: &EventLog,
    chain: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let (mut ctx, _due) = read_context(db, chain, now).await?;
    let population = customers::all_classed(db, chain).await?;
    ctx.cutoffs = ctx
        .policy
        .cutoffs(population.iter().map(|c| &c.aggregates), now);
    let size = i64::try_from(population.len()).unwrap_or(i64::MAX);
    policy::put_cutoffs(db, chain, &ctx.cutoffs, size, now.timestamp_micros()).await?;
    let mut stale: Vec<String> = population
        .into_iter()
        .filter(|c| {
            let computed = classification(
                &classify(&c.aggregates, now, &ctx.policy, &ctx.cutoffs),
                now,
            );
            !same_class(c.class, c.classification.as_ref(), &computed)
        })
        .map(|c| c.customer_id)
        .collect();
    // One lock order for every recompute, so two of them never deadlock each other.
    stale.sort_unstable();
    let mut changed = 0;
    for chunk in stale.chunks(500) {
        // Live events lock their customers while this chunk holds some of its own: the
        // database may end a deadlock by aborting this chunk. Nothing of it was written
        // then, and running it again is the cure (the live side retries likewise).
        let mut attempt = 0;
        changed += loop {
            attempt += 1;
            match reclassify_chunk(db, events, chain, &ctx, now, chunk).await {
                Err(e) if attempt < RECOMPUTE_ATTEMPTS && super::is_retryable(&e) => {
                    tracing::debug!(chain, attempt, error = %e, "class recompute chunk retried");
                }
                other => break other?,
            }
        };
    }
    Ok(changed)
}

/// Attempts of one chunk of a recompute that met a retryable conflict.
const RECOMPUTE_ATTEMPTS: usize = 5;

/// Reclassifies the customers `ids` in one transaction; how many classes changed.
async fn reclassify_chunk(
    db: &DatabaseConnection,
    events: &EventLog,
    chain: &str,
    ctx: &ClassContext,
    now: DateTime<Utc>,
    ids: &[String],
) -> Result<u64> {
    let mut changed = 0;
    let txn = super::begin_write(db).await?;
    for id in ids {
        let Some(mut row) = customers::get_for_update(&txn, chain, id).await? else {
            continue;
        };
        let change = reclassify(&mut row, ctx, now);
        customers::save(&txn, chain, &row).await?;
        if let Some(change) = change {
            emit_change(&txn, events, chain, &row, change).await?;
            changed += 1;
        }
    }
    txn.commit().await?;
    events.committed();
    Ok(changed)
}

/// Whether a stored class and classification already say what `computed` says (the time
/// of computing aside).
fn same_class(
    class: i32,
    stored: Option<&pb::Classification>,
    computed: &pb::Classification,
) -> bool {
    stored.is_some_and(|s| {
        class == computed.class
            && pb::Classification {
                compute_time: None,
                ..s.clone()
            } == pb::Classification {
                compute_time: None,
                ..computed.clone()
            }
    })
}
