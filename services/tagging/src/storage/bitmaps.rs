//! Membership bitmaps (seed 002 §3: segments answered from compressed bitmaps): per chain,
//! one [`RoaringBitmap`] per tag over dense customer numbers, the universe of customers,
//! and number ↔ id maps. A per-replica cache of `tag_membership`: loaded from the database
//! on first use, fed by this replica's writes at once and by every replica's writes through
//! the service's own event log ([`follow`]), and its roster checked against `tag_chain`
//! before every answer (new customers appended, erasures reload the universe).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use maitre_kit::db::stmt;
use roaring::RoaringBitmap;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::{
    domain::membership::Change,
    storage::{
        membership::all_memberships,
        roster::{numbers_from, roster},
    },
};

/// One chain's bitmaps.
#[derive(Debug, Default)]
pub struct ChainBitmaps {
    /// tag_id → members.
    pub tags: HashMap<String, RoaringBitmap>,
    /// Every customer of the chain that is not erased.
    pub universe: RoaringBitmap,
    /// number → customer id (index = number).
    ids: Vec<String>,
    numbers: HashMap<String, u32>,
    next_number: u32,
    roster_version: i64,
}

impl ChainBitmaps {
    pub fn customer_id(&self, number: u32) -> Option<&str> {
        self.ids.get(number as usize).map(String::as_str)
    }

    pub fn number(&self, customer_id: &str) -> Option<u32> {
        self.numbers.get(customer_id).copied()
    }

    fn set(&mut self, tag_id: &str, number: u32, added: bool) {
        if added {
            self.tags
                .entry(tag_id.to_owned())
                .or_default()
                .insert(number);
        } else if let Some(bitmap) = self.tags.get_mut(tag_id) {
            bitmap.remove(number);
        }
    }

    fn add_customers(&mut self, rows: Vec<(String, u32, bool)>, next_number: u32) {
        for (customer_id, number, erased) in rows {
            let at = number as usize;
            if self.ids.len() <= at {
                self.ids.resize(at + 1, String::new());
            }
            self.ids[at] = customer_id.clone();
            self.numbers.insert(customer_id, number);
            if erased {
                self.universe.remove(number);
            } else {
                self.universe.insert(number);
            }
        }
        self.next_number = self.next_number.max(next_number);
    }

    /// Bytes the bitmaps take when serialized (their compressed size).
    pub fn bitmap_bytes(&self) -> usize {
        self.tags
            .values()
            .map(RoaringBitmap::serialized_size)
            .sum::<usize>()
            + self.universe.serialized_size()
    }
}

pub type SharedChain = Arc<RwLock<ChainBitmaps>>;

#[derive(Default)]
pub struct Bitmaps {
    chains: RwLock<HashMap<String, SharedChain>>,
}

fn poisoned() -> DbErr {
    DbErr::Custom("bitmap cache lock poisoned".into())
}

impl Bitmaps {
    fn loaded(&self, chain_id: &str) -> Option<SharedChain> {
        self.chains.read().ok()?.get(chain_id).cloned()
    }

    /// The chain's bitmaps, loaded if needed and with the roster brought up to date.
    pub async fn fresh(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
    ) -> Result<SharedChain, DbErr> {
        let (next_number, roster_version) = roster(conn, chain_id).await?;
        if let Some(chain) = self.loaded(chain_id) {
            let (known_next, known_version) = {
                let c = chain.read().map_err(|_| poisoned())?;
                (c.next_number, c.roster_version)
            };
            if known_version != roster_version {
                let rows = numbers_from(conn, chain_id, 0).await?;
                let mut c = chain.write().map_err(|_| poisoned())?;
                c.universe.clear();
                c.add_customers(rows, next_number);
                c.roster_version = roster_version;
            } else if next_number > known_next {
                let rows = numbers_from(conn, chain_id, known_next).await?;
                chain
                    .write()
                    .map_err(|_| poisoned())?
                    .add_customers(rows, next_number);
            }
            return Ok(chain);
        }
        let mut fresh = ChainBitmaps {
            roster_version,
            ..Default::default()
        };
        fresh.add_customers(numbers_from(conn, chain_id, 0).await?, next_number);
        for (tag_id, number) in all_memberships(conn, chain_id).await? {
            fresh.set(&tag_id, number, true);
        }
        let mut chains = self.chains.write().map_err(|_| poisoned())?;
        Ok(chains
            .entry(chain_id.to_owned())
            .or_insert_with(|| Arc::new(RwLock::new(fresh)))
            .clone())
    }

    /// Applies committed changes made by this replica (chains not loaded are skipped:
    /// they load from the database, which has them).
    pub fn apply(&self, chain_id: &str, changes: &[Change]) {
        let Some(chain) = self.loaded(chain_id) else {
            return;
        };
        if let Ok(mut c) = chain.write() {
            for change in changes {
                c.set(&change.tag_id, change.number, change.added);
            }
        }
    }

    /// Applies one membership change of the service's own log (any replica's change):
    /// `customer_id` gains (`added`) or loses `tag_id` in the chain, if the chain is loaded.
    pub async fn apply_logged(
        &self,
        db: &DatabaseConnection,
        chain_id: &str,
        customer_id: &str,
        tag_id: &str,
        added: bool,
    ) -> Result<(), DbErr> {
        let Some(chain) = self.loaded(chain_id) else {
            return Ok(());
        };
        let known = chain.read().map_err(|_| poisoned())?.number(customer_id);
        let number = match known {
            Some(n) => Some(n),
            None => self
                .fresh(db, chain_id)
                .await?
                .read()
                .map_err(|_| poisoned())?
                .number(customer_id),
        };
        if let Some(number) = number {
            chain
                .write()
                .map_err(|_| poisoned())?
                .set(tag_id, number, added);
        }
        Ok(())
    }
}

/// The highest published sequence of the service's own log.
pub async fn published_sequence(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(stmt(db, "SELECT COALESCE(MAX(seq), 0) FROM kit_outbox", []))
        .await?;
    let seq: i64 = row.map_or(Ok(0), |r| r.try_get_by_index(0))?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(tag: &str, number: u32, added: bool) -> Change {
        Change {
            tag_id: tag.into(),
            tag_name: tag.into(),
            customer_id: format!("c{number}"),
            number,
            added,
            source: 1,
            rule_version: 0,
            actor: "manual:test".into(),
            reason: String::new(),
        }
    }

    #[test]
    fn rosters_and_changes_update_the_loaded_chain_only() {
        let bitmaps = Bitmaps::default();
        let mut chain = ChainBitmaps::default();
        chain.add_customers(
            vec![
                ("c0".into(), 0, false),
                ("c2".into(), 2, false),
                ("c1".into(), 1, true),
            ],
            3,
        );
        assert_eq!(chain.universe.iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(
            (chain.customer_id(2), chain.number("c1")),
            (Some("c2"), Some(1))
        );
        assert_eq!(chain.customer_id(7), None);
        if let Ok(mut chains) = bitmaps.chains.write() {
            chains.insert("chain-1".into(), Arc::new(RwLock::new(chain)));
        }
        bitmaps.apply(
            "chain-1",
            &[
                change("vip", 0, true),
                change("vip", 2, true),
                change("vip", 0, false),
            ],
        );
        bitmaps.apply("chain-2", &[change("vip", 5, true)]);
        let loaded = bitmaps.loaded("chain-1").expect("loaded");
        let members: Vec<u32> = loaded
            .read()
            .map(|c| {
                c.tags
                    .get("vip")
                    .map(|b| b.iter().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        assert_eq!(members, vec![2]);
        assert!(bitmaps.loaded("chain-2").is_none());
        assert!(loaded.read().map(|c| c.bitmap_bytes() > 0).unwrap_or(false));
    }
}
