//! Consuming the other services' streams (kit `Consumer`: cursor committed with the effect): tagging
//! (TagAdded/TagRemoved/SegmentEntered), assignment (OwnerChanged) and profile (CustomerUpdated:
//! who the guest is, birthday, favourites and consent; ClassChanged, FollowUpDue; StoreChanged
//! names and zones, CustomerCreated / ContactRecorded home stores; CustomerMerged, CustomerErased). Each event updates the stored customer facts and fires the
//! chain's automations in the same transaction; "today" is the date in the zone of the customer's
//! home store.

use std::{future::Future, sync::Arc};

use chrono::{NaiveDate, Utc};
use maitre_kit::eventlog::{ConsumeError, EventHandler};
use maitre_kit::runtime::Runtime;
use maitre_proto::events::v1::{Event, event::Payload};
use sea_orm::DatabaseTransaction;

use crate::app::automation::awaiting::deliver;
use crate::app::automation::fire;
use crate::app::delivery::append_status_event;
use crate::app::freshness::{PROFILE_CONSUMER, ProfileFreshness, UpstreamProfileHead};
use crate::domain::automation::{AutomationEvent, DayStarted, FollowUpPlanDue};
use crate::domain::channel::{CustomerId, FollowUpPlanId, ManagerId};
use crate::events::consent_sync;
use crate::state::State;
use crate::storage::facts::{CustomerFacts as GuestFactsRow, GuestFacts};
use crate::storage::{awaiting, facts, messages, policy, stores};

/// The handler shared by every consumed stream.
#[derive(Clone)]
pub struct AutomationHandler {
    state: State,
    /// Holds tagging's and assignment's events until profile's facts caught up with them.
    freshness: Option<Arc<ProfileFreshness>>,
}

impl AutomationHandler {
    /// A handler writing through `state`.
    pub fn new(state: State) -> Self {
        Self {
            state,
            freshness: None,
        }
    }

    /// The handler, applying tagging's and assignment's events only once the guest's facts
    /// from profile are as new as they ([`crate::app::freshness`]).
    pub fn with_profile_freshness(mut self, freshness: Arc<ProfileFreshness>) -> Self {
        self.freshness = Some(freshness);
        self
    }

    /// Profiles merged into `survivor` are one guest: what is known of them (birthday, tags,
    /// consent, actions waiting for an owner) moves to the survivor, so
    /// the guest is greeted once, under one consent, and the absorbed ids fire nothing more.
    /// Messages already queued to an absorbed id stay: profile resolves it to the survivor.
    async fn merge(
        &self,
        txn: &DatabaseTransaction,
        chain: &str,
        survivor: &str,
        absorbed_ids: &[String],
    ) -> Result<(), ConsumeError> {
        let mut known = facts::get_for_update(txn, chain, survivor).await?;
        let mut preferences = policy::preferences(txn, chain, survivor).await?;
        for absorbed in absorbed_ids.iter().filter(|id| *id != survivor) {
            let theirs = facts::get_for_update(txn, chain, absorbed).await?;
            known = facts::merged(&known, &theirs);
            facts::erase(txn, chain, absorbed).await?;
            let their_preferences = policy::preferences(txn, chain, absorbed).await?;
            preferences.consent = preferences.consent.merged(&their_preferences.consent);
            if preferences.locale.is_empty() {
                preferences.locale = their_preferences.locale;
            }
            awaiting::repoint(txn, chain, absorbed, survivor).await?;
        }
        facts::put(txn, chain, &known).await?;
        policy::put_preferences(txn, chain, survivor, &preferences).await?;
        // What waited for an owner under an absorbed id goes to the survivor's, if known.
        let now_us = Utc::now().timestamp_micros();
        deliver(&self.state, txn, chain, survivor, &known.owner_id, now_us).await?;
        Ok(())
    }

    /// The customer's personal data was erased: nothing more is sent to them (queued
    /// messages are suppressed) and nothing is kept to fire automations on (facts go, and so
    /// do actions waiting for an owner).
    async fn erase(
        &self,
        txn: &DatabaseTransaction,
        chain: &str,
        customer_id: &str,
    ) -> Result<(), ConsumeError> {
        facts::erase(txn, chain, customer_id).await?;
        awaiting::discard(txn, chain, customer_id).await?;
        let now_us = Utc::now().timestamp_micros();
        for message in
            messages::suppress_queued_of_customer(txn, chain, customer_id, now_us).await?
        {
            append_status_event(
                &self.state.events,
                txn,
                &message,
                "suppressed",
                "customer_erased",
            )
            .await?;
        }
        Ok(())
    }
}

impl AutomationHandler {
    /// An explicit campaign response (`CONTACT_KIND_CAMPAIGN_RESPONSE` naming the campaign)
    /// marks the campaign's message to the guest `responded`, as a reply does: the campaign's
    /// `stats.responded` counts it, and tagging's responder model learns it from the
    /// `MessageStatusChanged` this appends. A response naming a campaign that sent the guest
    /// nothing, or one already counted, changes nothing (replays stay no-ops).
    async fn campaign_response(
        &self,
        txn: &DatabaseTransaction,
        chain: &str,
        e: &maitre_proto::events::v1::ContactRecorded,
    ) -> Result<(), ConsumeError> {
        use maitre_proto::events::v1::ContactKind;
        if e.kind != ContactKind::CampaignResponse as i32 || e.campaign_id.is_empty() {
            return Ok(());
        }
        let Some(row) =
            messages::latest_sent_of_campaign(txn, chain, &e.customer_id, &e.campaign_id).await?
        else {
            return Ok(());
        };
        let now_us = Utc::now().timestamp_micros();
        if messages::set_status(
            txn,
            chain,
            &row.message_id,
            Some(&row.status),
            "responded",
            "campaign_response",
            &messages::RowUpdate::default(),
            now_us,
        )
        .await?
        {
            append_status_event(
                &self.state.events,
                txn,
                &row,
                "responded",
                "campaign_response",
            )
            .await?;
        }
        Ok(())
    }
}

/// The date of an event time (now when absent) in the zone of the customer's home store.
async fn store_today(
    txn: &DatabaseTransaction,
    chain: &str,
    customer_id: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<NaiveDate, ConsumeError> {
    let at = ts
        .and_then(crate::convert::timestamp_to_utc)
        .unwrap_or_else(Utc::now);
    Ok(crate::app::daily_scan::customer_today(txn, chain, customer_id, at).await?)
}

#[async_trait::async_trait]
impl EventHandler for AutomationHandler {
    /// What this run shows numbered in tagging's and assignment's streams: one question of
    /// profile's head then serves the whole run ([`crate::app::freshness`]).
    async fn before_run(&self, events: &[Event]) {
        let Some(freshness) = &self.freshness else {
            return;
        };
        for event in events {
            if let Some(upstream) = event.payload.as_ref().and_then(caused_upstream) {
                freshness.read_through(upstream, event.sequence);
            }
        }
    }

    /// A run applies each stretch of [`facts_only`] events (a history import's creations,
    /// visits and classes) set-based, and every other event alone, in order.
    async fn handle_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
    ) -> Result<(), ConsumeError> {
        let mut rest = events;
        while let Some(first) = rest.first() {
            if facts_only(first) {
                let end = rest
                    .iter()
                    .position(|e| !facts_only(e))
                    .unwrap_or(rest.len());
                self.apply_facts_run(txn, &rest[..end]).await?;
                rest = &rest[end..];
            } else {
                self.handle(txn, first).await?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }

    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        let chain = event.chain_id.as_str();
        let Some(payload) = &event.payload else {
            return Ok(());
        };
        let sequence = event.sequence;
        // What renders about the guest (favourites, name) must be as new as what caused the
        // tag or owner: wait for profile's stream first.
        if let (Some(freshness), Some(upstream)) = (&self.freshness, caused_upstream(payload)) {
            freshness.ensure(txn, chain, upstream, sequence).await?;
        }
        let automation_event = match payload {
            Payload::TagAdded(e) => {
                facts::update(txn, chain, &e.customer_id, |known| {
                    known.tags.insert(e.tag_name.clone());
                })
                .await?;
                Some(AutomationEvent::TagAdded {
                    customer_id: CustomerId::new(e.customer_id.clone()),
                    tag: e.tag_name.clone(),
                    event_sequence: sequence,
                })
            }
            Payload::TagRemoved(e) => {
                facts::update(txn, chain, &e.customer_id, |known| {
                    known.tags.remove(&e.tag_name);
                })
                .await?;
                Some(AutomationEvent::TagRemoved {
                    customer_id: CustomerId::new(e.customer_id.clone()),
                    tag: e.tag_name.clone(),
                    event_sequence: sequence,
                })
            }
            Payload::SegmentEntered(e) => {
                // Locked as the writers lock it, so an action this leaves waiting for the
                // owner is seen by an OwnerChanged handing them over at the same moment.
                facts::get_for_update(txn, chain, &e.customer_id).await?;
                Some(AutomationEvent::SegmentEntered {
                    customer_id: CustomerId::new(e.customer_id.clone()),
                    segment_id: e.segment_id.clone(),
                    event_sequence: sequence,
                })
            }
            Payload::OwnerChanged(e) => {
                facts::update(txn, chain, &e.customer_id, |known| {
                    known.owner_id = e.to_manager_id.clone()
                })
                .await?;
                let now_us = Utc::now().timestamp_micros();
                deliver(
                    &self.state,
                    txn,
                    chain,
                    &e.customer_id,
                    &e.to_manager_id,
                    now_us,
                )
                .await?;
                Some(AutomationEvent::OwnerChanged {
                    customer_id: CustomerId::new(e.customer_id.clone()),
                    previous_owner: Some(e.from_manager_id.clone())
                        .filter(|m| !m.is_empty())
                        .map(ManagerId::new),
                    new_owner: ManagerId::new(e.to_manager_id.clone()),
                    event_sequence: sequence,
                })
            }
            Payload::CustomerUpdated(e) => {
                let birthday = e.birthday.as_ref().and_then(|date| {
                    NaiveDate::from_ymd_opt(
                        date.year,
                        u32::try_from(date.month).unwrap_or(0),
                        u32::try_from(date.day).unwrap_or(0),
                    )
                });
                // The profile after the change: who the guest is, their birthday, favourites.
                facts::update(txn, chain, &e.customer_id, |known| {
                    if e.birthday.is_some() {
                        known.birthday = birthday.map(|d| d.to_string()).unwrap_or_default();
                    }
                    // Contacts travel only with the changes that read them; absent = unchanged.
                    let contacts = match &e.contacts {
                        Some(told) => crate::convert::contacts_from_proto(told),
                        None => std::mem::take(&mut known.guest.contacts),
                    };
                    known.guest = GuestFacts {
                        known: true,
                        name: e.name.clone(),
                        gender: e.gender.clone(),
                        favourite_dish: e.favourite_dish.clone(),
                        favourite_category: e.favourite_category.clone(),
                        contacts,
                    };
                })
                .await?;
                let mut preferences = policy::preferences(txn, chain, &e.customer_id).await?;
                if consent_sync::follow_profile(&mut preferences.consent, &e.consent) {
                    policy::put_preferences(txn, chain, &e.customer_id, &preferences).await?;
                }
                // A birthday set or changed after today's scan is checked now, not tomorrow;
                // the occurrence's de-duplication key keeps it to one message.
                match birthday {
                    Some(birthday) => Some(AutomationEvent::DayStarted(DayStarted {
                        customer_id: CustomerId::new(e.customer_id.clone()),
                        store_today: store_today(txn, chain, &e.customer_id, None).await?,
                        birthday: Some(birthday),
                        anniversaries: Vec::new(),
                        follow_ups: Vec::new(),
                    })),
                    None => None,
                }
            }
            Payload::ClassChanged(e) => {
                use maitre_proto::common::v1::CustomerClass as P;
                facts::update(txn, chain, &e.customer_id, |known| {
                    known.class = match P::try_from(e.to) {
                        Ok(P::A) => "A",
                        Ok(P::B) => "B",
                        Ok(P::C) => "C",
                        _ => "",
                    }
                    .to_owned()
                })
                .await?;
                None
            }
            Payload::FollowUpDue(e) => {
                let due_on = store_today(txn, chain, &e.customer_id, e.due_at.as_ref()).await?;
                let today = if e.overdue {
                    store_today(txn, chain, &e.customer_id, event.occurred_at.as_ref()).await?
                } else {
                    due_on
                };
                Some(AutomationEvent::DayStarted(DayStarted {
                    customer_id: CustomerId::new(e.customer_id.clone()),
                    store_today: today,
                    birthday: None,
                    anniversaries: Vec::new(),
                    follow_ups: vec![FollowUpPlanDue {
                        plan_id: FollowUpPlanId::new(e.plan_id.clone()),
                        due_on,
                        completed: false,
                    }],
                }))
            }
            Payload::StoreChanged(e) => {
                if !stores::put_store(txn, chain, &e.store_id, &e.time_zone, &e.name).await? {
                    tracing::warn!(store = %e.store_id, zone = %e.time_zone, "unknown store time zone; default zone kept");
                }
                None
            }
            Payload::CustomerMerged(e) => {
                self.merge(txn, chain, &e.survivor_id, &e.absorbed_ids)
                    .await?;
                None
            }
            Payload::CustomerErased(e) => {
                self.erase(txn, chain, &e.customer_id).await?;
                None
            }
            Payload::CustomerCreated(e) => {
                stores::set_home_store(txn, chain, &e.customer_id, &e.home_store_id, true).await?;
                // Profile has told of the guest: their messages need not wait for its stream.
                facts::update(txn, chain, &e.customer_id, |known| known.guest.known = true).await?;
                None
            }
            Payload::ContactRecorded(e) => {
                // A customer created without a store (online channel) gets the store of their
                // first contact as home.
                stores::set_home_store(txn, chain, &e.customer_id, &e.store_id, false).await?;
                self.campaign_response(txn, chain, e).await?;
                None
            }
            _ => None,
        };
        if let Some(automation_event) = automation_event {
            fire(
                &self.state,
                txn,
                chain,
                &automation_event,
                Utc::now().timestamp_micros(),
            )
            .await?;
        }
        // A tag or class that arrives after today's date check (e.g. `likes_dessert` on a
        // guest whose birthday reminder is due) may make a date automation's conditions
        // hold now: check the customer's date automations again. The occurrence's
        // de-duplication key keeps it to one message. An owner arriving after it needs no
        // new check: the owner's actions waited for them (`app::automation::awaiting`).
        if let Some(customer_id) = facts_changed(payload) {
            let known = facts::get(txn, chain, customer_id).await?;
            if let Ok(birthday) = known.birthday.parse::<NaiveDate>() {
                let day = AutomationEvent::DayStarted(DayStarted {
                    customer_id: CustomerId::new(customer_id.to_owned()),
                    store_today: store_today(txn, chain, customer_id, None).await?,
                    birthday: Some(birthday),
                    anniversaries: Vec::new(),
                    follow_ups: Vec::new(),
                });
                fire(&self.state, txn, chain, &day, Utc::now().timestamp_micros()).await?;
            }
        }
        Ok(())
    }
}

/// Whether an event only writes guest facts and home stores (a history import's creations,
/// visits and classes), which a run writes set-based ([`AutomationHandler::apply_facts_run`]).
fn facts_only(event: &Event) -> bool {
    use maitre_proto::events::v1::ContactKind;
    match &event.payload {
        Some(Payload::CustomerCreated(_) | Payload::ClassChanged(_)) => true,
        // A campaign response marks a message: applied alone.
        Some(Payload::ContactRecorded(e)) => {
            e.kind != ContactKind::CampaignResponse as i32 || e.campaign_id.is_empty()
        }
        _ => false,
    }
}

/// Home-store writes of a stretch of a run, not yet written.
#[derive(Default)]
struct PendingHomes {
    /// The last store `CustomerCreated` named, per customer (it replaces).
    replace: Vec<(String, String)>,
    /// The first contact's store, per customer with no replacing store in the stretch (it
    /// becomes home only when none is known).
    keep: Vec<(String, String)>,
}

impl PendingHomes {
    fn set(&mut self, customer_id: &str, store_id: &str, replace: bool) {
        if store_id.is_empty() || customer_id.is_empty() {
            return;
        }
        if replace {
            self.keep.retain(|(c, _)| c != customer_id);
            match self.replace.iter_mut().find(|(c, _)| c == customer_id) {
                Some(entry) => entry.1 = store_id.to_owned(),
                None => self
                    .replace
                    .push((customer_id.to_owned(), store_id.to_owned())),
            }
        } else if !self.replace.iter().any(|(c, _)| c == customer_id)
            && !self.keep.iter().any(|(c, _)| c == customer_id)
        {
            self.keep
                .push((customer_id.to_owned(), store_id.to_owned()));
        }
    }
}

impl AutomationHandler {
    /// Applies a stretch of [`facts_only`] events set-based: the guests' facts read and locked
    /// in one statement, changed in memory in event order, the changed rows and the home
    /// stores written with one statement each. A class change that makes a date automation
    /// worth checking again (the guest has a birthday) first writes what the events before it
    /// changed, then fires, as it would alone.
    async fn apply_facts_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
    ) -> Result<(), ConsumeError> {
        let mut chains: Vec<&str> = Vec::new();
        for event in events {
            if !chains.contains(&event.chain_id.as_str()) {
                chains.push(&event.chain_id);
            }
        }
        for chain in chains {
            let of_chain = events.iter().filter(|e| e.chain_id == chain);
            let mut ids: Vec<String> = Vec::new();
            for event in of_chain.clone() {
                let id = match &event.payload {
                    Some(Payload::CustomerCreated(e)) => &e.customer_id,
                    Some(Payload::ClassChanged(e)) => &e.customer_id,
                    _ => continue,
                };
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
            let mut known = facts::get_many_for_update(txn, chain, &ids).await?;
            let mut homes = PendingHomes::default();
            let mut dirty: Vec<String> = Vec::new();
            for event in of_chain {
                match &event.payload {
                    Some(Payload::CustomerCreated(e)) => {
                        homes.set(&e.customer_id, &e.home_store_id, true);
                        if let Some(facts) = known.get_mut(&e.customer_id) {
                            facts.guest.known = true;
                        }
                        if !dirty.contains(&e.customer_id) {
                            dirty.push(e.customer_id.clone());
                        }
                    }
                    Some(Payload::ContactRecorded(e)) => {
                        homes.set(&e.customer_id, &e.store_id, false);
                    }
                    Some(Payload::ClassChanged(e)) => {
                        use maitre_proto::common::v1::CustomerClass as P;
                        let Some(facts) = known.get_mut(&e.customer_id) else {
                            continue;
                        };
                        facts.class = match P::try_from(e.to) {
                            Ok(P::A) => "A",
                            Ok(P::B) => "B",
                            Ok(P::C) => "C",
                            _ => "",
                        }
                        .to_owned();
                        let birthday = facts.birthday.parse::<NaiveDate>().ok();
                        if !dirty.contains(&e.customer_id) {
                            dirty.push(e.customer_id.clone());
                        }
                        if let Some(birthday) = birthday {
                            write_facts(txn, chain, &known, &mut dirty, &mut homes).await?;
                            let day = AutomationEvent::DayStarted(DayStarted {
                                customer_id: CustomerId::new(e.customer_id.clone()),
                                store_today: store_today(txn, chain, &e.customer_id, None).await?,
                                birthday: Some(birthday),
                                anniversaries: Vec::new(),
                                follow_ups: Vec::new(),
                            });
                            fire(&self.state, txn, chain, &day, Utc::now().timestamp_micros())
                                .await?;
                        }
                    }
                    _ => {}
                }
            }
            write_facts(txn, chain, &known, &mut dirty, &mut homes).await?;
        }
        Ok(())
    }
}

/// Writes the facts rows `dirty` names and the pending home stores; clears both.
async fn write_facts(
    txn: &DatabaseTransaction,
    chain: &str,
    known: &std::collections::HashMap<String, GuestFactsRow>,
    dirty: &mut Vec<String>,
    homes: &mut PendingHomes,
) -> Result<(), ConsumeError> {
    let rows: Vec<&GuestFactsRow> = dirty.iter().filter_map(|id| known.get(id)).collect();
    if !rows.is_empty() {
        facts::put_many(txn, chain, &rows).await?;
    }
    dirty.clear();
    let pending = std::mem::take(homes);
    if !pending.replace.is_empty() {
        stores::set_home_stores(txn, chain, &pending.replace, true).await?;
    }
    if !pending.keep.is_empty() {
        stores::set_home_stores(txn, chain, &pending.keep, false).await?;
    }
    Ok(())
}

/// The stream of an event caused by a change profile records first (a visit, an owner's
/// booking): tagging's tag and segment events, assignment's owner changes.
fn caused_upstream(payload: &Payload) -> Option<&'static str> {
    match payload {
        Payload::TagAdded(_) | Payload::TagRemoved(_) | Payload::SegmentEntered(_) => {
            Some("tagging")
        }
        Payload::OwnerChanged(_) => Some("assignment"),
        _ => None,
    }
}

/// The customer whose condition facts (tags, class) an event changed.
fn facts_changed(payload: &Payload) -> Option<&str> {
    match payload {
        Payload::TagAdded(e) => Some(&e.customer_id),
        Payload::TagRemoved(e) => Some(&e.customer_id),
        Payload::ClassChanged(e) => Some(&e.customer_id),
        _ => None,
    }
}

/// Spawns the consumers of tagging, assignment and profile; each reconnects by itself.
pub fn spawn_consumers(
    runtime: &Runtime,
    state: &State,
    shutdown: impl Future<Output = ()> + Send + Clone + 'static,
) {
    use maitre_kit::config::ServiceName;
    let freshness = Arc::new(ProfileFreshness::new(Arc::new(UpstreamProfileHead {
        config: runtime.config.clone(),
        minter: runtime.minter.clone(),
    })));
    let handler: Arc<dyn EventHandler> =
        Arc::new(AutomationHandler::new(state.clone()).with_profile_freshness(freshness));
    for (upstream, name) in [
        (ServiceName::Tagging, "notification<-tagging"),
        (ServiceName::Assignment, "notification<-assignment"),
        (ServiceName::Profile, PROFILE_CONSUMER),
    ] {
        let (runtime, handler, shutdown) = (runtime.clone(), handler.clone(), shutdown.clone());
        tokio::spawn(async move {
            maitre_kit::eventlog::follow(&runtime, name, upstream, handler, shutdown).await;
        });
    }
}
