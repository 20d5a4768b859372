//! What the service consumes: profile's `Watch` stream. Each event updates the customer
//! facts rules read (visits, campaign responses and reviews, birthday, attributes, class;
//! merges and erasures) and then
//! re-evaluates that customer's rule tags, all in the consumer's transaction, so the
//! cursor, the facts, the memberships and the emitted `TagAdded`/`TagRemoved` commit
//! together. What it emits is written by `app::apply`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maitre_kit::{
    config::ServiceName,
    eventlog::{ConsumeError, EventHandler},
};
use maitre_proto::{
    common::v1::CustomerClass,
    events::v1::{ContactKind, ContactRecorded, DishChanged, Event, event::Payload},
};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::{
    app::{
        apply::apply_changes,
        live::reevaluate_customer,
        scores::rescore_customer,
        watch::after_fact_change,
        zones::{CHAIN_TIME_ZONE, zone_named},
    },
    domain::membership::Change,
    domain::rule::{EpochDay, InteractionKind, epoch_day},
    error::Result,
    state::Deps,
    storage::{
        campaigns::move_sends,
        facts::{
            VisitRow, ensure_customer, erase_customer, insert_visit, move_visits,
            replace_attributes, set_birthday, set_class,
        },
        interactions::{
            campaign_response_occurrence, erase_interactions, move_interactions, record_interaction,
        },
        membership::{delete_history_of, memberships_of},
        menu::{
            DishRow, erase_customer_analysis, insert_visit_lines, move_visit_lines, upsert_dish,
        },
        places::{
            forget_customer_stores, move_customer_stores, record_customer_store, store_zone_of,
            upsert_store,
        },
        watched::delete_memberships_of_customer,
    },
};

pub mod campaigns;
pub mod own_log;
mod run;

pub use crate::app::catch_up::PROFILE_CONSUMER;

/// The store-local day of a contact: the date profile sent, else the date of `occurred_at`
/// in `store_zone` (the zone of the contact's store; events from before profile sent local
/// dates).
fn contact_day(contact: &ContactRecorded, store_zone: Tz) -> Option<EpochDay> {
    let date = NaiveDate::parse_from_str(&contact.local_date, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            let at = contact.occurred_at.as_ref()?;
            let utc = DateTime::<Utc>::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)?;
            Some(maitre_kit::visits::visit_date(utc, store_zone))
        })?;
    Some(epoch_day(date))
}

/// The visit a contact records, if it is a visit (bookings, reviews and campaign responses
/// are not), on its store-local day ([`contact_day`]).
pub fn visit_of_contact(contact: &ContactRecorded, store_zone: Tz) -> Option<VisitRow> {
    if contact.kind != ContactKind::Visit as i32 {
        return None;
    }
    Some(VisitRow {
        customer_id: contact.customer_id.clone(),
        day: contact_day(contact, store_zone)?,
        amount_fen: contact.amount_fen.max(0),
        store_id: contact.store_id.clone(),
        dish_categories: contact
            .lines
            .iter()
            .map(|line| (!line.category.is_empty()).then(|| line.category.clone()))
            .collect(),
    })
}

/// The interaction a contact records, if any: a campaign response (one per campaign it
/// names, so the reply notification also reports counts once) or a review, with its
/// occurrence key and store-local day.
pub fn interaction_of_contact(
    contact: &ContactRecorded,
    store_zone: Tz,
) -> Option<(InteractionKind, String, EpochDay)> {
    let (kind, occurrence) = match ContactKind::try_from(contact.kind).ok()? {
        ContactKind::CampaignResponse => (
            InteractionKind::CampaignResponse,
            campaign_response_occurrence(&contact.campaign_id, &contact.event_id),
        ),
        ContactKind::Review => (
            InteractionKind::Review,
            format!("event:{}", contact.event_id),
        ),
        _ => return None,
    };
    Some((kind, occurrence, contact_day(contact, store_zone)?))
}

/// The menu row of a `DishChanged` (a launch date that does not parse is left unknown).
pub fn dish_of(e: &DishChanged) -> DishRow {
    DishRow {
        dish_id: e.dish_id.clone(),
        name: e.name.trim().to_owned(),
        category: e.category.clone(),
        ingredients: e
            .ingredients
            .iter()
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty())
            .collect(),
        launch_day: NaiveDate::parse_from_str(&e.launch_date, "%Y-%m-%d")
            .ok()
            .map(epoch_day),
    }
}

fn class_letter(class: i32) -> Option<&'static str> {
    match CustomerClass::try_from(class).ok()? {
        CustomerClass::A => Some("A"),
        CustomerClass::B => Some("B"),
        CustomerClass::C => Some("C"),
        CustomerClass::Unspecified => None,
    }
}

/// Applies one profile event; returns the membership changes it caused.
pub async fn apply_profile_event(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    match apply_profile_facts(conn, deps, event, now).await? {
        Facts::Guest(customer, how) => {
            reevaluate(conn, deps, &event.chain_id, &customer, how, now).await
        }
        Facts::Done(changes) => Ok(changes),
    }
}

/// What re-evaluating a guest after the facts of profile events involves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reevaluation {
    /// A visit arrived: the model scores first, since rules read them.
    pub rescore: bool,
    /// Class or attributes changed: the watched segments after the rules.
    pub watched: bool,
}

impl Reevaluation {
    fn and(self, other: Self) -> Self {
        Self {
            rescore: self.rescore || other.rescore,
            watched: self.watched || other.watched,
        }
    }
}

/// What applying an event's facts left to do.
pub enum Facts {
    /// The guest's facts changed: re-evaluate them so.
    Guest(String, Reevaluation),
    /// Nothing (more) to do; the membership changes it made.
    Done(Vec<Change>),
}

/// Whether an event only writes facts about one guest (which [`reevaluate`] then derives
/// from), so a run may write several of them before re-evaluating each guest once.
fn guest_facts_only(event: &Event) -> bool {
    matches!(
        event.payload,
        Some(
            Payload::CustomerCreated(_)
                | Payload::ContactRecorded(_)
                | Payload::CustomerUpdated(_)
                | Payload::ClassChanged(_)
        )
    )
}

/// Re-evaluates a guest whose facts changed: model scores (after a visit), rule tags, then
/// the watched segments (after a class or attribute change).
pub async fn reevaluate(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain: &str,
    customer_id: &str,
    how: Reevaluation,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    if how.rescore {
        changes.extend(rescore_customer(conn, deps, chain, customer_id, now).await?);
    }
    changes.extend(reevaluate_customer(conn, deps, chain, customer_id, now).await?);
    if how.watched {
        after_fact_change(
            conn,
            &deps.runtime.events,
            chain,
            customer_id,
            now.timestamp_micros(),
        )
        .await?;
    }
    Ok(changes)
}

/// Writes what a profile event says; events about one guest leave the re-evaluation to the
/// caller ([`Facts::Guest`]), the others (stores, dishes, merges, erasures) apply whole.
pub async fn apply_profile_facts(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Facts> {
    let chain = event.chain_id.as_str();
    let now_us = now.timestamp_micros();
    let none = || Ok(Facts::Done(Vec::new()));
    match &event.payload {
        Some(Payload::CustomerCreated(e)) => {
            record_customer_store(conn, chain, &e.customer_id, &e.home_store_id).await?;
            if ensure_customer(conn, chain, &e.customer_id, now_us)
                .await?
                .is_none()
            {
                return none();
            }
            Ok(Facts::Guest(e.customer_id.clone(), Reevaluation::default()))
        }
        Some(Payload::StoreChanged(e)) if !e.store_id.is_empty() => {
            upsert_store(conn, chain, &e.store_id, e.time_zone.trim(), &e.name).await?;
            none()
        }
        Some(Payload::ContactRecorded(e)) => {
            if ensure_customer(conn, chain, &e.customer_id, now_us)
                .await?
                .is_none()
            {
                return none();
            }
            // Scope and home zone: every store the customer had contact with, first = home.
            record_customer_store(conn, chain, &e.customer_id, &e.store_id).await?;
            let store_zone = if e.local_date.is_empty() {
                store_zone_of(conn, chain, &e.store_id)
                    .await?
                    .map_or(CHAIN_TIME_ZONE, |name| zone_named(&name))
            } else {
                CHAIN_TIME_ZONE // unused: the local date profile sent decides
            };
            if let Some(visit) = visit_of_contact(e, store_zone) {
                insert_visit(conn, chain, &e.event_id, &visit).await?;
                let lines: Vec<(String, String, String)> = e
                    .lines
                    .iter()
                    .map(|l| (l.dish_id.clone(), l.dish_name.clone(), l.category.clone()))
                    .collect();
                insert_visit_lines(
                    conn,
                    chain,
                    &e.event_id,
                    &e.customer_id,
                    visit.day,
                    &visit.store_id,
                    &lines,
                )
                .await?;
                return Ok(Facts::Guest(
                    e.customer_id.clone(),
                    Reevaluation {
                        rescore: true,
                        watched: false,
                    },
                ));
            }
            if let Some((kind, occurrence, day)) = interaction_of_contact(e, store_zone) {
                record_interaction(conn, chain, &e.customer_id, kind, &occurrence, day).await?;
            }
            Ok(Facts::Guest(e.customer_id.clone(), Reevaluation::default()))
        }
        Some(Payload::CustomerUpdated(e)) => {
            if ensure_customer(conn, chain, &e.customer_id, now_us)
                .await?
                .is_none()
            {
                return none();
            }
            let birthday = e.birthday.as_ref().and_then(|d| {
                let (month, day) = (u32::try_from(d.month).ok()?, u32::try_from(d.day).ok()?);
                (month > 0 && day > 0).then_some((month, day))
            });
            set_birthday(conn, chain, &e.customer_id, birthday).await?;
            let mut attributes: Vec<(String, String)> = e
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            attributes.sort();
            replace_attributes(conn, chain, &e.customer_id, &attributes).await?;
            Ok(Facts::Guest(
                e.customer_id.clone(),
                Reevaluation {
                    rescore: false,
                    watched: true,
                },
            ))
        }
        Some(Payload::ClassChanged(e)) => {
            if ensure_customer(conn, chain, &e.customer_id, now_us)
                .await?
                .is_none()
            {
                return none();
            }
            set_class(conn, chain, &e.customer_id, class_letter(e.to)).await?;
            Ok(Facts::Guest(
                e.customer_id.clone(),
                Reevaluation {
                    rescore: false,
                    watched: true,
                },
            ))
        }
        Some(Payload::CustomerMerged(e)) => Ok(Facts::Done(
            merge(conn, deps, chain, &e.survivor_id, &e.absorbed_ids, now).await?,
        )),
        Some(Payload::DishChanged(e)) if !e.dish_id.is_empty() => {
            upsert_dish(conn, chain, &dish_of(e)).await?;
            none()
        }
        Some(Payload::CustomerErased(e)) => {
            let changes =
                drop_memberships(conn, deps, chain, &e.customer_id, "erased", now_us).await?;
            erase_customer(conn, chain, &e.customer_id).await?;
            erase_interactions(conn, chain, &e.customer_id).await?;
            erase_customer_analysis(conn, chain, &e.customer_id).await?;
            delete_history_of(conn, chain, &e.customer_id).await?;
            forget_customer_stores(conn, chain, &e.customer_id).await?;
            delete_memberships_of_customer(conn, chain, &e.customer_id).await?;
            Ok(Facts::Done(changes))
        }
        _ => none(),
    }
}

/// Removes every membership of a customer who leaves the chain's roster.
async fn drop_memberships(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain: &str,
    customer_id: &str,
    actor: &str,
    now_us: i64,
) -> Result<Vec<Change>> {
    let set = deps.rules.load(conn, chain).await?;
    let changes = memberships_of(conn, chain, customer_id)
        .await?
        .into_iter()
        .map(|m| Change {
            tag_name: set.names.get(&m.tag_id).cloned().unwrap_or_default(),
            tag_id: m.tag_id,
            customer_id: m.customer_id,
            number: m.number,
            added: false,
            source: m.source,
            rule_version: m.rule_version,
            actor: actor.to_owned(),
            reason: format!("customer {actor}"),
        })
        .collect();
    apply_changes(conn, &deps.runtime.events, chain, changes, now_us).await
}

/// A merge: the absorbed customers' visits and manual/model tags move to the survivor, the
/// absorbed leave the roster, and the survivor is re-evaluated.
async fn merge(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain: &str,
    survivor: &str,
    absorbed: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let now_us = now.timestamp_micros();
    let Some(survivor_number) = ensure_customer(conn, chain, survivor, now_us).await? else {
        return Ok(Vec::new());
    };
    let mut all = Vec::new();
    for old in absorbed.iter().filter(|id| *id != survivor) {
        move_visits(conn, chain, old, survivor).await?;
        move_visit_lines(conn, chain, old, survivor).await?;
        move_interactions(conn, chain, old, survivor).await?;
        move_sends(conn, chain, old, survivor).await?;
        let removed = drop_memberships(conn, deps, chain, old, "merge", now_us).await?;
        let carried: Vec<Change> = removed
            .iter()
            .filter(|c| c.source != crate::storage::catalog::SOURCE_RULE)
            .map(|c| Change {
                customer_id: survivor.to_owned(),
                number: survivor_number,
                added: true,
                reason: format!("merged from {old}"),
                ..c.clone()
            })
            .collect();
        all.extend(removed);
        all.extend(apply_changes(conn, &deps.runtime.events, chain, carried, now_us).await?);
        erase_customer(conn, chain, old).await?;
        erase_customer_analysis(conn, chain, old).await?;
        move_customer_stores(conn, chain, old, survivor).await?;
        delete_memberships_of_customer(conn, chain, old).await?;
    }
    // The survivor's visits changed: rescore before the rules read the scores.
    all.extend(rescore_customer(conn, deps, chain, survivor, now).await?);
    all.extend(reevaluate_customer(conn, deps, chain, survivor, now).await?);
    Ok(all)
}

/// The consumer's handler.
pub struct ProfileEvents {
    pub deps: Arc<Deps>,
}

#[async_trait::async_trait]
impl EventHandler for ProfileEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        apply_profile_event(txn, &self.deps, event, Utc::now()).await?;
        Ok(())
    }

    /// A run (catching up after an import: a guest's creation, visit and profile arrive
    /// together) is applied in stretches: each stretch of events about single guests
    /// set-based ([`run::apply_guest_run`]: facts written a statement per table, each guest
    /// re-evaluated once after the last of the stretch's facts about them), each other
    /// event (a store, a dish, a merge, an erasure) alone, so it sees the guests as the
    /// events before it left them. The tags reached are the ones event-by-event application
    /// ends with; a tag a guest would have gained and lost again inside one stretch is never
    /// announced.
    async fn handle_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
    ) -> Result<(), ConsumeError> {
        let now = Utc::now();
        let mut rest = events;
        while let Some(first) = rest.first() {
            if guest_facts_only(first) {
                let end = rest
                    .iter()
                    .position(|e| !guest_facts_only(e))
                    .unwrap_or(rest.len());
                run::apply_guest_run(txn, &self.deps, &rest[..end], now).await?;
                rest = &rest[end..];
            } else {
                apply_profile_event(txn, &self.deps, first, now).await?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }
}

/// Follows profile's `Watch` until `shutdown`, reconnecting by itself.
pub async fn consume_profile(deps: Arc<Deps>, shutdown: impl std::future::Future<Output = ()>) {
    let runtime = deps.runtime.clone();
    let handler = Arc::new(ProfileEvents { deps });
    maitre_kit::eventlog::follow(
        &runtime,
        PROFILE_CONSUMER,
        ServiceName::Profile,
        handler,
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use maitre_proto::events::v1::OrderLine;

    use super::*;

    #[test]
    fn only_visits_become_visits_on_their_local_day() {
        let mut contact = ContactRecorded {
            customer_id: "c1".into(),
            kind: ContactKind::Visit as i32,
            amount_fen: 18_800,
            store_id: "s1".into(),
            local_date: "2024-03-01".into(),
            lines: vec![
                OrderLine {
                    category: "dessert".into(),
                    ..Default::default()
                },
                OrderLine::default(),
            ],
            ..Default::default()
        };
        let shanghai = chrono_tz::Asia::Shanghai;
        let visit = visit_of_contact(&contact, shanghai).expect("a visit");
        assert_eq!(visit.day, 19_783);
        assert_eq!(visit.dish_categories, vec![Some("dessert".into()), None]);
        // No local date: the store-local date of the instant (16:30 UTC is the next day in Shanghai)...
        contact.local_date.clear();
        contact.occurred_at = Some(prost_types::Timestamp {
            seconds: 1_709_310_600,
            nanos: 0,
        });
        assert_eq!(
            visit_of_contact(&contact, shanghai).map(|v| v.day),
            Some(19_784)
        );
        // ...in the store's zone: 16:30 UTC is still the 1st in New York.
        let new_york = chrono_tz::America::New_York;
        assert_eq!(
            visit_of_contact(&contact, new_york).map(|v| v.day),
            Some(19_783)
        );
        contact.kind = ContactKind::Booking as i32;
        assert_eq!(visit_of_contact(&contact, shanghai), None);
    }

    #[test]
    fn campaign_responses_are_one_per_campaign_and_reviews_one_per_event() {
        let shanghai = chrono_tz::Asia::Shanghai;
        let mut contact = ContactRecorded {
            event_id: "ev1".into(),
            customer_id: "c1".into(),
            kind: ContactKind::CampaignResponse as i32,
            campaign_id: "camp1".into(),
            local_date: "2024-03-01".into(),
            ..Default::default()
        };
        assert_eq!(
            interaction_of_contact(&contact, shanghai),
            Some((
                InteractionKind::CampaignResponse,
                "campaign:camp1".to_owned(),
                19_783
            ))
        );
        assert_eq!(visit_of_contact(&contact, shanghai), None);
        contact.campaign_id.clear();
        assert_eq!(
            interaction_of_contact(&contact, shanghai).map(|i| i.1),
            Some("event:ev1".to_owned()),
            "a response naming no campaign is its own occurrence"
        );
        contact.kind = ContactKind::Review as i32;
        assert_eq!(
            interaction_of_contact(&contact, shanghai).map(|i| (i.0, i.1)),
            Some((InteractionKind::Review, "event:ev1".to_owned()))
        );
        contact.kind = ContactKind::Visit as i32;
        assert_eq!(interaction_of_contact(&contact, shanghai), None);
        contact.kind = ContactKind::Booking as i32;
        assert_eq!(interaction_of_contact(&contact, shanghai), None);
    }
}
