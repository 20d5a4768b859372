//! Short-lived in-process copies of what every recorded event reads but staff rarely
//! change: a chain's stores, its menu look-ups, its class context and its block list.
//!
//! Reading them from the database cost four round trips per event, most of the time of a
//! RecordEvent. Writes made through this replica drop the chain's copy at once (so a
//! caller sees its own change on the next event); changes made through another replica
//! are seen within [`TTL`]. Unknown stores are never remembered: a store created anywhere
//! is usable at once.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::classify::{ClassContext, load_context};
use crate::{
    domain::identity::IdentityKey,
    error::Result,
    storage::{identity, menu, menu::DishRow, stores, stores::StoreRow},
};

/// How long a copy is used before it is read again.
pub const TTL: Duration = Duration::from_secs(2);
/// Entries per map before stale ones are dropped (dish names come from free text).
const MAX_ENTRIES: usize = 20_000;

struct Entry<T> {
    at: Instant,
    value: T,
}

impl<T: Clone> Entry<T> {
    fn fresh(&self) -> Option<T> {
        (self.at.elapsed() < TTL).then(|| self.value.clone())
    }
}

/// How an order line names a dish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DishKey {
    Id(String),
    Name(String),
}

type Map<K, V> = Mutex<HashMap<K, Entry<V>>>;

/// The caches of one service replica.
#[derive(Default)]
pub struct Caches {
    stores: Map<(String, String), StoreRow>,
    dishes: Map<(String, DishKey), Option<DishRow>>,
    class: Map<String, Arc<ClassContext>>,
    blocked: Map<String, Arc<HashSet<IdentityKey>>>,
}

fn lookup<K: std::hash::Hash + Eq, V: Clone>(map: &Map<K, V>, key: &K) -> Option<V> {
    map.lock().ok()?.get(key).and_then(Entry::fresh)
}

fn keep<K: std::hash::Hash + Eq, V>(map: &Map<K, V>, key: K, value: V) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, entry| entry.at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                at: Instant::now(),
                value,
            },
        );
    }
}

impl Caches {
    /// The store `store_id` of the chain, if it exists.
    pub async fn store(
        &self,
        db: &DatabaseConnection,
        chain: &str,
        store_id: &str,
    ) -> Result<Option<StoreRow>> {
        let key = (chain.to_owned(), store_id.to_owned());
        if let Some(row) = lookup(&self.stores, &key) {
            return Ok(Some(row));
        }
        let row = stores::get(db, chain, store_id).await?;
        if let Some(row) = &row {
            keep(&self.stores, key, row.clone());
        }
        Ok(row)
    }

    /// The dishes named by `ids` and `names` (those the menu has).
    pub async fn dishes(
        &self,
        db: &DatabaseConnection,
        chain: &str,
        ids: &[String],
        names: &[String],
    ) -> Result<Vec<DishRow>> {
        let wanted = ids
            .iter()
            .map(|i| DishKey::Id(i.clone()))
            .chain(names.iter().map(|n| DishKey::Name(n.clone())));
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for key in wanted {
            match lookup(&self.dishes, &(chain.to_owned(), key.clone())) {
                Some(dish) => found.extend(dish),
                None => missing.push(key),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let (ids, names): (Vec<String>, Vec<String>) =
            missing
                .iter()
                .fold((Vec::new(), Vec::new()), |(mut ids, mut names), key| {
                    match key {
                        DishKey::Id(i) => ids.push(i.clone()),
                        DishKey::Name(n) => names.push(n.clone()),
                    }
                    (ids, names)
                });
        let rows = menu::by_ids_or_names(db, chain, &ids, &names).await?;
        for key in missing {
            // Unknown dishes are remembered too (lines naming dishes off the menu are common).
            let dish = rows
                .iter()
                .find(|d| match &key {
                    DishKey::Id(i) => &d.dish_id == i,
                    DishKey::Name(n) => &d.name == n,
                })
                .cloned();
            keep(&self.dishes, (chain.to_owned(), key), dish);
        }
        found.extend(rows);
        Ok(found)
    }

    /// The chain's class context (policy, follow-up rules, cut-offs).
    pub async fn class(&self, db: &DatabaseConnection, chain: &str) -> Result<Arc<ClassContext>> {
        if let Some(ctx) = lookup(&self.class, &chain.to_owned()) {
            return Ok(ctx);
        }
        let ctx = Arc::new(load_context(db, chain, Utc::now()).await?);
        keep(&self.class, chain.to_owned(), ctx.clone());
        Ok(ctx)
    }

    /// The chain's configured block list.
    pub async fn blocked(
        &self,
        db: &DatabaseConnection,
        chain: &str,
    ) -> Result<Arc<HashSet<IdentityKey>>> {
        if let Some(keys) = lookup(&self.blocked, &chain.to_owned()) {
            return Ok(keys);
        }
        let keys = Arc::new(identity::blocked(db, chain).await?);
        keep(&self.blocked, chain.to_owned(), keys.clone());
        Ok(keys)
    }

    /// Drops the chain's stores (a store changed).
    pub fn forget_stores(&self, chain: &str) {
        if let Ok(mut map) = self.stores.lock() {
            map.retain(|(c, _), _| c != chain);
        }
    }

    /// Drops the chain's menu look-ups (a dish changed).
    pub fn forget_menu(&self, chain: &str) {
        if let Ok(mut map) = self.dishes.lock() {
            map.retain(|(c, _), _| c != chain);
        }
    }

    /// Drops the chain's class context (the policy changed).
    pub fn forget_class(&self, chain: &str) {
        if let Ok(mut map) = self.class.lock() {
            map.remove(chain);
        }
    }

    /// Drops the chain's block list (it changed).
    pub fn forget_blocked(&self, chain: &str) {
        if let Ok(mut map) = self.blocked.lock() {
            map.remove(chain);
        }
    }
}
