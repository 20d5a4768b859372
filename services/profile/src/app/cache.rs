//! Short-lived in-process copies of what every recorded event reads but staff rarely
//! change: a chain's stores, its menu look-ups, its class context and its block list.
//!
//! Reading them from the database cost four round trips per event, most of the time of a
//! RecordEvent. Writes made through this replica drop the chain's copy at once (so a
//! caller sees its own change on the next event); changes made through another replica
//! are seen within [`TTL`]. Unknown stores are never remembered: a store created anywhere
//! is usable at once.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use chrono::Utc;
use maitre_kit::ttl_map::TtlMap;
use sea_orm::DatabaseConnection;

use maitre_kit::eventlog::EventLog;

use super::classify::{ClassContext, read_context, recompute_chain, refresh_cutoffs};
use crate::{
    domain::{classification::ClassificationPolicy, identity::IdentityKey},
    error::Result,
    storage::{identity, menu, menu::DishRow, stores, stores::StoreRow},
};

/// How long a copy is used before it is read again.
pub const TTL: Duration = Duration::from_secs(2);

/// How an order line names a dish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DishKey {
    Id(String),
    Name(String),
}

/// The caches of one service replica (bounded: dish names come from free text).
#[derive(Default)]
pub struct Caches {
    stores: TtlMap<(String, String), StoreRow>,
    dishes: TtlMap<(String, DishKey), Option<DishRow>>,
    class: TtlMap<String, Arc<ClassContext>>,
    /// Chains whose quintiles are being recomputed in the background.
    refreshing: Arc<Mutex<HashSet<String>>>,
    blocked: TtlMap<String, Arc<HashSet<IdentityKey>>>,
    /// The service's event log: with it, recomputed cut-offs re-class the chain
    /// (`classify::recompute_chain`, announcing ClassChanged), as after an import.
    events: Option<Arc<EventLog>>,
}

impl Caches {
    /// Caches whose background cut-off recomputes bring every class up to the new cut-offs.
    pub fn announcing(events: Arc<EventLog>) -> Self {
        Caches {
            events: Some(events),
            ..Caches::default()
        }
    }

    /// The store `store_id` of the chain, if it exists.
    pub async fn store(
        &self,
        db: &DatabaseConnection,
        chain: &str,
        store_id: &str,
    ) -> Result<Option<StoreRow>> {
        let key = (chain.to_owned(), store_id.to_owned());
        if let Some(row) = self.stores.get(&key) {
            return Ok(Some(row));
        }
        let row = stores::get(db, chain, store_id).await?;
        if let Some(row) = &row {
            self.stores.insert(key, row.clone(), TTL);
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
            match self.dishes.get(&(chain.to_owned(), key.clone())) {
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
            self.dishes.insert((chain.to_owned(), key), dish, TTL);
        }
        found.extend(rows);
        Ok(found)
    }

    /// The chain's class context (policy, follow-up rules, cut-offs).
    pub async fn class(&self, db: &DatabaseConnection, chain: &str) -> Result<Arc<ClassContext>> {
        if let Some(ctx) = self.class.get(chain) {
            return Ok(ctx);
        }
        let (ctx, due) = read_context(db, chain, Utc::now()).await?;
        if due {
            self.refresh_in_background(db, chain, &ctx.policy);
        }
        let ctx = Arc::new(ctx);
        self.class.insert(chain.to_owned(), ctx.clone(), TTL);
        Ok(ctx)
    }

    /// Recomputes the chain's quintiles off the request path, one recompute per chain at a
    /// time. A recompute reads every customer of the chain (seconds for a million, as after
    /// a history import into a young chain, whose quintiles are due every minute), and every
    /// call arriving meanwhile would otherwise wait for it and start its own. Until it is
    /// stored, events are classed with the cut-offs before it; the next reload of the
    /// context (within [`TTL`]) reads the new ones.
    pub fn refresh_in_background(
        &self,
        db: &DatabaseConnection,
        chain: &str,
        policy: &ClassificationPolicy,
    ) {
        if !lock(&self.refreshing).insert(chain.to_owned()) {
            return;
        }
        let (db, chain, policy) = (db.clone(), chain.to_owned(), policy.clone());
        let refreshing = Arc::clone(&self.refreshing);
        let events = self.events.clone();
        tokio::spawn(async move {
            // New cut-offs move the classes of customers without an event too.
            let refreshed = match &events {
                Some(events) => recompute_chain(&db, events, &chain, Utc::now())
                    .await
                    .map(|_| ()),
                None => refresh_cutoffs(&db, &chain, &policy, Utc::now())
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = refreshed {
                tracing::warn!(chain = %chain, error = %e, "class cut-offs not recomputed; the next call retries");
            }
            lock(&refreshing).remove(&chain);
        });
    }

    /// The chain's configured block list.
    pub async fn blocked(
        &self,
        db: &DatabaseConnection,
        chain: &str,
    ) -> Result<Arc<HashSet<IdentityKey>>> {
        if let Some(keys) = self.blocked.get(chain) {
            return Ok(keys);
        }
        let keys = Arc::new(identity::blocked(db, chain).await?);
        self.blocked.insert(chain.to_owned(), keys.clone(), TTL);
        Ok(keys)
    }

    /// Drops the chain's stores (a store changed).
    pub fn forget_stores(&self, chain: &str) {
        self.stores.retain(|(c, _)| c != chain);
    }

    /// Drops the chain's menu look-ups (a dish changed).
    pub fn forget_menu(&self, chain: &str) {
        self.dishes.retain(|(c, _)| c != chain);
    }

    /// Drops the chain's class context (the policy changed).
    pub fn forget_class(&self, chain: &str) {
        self.class.retain(|c| c != chain);
    }

    /// Drops the chain's block list (it changed).
    pub fn forget_blocked(&self, chain: &str) {
        self.blocked.retain(|c| c != chain);
    }
}

/// The set behind `mutex`; a panic while it was held leaves a usable set (inserts and
/// removes of one name are whole).
fn lock(mutex: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
