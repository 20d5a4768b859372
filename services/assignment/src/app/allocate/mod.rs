//! Allocation of customers without a contact manager by the store's strategy, atomically
//! across replicas: the even splits are balance picks on the store's balances for the
//! store-local day and month ([`pick_even_split`]: ties rotated by a per-store counter that
//! never resets; the monthly daily cap as the pick's ceiling). Balances missing from
//! coordination (expiry, a flushed Redis) are re-seeded from the allocations recorded in the
//! database first, so a flush never breaks evenness. If coordination is down, the same picks
//! run on an in-process coordinator seeded with the database counts
//! ([`even_split_on_counts`]). Customers nobody can take wait in the unassigned pool.
//!
//! A re-seed must count every pick, also those made before a flush whose transactions have
//! not committed yet: they are in neither the flushed balance nor the database it reads. So
//! a pick holds its balances' lock shared until its transaction ends, and a re-seed takes
//! it exclusively before reading the database (`kit::db::xact_lock`): it reads after every
//! such transaction ended, and picks after it wait for its seed. A flush between the seed
//! and the pick is caught by the pick itself (`seeded_only`): it seeds again.
//!
//! One implementation of the even split: [`pick_even_split`] on the `Coordination` trait,
//! whose in-process backend runs `maitre_kit::coord::pick_winner` and whose Redis script is
//! proven to pick alike by kit's agreement property test; the even-split tests here run it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use maitre_kit::coord::{CoordError, Coordination, MemoryCoordination, Pick};
use maitre_kit::db::{LockMode, xact_lock};
use sea_orm::ConnectionTrait;

use super::Engine;
use crate::domain::AssignmentError;
use crate::domain::allocation::{
    Allocation, PoolReason, StoreAllocation, allocate_daily_rotation, eligible_or_pool,
};
use crate::domain::bucket::DayBucket;
use crate::domain::policy::AllocationStrategy;
use crate::domain::roster::{Roster, Tally, tally_of};
use crate::domain::{HistoryReason, ManagerId, StoreId};
use crate::error::Error;
use crate::storage::cache::EffectivePolicy;
use crate::storage::decisions::{self, BucketColumn};
use crate::storage::managers::{self, ManagerRow};

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

/// Balances outlive their bucket a little (a month bucket is read all month).
const BALANCE_TTL: Duration = Duration::from_secs(40 * 24 * 3600);

/// Seed-and-pick rounds before the pick falls back to database counts: each round lost
/// means the balances were flushed again between the seed and the pick.
const SEED_ATTEMPTS: usize = 3;

/// The outcome of running the store's strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocated {
    Manager {
        manager_id: ManagerId,
        reason: HistoryReason,
        /// Bucket segments recorded with the decision (`day:2025-10-30`, `month:2025-10`).
        day: String,
        month: String,
        /// Balances counted for the pick: to count back if the change is not written.
        counted: Vec<String>,
    },
    /// Nobody can take the customer: they wait in the pool, for this reason.
    Pool(PoolReason),
}

struct Keys {
    day: String,
    month: String,
    rotation: String,
}

fn keys(chain_id: &str, store_id: &str, day: DayBucket) -> Keys {
    Keys {
        day: format!("balance:{chain_id}:{store_id}:{}", day.key_segment()),
        month: format!(
            "balance:{chain_id}:{store_id}:{}",
            day.month().key_segment()
        ),
        rotation: format!("rotation:{chain_id}:{store_id}"),
    }
}

fn tally(counts: &[(String, i64)]) -> Tally {
    counts
        .iter()
        .map(|(m, n)| (ManagerId::new(m), u64::try_from(*n).unwrap_or(0)))
        .collect()
}

impl Engine {
    /// Runs the store's strategy for one customer at `at` (store-local day of the contact).
    pub async fn allocate(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
        store_id: &str,
        at: DateTime<Utc>,
        policy: &EffectivePolicy,
    ) -> Result<Allocated, Error> {
        let rows = managers::of_store(conn, chain_id, store_id).await?;
        let roster = Roster::new(rows.iter().map(ManagerRow::to_domain).collect())
            .map_err(Error::rule("store_id"))?;
        let owned: Tally = rows
            .iter()
            .map(|m| (ManagerId::new(&m.manager_id), m.owned()))
            .collect();
        let store = StoreId::new(store_id);
        let request = StoreAllocation {
            store_id: &store,
            roster: &roster,
            owned_customers: &owned,
            tie_offset: 0,
        };
        let candidates = match eligible_or_pool(&request) {
            Ok(Ok(candidates)) => candidates,
            Ok(Err(reason)) => return Ok(Allocated::Pool(reason)),
            // A store nobody serves is a configuration gap, but its guests are still
            // customers: they wait in the pool, with the reason, until a manager joins.
            Err(AssignmentError::NoEligibleManagers { .. }) => {
                return Ok(Allocated::Pool(PoolReason::NoManagersAtStore));
            }
            Err(other) => return Err(Error::rule("store_id")(other)),
        };
        let day = DayBucket::at(at, policy.rules.time_zone());
        let segments = (day.key_segment(), day.month().key_segment());
        if policy.rules.strategy() == AllocationStrategy::DailyRotation {
            return Ok(assigned(
                allocate_daily_rotation(&request, day.date()).map_err(Error::rule("store_id"))?,
                segments,
                Vec::new(),
            ));
        }
        match self
            .pick_balanced(conn, chain_id, store_id, day, &candidates, &rows, policy)
            .await
        {
            Ok(Some((manager_id, counted))) => Ok(Allocated::Manager {
                manager_id,
                reason: strategy_reason(policy.rules.strategy()),
                day: segments.0,
                month: segments.1,
                counted,
            }),
            Ok(None) => Ok(Allocated::Pool(PoolReason::AllAtCapacity)),
            Err(Error::Coord(error)) => {
                tracing::warn!(%error, "coordination down: allocating from database counts");
                let today =
                    bucket_counts(conn, chain_id, store_id, BucketColumn::Day, &segments.0).await?;
                let month =
                    bucket_counts(conn, chain_id, store_id, BucketColumn::Month, &segments.1)
                        .await?;
                let split = EvenSplit {
                    strategy: policy.rules.strategy(),
                    monthly_daily_cap: policy.rules.monthly_daily_cap(),
                    tie_offset: month.values().sum(),
                };
                Ok(
                    match even_split_on_counts(&split, &candidates, &today, &month).await? {
                        Some(manager_id) => Allocated::Manager {
                            manager_id,
                            reason: strategy_reason(split.strategy),
                            day: segments.0,
                            month: segments.1,
                            counted: Vec::new(),
                        },
                        None => Allocated::Pool(PoolReason::AllAtCapacity),
                    },
                )
            }
            Err(other) => Err(other),
        }
    }

    /// Counts back the balances of an allocation whose change was not written.
    pub async fn uncount(&self, allocated: &Allocated) {
        if let Allocated::Manager {
            manager_id,
            counted,
            ..
        } = allocated
        {
            let coord = &self.runtime.coord;
            for key in counted {
                // A balance flushed since the pick no longer holds it (and adding to a
                // missing balance would create one the re-seed then skips).
                let counted_back = match coord.balance_exists(key).await {
                    Ok(true) => coord
                        .balance_add(key, manager_id.as_str(), -1, Some(BALANCE_TTL))
                        .await
                        .map(drop),
                    other => other.map(drop),
                };
                if let Err(error) = counted_back {
                    tracing::warn!(%error, key, "could not count back an unwritten allocation");
                }
            }
        }
    }

    /// `result`, after counting back `picks` when it is an error: the transaction they were
    /// made in rolls back (a run of the stream that fails is retried, and picks again).
    /// A commit that fails after a successful run is not seen here; the balances then stay
    /// one ahead until they are next re-seeded.
    pub async fn counted_back_unless_ok<T>(
        &self,
        result: Result<T, Error>,
        picks: &[Allocated],
    ) -> Result<T, Error> {
        if result.is_err() {
            for allocated in picks {
                self.uncount(allocated).await;
            }
        }
        result
    }

    /// Seeds a balance from the database when coordination lost it: every store member,
    /// zeros included, so the balance exists afterwards.
    #[allow(clippy::too_many_arguments)]
    async fn ensure_balance(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
        chain_id: &str,
        store_id: &str,
        column: BucketColumn,
        bucket: &str,
        members: &[ManagerRow],
    ) -> Result<(), Error> {
        let coord = &self.runtime.coord;
        if coord.balance_exists(key).await? {
            return Ok(());
        }
        // Every transaction that picked on this balance before it was lost ends first (see
        // the module's comment), and another replica may have seeded it meanwhile.
        xact_lock(conn, &self.balance_lock(key), LockMode::Exclusive).await?;
        if coord.balance_exists(key).await? {
            return Ok(());
        }
        let counts = bucket_counts(conn, chain_id, store_id, column, bucket).await?;
        let entries: Vec<(String, i64)> = members
            .iter()
            .map(|m| {
                let count = counts
                    .get(&ManagerId::new(&m.manager_id))
                    .copied()
                    .unwrap_or(0);
                (
                    m.manager_id.clone(),
                    i64::try_from(count).unwrap_or(i64::MAX),
                )
            })
            .collect();
        coord.balance_seed(key, &entries, Some(BALANCE_TTL)).await?;
        Ok(())
    }

    /// The even-split pick: `Some((winner, balances counted))`, `None` when nobody qualifies.
    #[allow(clippy::too_many_arguments)]
    async fn pick_balanced(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
        store_id: &str,
        day: DayBucket,
        candidates: &[ManagerId],
        members: &[ManagerRow],
        policy: &EffectivePolicy,
    ) -> Result<Option<(ManagerId, Vec<String>)>, Error> {
        let keys = keys(chain_id, store_id, day);
        let (day_segment, month_segment) = (day.key_segment(), day.month().key_segment());
        let coord = &self.runtime.coord;
        let names: Vec<String> = candidates.iter().map(|c| c.as_str().to_owned()).collect();
        for _ in 0..SEED_ATTEMPTS {
            self.ensure_balance(
                conn,
                &keys.day,
                chain_id,
                store_id,
                BucketColumn::Day,
                &day_segment,
                members,
            )
            .await?;
            self.ensure_balance(
                conn,
                &keys.month,
                chain_id,
                store_id,
                BucketColumn::Month,
                &month_segment,
                members,
            )
            .await?;
            for key in [&keys.day, &keys.month] {
                xact_lock(conn, &self.balance_lock(key), LockMode::Shared).await?;
            }
            let split = EvenSplit {
                strategy: policy.rules.strategy(),
                monthly_daily_cap: policy.rules.monthly_daily_cap(),
                tie_offset: u64::try_from(coord.incr(&keys.rotation, 1, None).await? - 1)
                    .unwrap_or(0),
            };
            match pick_even_split(coord.as_ref(), &keys, &names, &split).await {
                Err(CoordError::Unseeded { key }) => {
                    tracing::info!(
                        key,
                        "balance lost between its seed and the pick: seeding again"
                    );
                }
                picked => {
                    let counted = vec![keys.day.clone(), keys.month.clone()];
                    return Ok(picked?.map(|winner| (ManagerId::new(winner), counted)));
                }
            }
        }
        Err(Error::Coord(CoordError::Backend(format!(
            "balances of store {store_id} lost {SEED_ATTEMPTS} times between seed and pick"
        ))))
    }

    /// The database lock that orders picks on balance `key` and its re-seed: per
    /// coordination namespace, as the balances are (replicas of one deployment share it).
    fn balance_lock(&self, key: &str) -> String {
        format!("{}{key}", self.runtime.config.redis_prefix)
    }
}

async fn bucket_counts(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
    column: BucketColumn,
    bucket: &str,
) -> Result<Tally, Error> {
    let counts = decisions::allocations_in_bucket(conn, chain_id, store_id, column, bucket).await?;
    Ok(tally(&counts))
}

/// How one even split picks: the store's strategy, its monthly daily cap and the tie offset.
#[derive(Debug, Clone, Copy)]
struct EvenSplit {
    strategy: AllocationStrategy,
    monthly_daily_cap: Option<u64>,
    tie_offset: u64,
}

/// THE even split (按天均分, 按月均分) as balance picks, whatever the coordinator: 按天均分
/// picks the fewest today (counted in the month too); 按月均分 picks the fewest this month
/// among those under the daily cap (counted today too) and, when everyone eligible reached
/// the cap, splits the overflow by today's counts (the cap spreads catch-up; it never
/// refuses a customer someone can take). The winner's name, `None` when nobody qualifies.
async fn pick_even_split(
    coord: &dyn Coordination,
    keys: &Keys,
    candidates: &[String],
    split: &EvenSplit,
) -> Result<Option<String>, CoordError> {
    let (day_also, month_also) = ([keys.day.as_str()], [keys.month.as_str()]);
    let daily = Pick {
        balance: &keys.day,
        candidates,
        tie_offset: split.tie_offset,
        ceiling: None,
        also_increment: &month_also,
        ttl: Some(BALANCE_TTL),
        seeded_only: true,
    };
    let picked = match (split.strategy, split.monthly_daily_cap) {
        (AllocationStrategy::MonthlyEvenSplit, cap) => {
            let monthly = Pick {
                balance: &keys.month,
                ceiling: cap.map(|cap| (keys.day.as_str(), i64::try_from(cap).unwrap_or(i64::MAX))),
                also_increment: &day_also,
                ..daily
            };
            match (coord.balance_pick(monthly).await?, cap) {
                (None, Some(_)) => coord.balance_pick(daily).await?,
                (first, _) => first,
            }
        }
        _ => coord.balance_pick(daily).await?,
    };
    Ok(picked.map(|(winner, _)| winner))
}

/// The even split from counts read from the database (coordination down): the same picks
/// ([`pick_even_split`]) on an in-process coordinator seeded with `today` and `this_month`.
async fn even_split_on_counts(
    split: &EvenSplit,
    candidates: &[ManagerId],
    today: &Tally,
    this_month: &Tally,
) -> Result<Option<ManagerId>, CoordError> {
    let memory = MemoryCoordination::new();
    let keys = Keys {
        day: "day".to_owned(),
        month: "month".to_owned(),
        rotation: String::new(),
    };
    let scores = |counts: &Tally| -> Vec<(String, i64)> {
        candidates
            .iter()
            .map(|c| {
                let count = tally_of(counts, c);
                (
                    c.as_str().to_owned(),
                    i64::try_from(count).unwrap_or(i64::MAX),
                )
            })
            .collect()
    };
    memory
        .balance_seed(&keys.day, &scores(today), Some(BALANCE_TTL))
        .await?;
    memory
        .balance_seed(&keys.month, &scores(this_month), Some(BALANCE_TTL))
        .await?;
    let names: Vec<String> = candidates.iter().map(|c| c.as_str().to_owned()).collect();
    let picked = pick_even_split(&memory, &keys, &names, split).await?;
    Ok(picked.map(ManagerId::new))
}

fn strategy_reason(strategy: AllocationStrategy) -> HistoryReason {
    match strategy {
        AllocationStrategy::DailyEvenSplit => HistoryReason::DailyEvenSplit,
        AllocationStrategy::MonthlyEvenSplit => HistoryReason::MonthlyEvenSplit,
        AllocationStrategy::DailyRotation => HistoryReason::DailyRotation,
    }
}

fn assigned(allocation: Allocation, segments: (String, String), counted: Vec<String>) -> Allocated {
    match allocation {
        Allocation::Assigned { manager_id, reason } => Allocated::Manager {
            manager_id,
            reason,
            day: segments.0,
            month: segments.1,
            counted,
        },
        Allocation::Unassigned { reason } => Allocated::Pool(reason),
    }
}
