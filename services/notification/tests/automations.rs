//! Automations against real storage (both backends): firing from a consumed TagAdded event (message to
//! the guest, reminder to the owner known from OwnerChanged), and the daily birthday scan.

mod common;

use chrono::Utc;
use common::*;
use maitre_kit::eventlog::EventHandler;
use maitre_kit::on_both_backends;
use maitre_kit::testing::Backend;
use maitre_notification::domain::channel::MessagePurpose;
use maitre_notification::events::consumers::AutomationHandler;
use maitre_notification::storage::facts::{self, CustomerFacts};
use maitre_notification::storage::{automations, inbox};
use maitre_proto::events::v1::{CustomerUpdated, Event, OwnerChanged, TagAdded, event::Payload};
use maitre_proto::notification::v1 as pb;
use sea_orm::{DatabaseConnection, TransactionTrait};

fn event(sequence: u64, payload: Payload) -> Event {
    Event {
        sequence,
        chain_id: CHAIN.into(),
        payload: Some(payload),
        ..Event::default()
    }
}

fn tag_added(sequence: u64, customer: &str, tag: &str) -> Event {
    event(
        sequence,
        Payload::TagAdded(TagAdded {
            customer_id: customer.into(),
            tag_name: tag.into(),
            ..Default::default()
        }),
    )
}

fn owner_changed(sequence: u64, customer: &str, to: &str) -> Event {
    event(
        sequence,
        Payload::OwnerChanged(OwnerChanged {
            customer_id: customer.into(),
            to_manager_id: to.into(),
            ..Default::default()
        }),
    )
}

/// The birthday greeting (an SMS three days before), enabled.
async fn greet_birthdays_three_days_ahead(db: &DatabaseConnection) {
    sms_template(db, "birthday.sms", MessagePurpose::Service).await;
    enabled_automation(
        db,
        "birthday",
        birthday_trigger(3),
        vec![action(pb::ActionKind::MessageCustomer, "birthday.sms")],
    )
    .await;
}

/// The service knows `customer`'s birthday (`YYYY-MM-DD`, empty for none), as profile's
/// stream tells it.
async fn knows_birthday(db: &DatabaseConnection, customer: &str, birthday: impl Into<String>) {
    let facts = CustomerFacts {
        customer_id: customer.into(),
        birthday: birthday.into(),
        ..Default::default()
    };
    facts::put(db, CHAIN, &facts).await.expect("facts");
}

/// Handles `e` in a transaction of its own, committed, as the consumer does.
async fn feed(handler: &AutomationHandler, db: &DatabaseConnection, e: Event) {
    let txn = db.begin().await.expect("txn");
    handler.handle(&txn, &e).await.expect("handled");
    txn.commit().await.expect("commit");
}

async fn automation_fires_from_tag_added(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "winback.sms", MessagePurpose::Marketing).await;
    inbox_template(
        db,
        "winback.inbox",
        "{{customer.salutation}}已60天未到店",
        "请安排回访",
    )
    .await;
    let automation = pb::Automation {
        automation_id: "a1".into(),
        name: "win-back".into(),
        trigger: Some(pb::Trigger {
            kind: pb::TriggerKind::TagAdded as i32,
            tag: "lapsed_60d".into(),
            ..Default::default()
        }),
        conditions: None,
        actions: vec![
            pb::Action {
                kind: pb::ActionKind::MessageCustomer as i32,
                template_id: "winback.sms".into(),
                ..Default::default()
            },
            pb::Action {
                kind: pb::ActionKind::RemindOwner as i32,
                template_id: "winback.inbox".into(),
                ..Default::default()
            },
        ],
        enabled: true,
        ..Default::default()
    };
    maitre_notification::app::automation::to_domain(db, CHAIN, &automation)
        .await
        .expect("valid automation");
    automations::upsert(db, CHAIN, &automation, 0)
        .await
        .expect("automation");
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, owner_changed(1, "g1", "wang")).await;
    // Profile tells who the guest is: the reminder names them, not their id.
    feed(
        &handler,
        db,
        event(
            1,
            Payload::CustomerUpdated(CustomerUpdated {
                customer_id: "g1".into(),
                name: "李娜".into(),
                gender: "female".into(),
                favourite_dish: "杨枝甘露".into(),
                ..Default::default()
            }),
        ),
    )
    .await;
    let tag = tag_added(2, "g1", "lapsed_60d");
    feed(&handler, db, tag.clone()).await;
    // The same occurrence handled again (a replay past the cursor) writes nothing new.
    feed(&handler, db, tag).await;
    let rows = messages_of(db, "g1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].dedup_key, "tag_added:g1:lapsed_60d:2");
    assert_eq!(rows[0].automation_id, "a1");
    let items = inbox::list(db, CHAIN, "wang", false, 0, 10)
        .await
        .expect("inbox");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].title, "李女士已60天未到店");
    // A different tag fires nothing.
    feed(&handler, db, tag_added(3, "g2", "vip")).await;
    let none = messages_of(db, "g2").await;
    assert!(none.is_empty());
}

on_both_backends!(automation_fires_from_tag_added);

async fn daily_scan_greets_each_birthday_once(backend: Backend) {
    use chrono::Datelike;
    use maitre_notification::app::daily_scan::{DailyScan, store_today};
    use maitre_notification::state::State;
    let env = env(backend).await;
    let db = &env.db.db;
    greet_birthdays_three_days_ahead(db).await;
    let now = Utc::now();
    let in_three_days = store_today(now) + chrono::Duration::days(3);
    let born = born_on(in_three_days);
    for (customer, birthday) in [("g1", born.to_string()), ("g2", String::new())] {
        knows_birthday(db, customer, birthday).await;
    }
    let scan = DailyScan::new(
        env.pipeline.clone(),
        "replica-1",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(scan.run_once(now).await.expect("scan"), 1);
    assert_eq!(
        scan.run_once(now).await.expect("same day"),
        0,
        "scanned once a day"
    );
    // After a coordination flush the scan runs again, and the occurrence key keeps it to one greeting.
    let flushed = State {
        coord: maitre_kit::testing::coordination(backend).await,
        ..env.pipeline.clone()
    };
    let rescan = DailyScan::new(flushed, "replica-2", std::time::Duration::from_secs(60));
    assert_eq!(rescan.run_once(now).await.expect("rescan"), 0);
    let rows = messages_of(db, "g1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].dedup_key,
        format!("birthday:g1:{}", in_three_days.year())
    );
    let none = messages_of(db, "g2").await;
    assert!(none.is_empty(), "no birthday known, no greeting");
}

on_both_backends!(daily_scan_greets_each_birthday_once);

/// A birthday reminder found by the day's scan before the owner is known (the assignment stream
/// lagging behind profile's) reaches the owner once OwnerChanged arrives, not never.
async fn an_owner_known_after_the_scan_gets_the_birthday_reminder(backend: Backend) {
    use maitre_notification::app::daily_scan::{DailyScan, store_today};
    let env = env(backend).await;
    let db = &env.db.db;
    inbox_template(
        db,
        "birthday.inbox",
        "{{customer.salutation}}{{occurrence.days_until}}天后生日",
        "请准备甜品",
    )
    .await;
    enabled_automation(
        db,
        "birthday-reminder",
        birthday_trigger(3),
        vec![action(pb::ActionKind::RemindOwner, "birthday.inbox")],
    )
    .await;
    let now = Utc::now();
    let born = born_on(store_today(now) + chrono::Duration::days(3));
    knows_birthday(db, "g1", born.to_string()).await;
    let scan = DailyScan::new(
        env.pipeline.clone(),
        "replica-1",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(
        scan.run_once(now).await.expect("scan"),
        0,
        "no owner known yet: nobody to remind"
    );
    let handler = AutomationHandler::new(env.pipeline.clone());
    let owner_changed = owner_changed(7, "g1", "wang");
    for _replay in 0..2 {
        feed(&handler, db, owner_changed.clone()).await;
    }
    let items = inbox::list(db, CHAIN, "wang", false, 0, 10)
        .await
        .expect("inbox");
    assert_eq!(items.len(), 1, "one reminder, replay or not: {items:?}");
    assert_eq!(items[0].customer_id, "g1");
    assert_eq!(items[0].title, "顾客（尾号g1）3天后生日");
}

on_both_backends!(an_owner_known_after_the_scan_gets_the_birthday_reminder);

/// The tagging and assignment streams are consumed side by side: a tag and an owner arriving for
/// the same new guest at the same moment are both kept (each consumer's read-modify-write of the
/// guest's facts waits for the other's, instead of writing back what it read before).
async fn facts_from_two_streams_at_once_are_both_kept(backend: Backend) {
    let env = env(backend).await;
    let db = env.db.db.clone();
    let handler = AutomationHandler::new(env.pipeline.clone());
    // Write transactions, as the consumers open them.
    let tagged = maitre_kit::db::begin_write(&db).await.expect("txn");
    handler
        .handle(&tagged, &tag_added(1, "g1", "likes_dessert"))
        .await
        .expect("tag handled");
    // The owner arrives while the tag's transaction is open.
    let owner = {
        let (db, handler) = (db.clone(), handler.clone());
        tokio::spawn(async move {
            let txn = maitre_kit::db::begin_write(&db).await.expect("txn");
            handler
                .handle(&txn, &owner_changed(2, "g1", "wang"))
                .await
                .expect("owner handled");
            txn.commit().await.expect("commit");
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    tagged.commit().await.expect("commit");
    owner.await.expect("owner task");
    let known = facts::get(&db, CHAIN, "g1").await.expect("facts");
    assert_eq!(known.owner_id, "wang", "{known:?}");
    assert!(known.tags.contains("likes_dessert"), "{known:?}");
}

on_both_backends!(facts_from_two_streams_at_once_are_both_kept);

/// A reminder fired by an event (a tag) before the guest's owner is known cannot be fired again
/// later: it is parked, and the owner named by OwnerChanged gets it, once.
async fn a_reminder_before_the_owner_is_parked_until_the_owner_is_known(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    inbox_template(
        db,
        "new-guest.inbox",
        "{{customer.salutation}}是新客",
        "请在三天内回访",
    )
    .await;
    enabled_automation(
        db,
        "new-guest",
        pb::Trigger {
            kind: pb::TriggerKind::TagAdded as i32,
            tag: "new_guest".into(),
            ..Default::default()
        },
        vec![action(pb::ActionKind::RemindOwner, "new-guest.inbox")],
    )
    .await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, tag_added(1, "g1", "new_guest")).await;
    assert!(
        inbox::list(db, CHAIN, "", false, 0, 10)
            .await
            .expect("inbox")
            .is_empty(),
        "nothing addressed to nobody"
    );
    feed(&handler, db, owner_changed(2, "g1", "wang")).await;
    feed(&handler, db, owner_changed(2, "g1", "wang")).await;
    // A later change of owner does not hand the reminder out again.
    feed(&handler, db, owner_changed(3, "g1", "li")).await;
    let wang = inbox::list(db, CHAIN, "wang", false, 0, 10)
        .await
        .expect("inbox");
    assert_eq!(wang.len(), 1, "{wang:?}");
    assert_eq!(wang[0].title, "顾客（尾号g1）是新客");
    assert_eq!(wang[0].customer_id, "g1");
    let li = inbox::list(db, CHAIN, "li", false, 0, 10)
        .await
        .expect("inbox");
    assert!(li.is_empty(), "{li:?}");
}

on_both_backends!(a_reminder_before_the_owner_is_parked_until_the_owner_is_known);

/// A birthday consumed at the moment a birthday automation is enabled is greeted: either the
/// consumer sees the automation or the rescan that follows the enabling sees the birthday. On
/// PostgreSQL the enabling waits for the consumer's open transaction (`automations::save`);
/// without that wait the consumer saw no automation and the rescan no birthday.
async fn a_birthday_consumed_while_its_automation_is_enabled_is_greeted(backend: Backend) {
    use chrono::Datelike;
    use maitre_notification::app::daily_scan::{DailyScan, store_today};
    use maitre_proto::common::v1::Date;
    let env = env(backend).await;
    let db = env.db.db.clone();
    sms_template(&db, "birthday.sms", MessagePurpose::Service).await;
    let in_three_days = store_today(Utc::now()) + chrono::Duration::days(3);
    let born = born_on(in_three_days);
    let handler = AutomationHandler::new(env.pipeline.clone());
    let consuming = maitre_kit::db::begin_write(&db).await.expect("txn");
    let birthday = event(
        1,
        Payload::CustomerUpdated(CustomerUpdated {
            customer_id: "g1".into(),
            changed_paths: vec!["profile.birthday".into()],
            birthday: Some(Date {
                year: born.year(),
                month: born.month() as i32,
                day: born.day() as i32,
            }),
            ..Default::default()
        }),
    );
    handler
        .handle(&consuming, &birthday)
        .await
        .expect("birthday handled");
    // Meanwhile the automation is enabled, and today's scan runs again once that commits.
    let enabling = {
        let (db, pipeline) = (db.clone(), env.pipeline.clone());
        tokio::spawn(async move {
            let automation = pb::Automation {
                automation_id: "birthday".into(),
                name: "birthday in 3 days".into(),
                trigger: Some(birthday_trigger(3)),
                actions: vec![action(pb::ActionKind::MessageCustomer, "birthday.sms")],
                enabled: true,
                ..Default::default()
            };
            let txn = maitre_kit::db::begin_write(&db).await.expect("txn");
            let dated = automations::save(&txn, CHAIN, &automation, 0)
                .await
                .expect("saved");
            txn.commit().await.expect("commit");
            assert!(dated, "an enabled birthday automation asks for a rescan");
            DailyScan::new(pipeline, "replica-1", std::time::Duration::from_secs(60))
                .run_once(Utc::now())
                .await
                .expect("rescan")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    consuming.commit().await.expect("commit");
    enabling.await.expect("enabling task");
    let rows = messages_of(&db, "g1").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].dedup_key,
        format!("birthday:g1:{}", in_three_days.year())
    );
}

on_both_backends!(a_birthday_consumed_while_its_automation_is_enabled_is_greeted);

/// An erased guest (profile's CustomerErased) is sent nothing more: the queued greeting is
/// suppressed, and no birthday is kept for a later scan to greet.
async fn an_erased_guest_is_sent_nothing_more(backend: Backend) {
    use maitre_notification::app::daily_scan::{DailyScan, store_today};
    use maitre_proto::events::v1::CustomerErased;
    let env = env(backend).await;
    let db = &env.db.db;
    greet_birthdays_three_days_ahead(db).await;
    let now = Utc::now();
    let born = born_on(store_today(now) + chrono::Duration::days(3));
    knows_birthday(db, "g1", born.to_string()).await;
    let scan = DailyScan::new(
        env.pipeline.clone(),
        "replica-1",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(scan.run_once(now).await.expect("scan"), 1);
    assert_eq!(messages_of(db, "g1").await[0].status, "queued");

    let handler = AutomationHandler::new(env.pipeline.clone());
    // Profile had told who she is.
    feed(
        &handler,
        db,
        event(
            1,
            Payload::CustomerUpdated(CustomerUpdated {
                customer_id: "g1".into(),
                name: "李娜".into(),
                gender: "female".into(),
                favourite_dish: "杨枝甘露".into(),
                ..Default::default()
            }),
        ),
    )
    .await;
    assert!(
        facts::guest(db, CHAIN, "g1")
            .await
            .expect("guest")
            .is_some()
    );
    let erased = event(
        2,
        Payload::CustomerErased(CustomerErased {
            customer_id: "g1".into(),
        }),
    );
    feed(&handler, db, erased).await;
    let rows = messages_of(db, "g1").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, "suppressed");
    let known = facts::get(db, CHAIN, "g1").await.expect("facts");
    assert_eq!(known.birthday, "");
    // Her name, gender and favourites go with her personal data.
    assert_eq!(known.guest, facts::GuestFacts::default());
    assert!(
        facts::guest(db, CHAIN, "g1")
            .await
            .expect("guest")
            .is_none()
    );
}

on_both_backends!(an_erased_guest_is_sent_nothing_more);

/// Two profiles merged into one (profile's CustomerMerged) are one guest: the birthday known
/// only under the absorbed id is the survivor's, greeted once, under the survivor's id; the
/// absorbed profile's later SMS opt-out stands for the survivor.
async fn merged_profiles_are_greeted_once_under_one_consent(backend: Backend) {
    use maitre_notification::app::daily_scan::{DailyScan, store_today};
    use maitre_notification::domain::channel::Channel;
    use maitre_notification::domain::consent::ChannelConsent;
    use maitre_notification::storage::policy;
    use maitre_proto::events::v1::CustomerMerged;
    let env = env(backend).await;
    let db = &env.db.db;
    greet_birthdays_three_days_ahead(db).await;
    let now = Utc::now();
    let in_three_days = store_today(now) + chrono::Duration::days(3);
    knows_birthday(db, "absorbed", born_on(in_three_days).to_string()).await;
    opt_in(db, "survivor").await;
    let opted_out_at = Utc::now() + chrono::Duration::seconds(1);
    let mut theirs = policy::preferences(db, CHAIN, "absorbed")
        .await
        .expect("read");
    theirs
        .consent
        .set(Channel::Sms, ChannelConsent::OptedOut { at: opted_out_at });
    policy::put_preferences(db, CHAIN, "absorbed", &theirs)
        .await
        .expect("preferences");

    let handler = AutomationHandler::new(env.pipeline.clone());
    let merged = event(
        3,
        Payload::CustomerMerged(CustomerMerged {
            survivor_id: "survivor".into(),
            absorbed_ids: vec!["absorbed".into()],
            reason: "shared_identity".into(),
        }),
    );
    feed(&handler, db, merged.clone()).await;
    feed(&handler, db, merged).await;

    let scan = DailyScan::new(
        env.pipeline.clone(),
        "replica-1",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(scan.run_once(now).await.expect("scan"), 1);
    let greeted = messages_of(db, "survivor").await;
    assert_eq!(greeted.len(), 1, "{greeted:?}");
    assert_eq!(
        greeted[0].dedup_key,
        format!(
            "birthday:survivor:{}",
            chrono::Datelike::year(&in_three_days)
        )
    );
    assert!(messages_of(db, "absorbed").await.is_empty());
    let consent = policy::preferences(db, CHAIN, "survivor")
        .await
        .expect("read")
        .consent;
    assert_eq!(
        consent.get(Channel::Sms),
        ChannelConsent::OptedOut { at: opted_out_at }
    );
}

on_both_backends!(merged_profiles_are_greeted_once_under_one_consent);

/// Profile's head as a test sets it.
struct FixedProfileHead(u64);

#[async_trait::async_trait]
impl maitre_notification::app::freshness::ProfileHead for FixedProfileHead {
    async fn chain_head(&self, _chain: &str, _after: u64) -> Result<u64, String> {
        Ok(self.0)
    }
}

/// The race of issue 19: tagging's `likes_dessert` overtakes profile's `CustomerUpdated` carrying
/// the favourite dish of the same visit. The tag waits (its transaction rolls back, retried)
/// until the profile consumer reached profile's head, so the reminder names the favourite and
/// never reads "暂无记录".
async fn a_tag_waits_for_the_profile_facts_behind_it(backend: Backend) {
    use maitre_notification::app::freshness::{PROFILE_CONSUMER, ProfileFreshness};
    let env = env(backend).await;
    let db = &env.db.db;
    inbox_template(
        db,
        "dessert.inbox",
        "{{customer.salutation}}爱甜品",
        "最爱{{customer.favourite_dish | \"暂无记录\"}}",
    )
    .await;
    let automation = pb::Automation {
        automation_id: "a1".into(),
        name: "dessert lover".into(),
        trigger: Some(pb::Trigger {
            kind: pb::TriggerKind::TagAdded as i32,
            tag: "likes_dessert".into(),
            ..Default::default()
        }),
        actions: vec![pb::Action {
            kind: pb::ActionKind::RemindOwner as i32,
            template_id: "dessert.inbox".into(),
            ..Default::default()
        }],
        enabled: true,
        ..Default::default()
    };
    automations::upsert(db, CHAIN, &automation, 0)
        .await
        .expect("automation");
    // Wang owns g1. Profile has published up to 4 of this chain; notification applied none of it.
    feed(
        &AutomationHandler::new(env.pipeline.clone()),
        db,
        owner_changed(1, "g1", "wang"),
    )
    .await;
    let handler =
        AutomationHandler::new(env.pipeline.clone()).with_profile_freshness(std::sync::Arc::new(
            ProfileFreshness::new(std::sync::Arc::new(FixedProfileHead(4))),
        ));
    let tag = tag_added(2, "g1", "likes_dessert");
    let txn = db.begin().await.expect("txn");
    let behind = handler.handle(&txn, &tag).await;
    txn.rollback().await.expect("rollback");
    assert!(behind.is_err(), "the tag waits for profile's stream");
    assert!(
        inbox::list(db, CHAIN, "wang", false, 0, 10)
            .await
            .expect("inbox")
            .is_empty(),
        "nothing rendered from facts that are behind"
    );
    // Profile's stream arrives: who she is and her favourite, and the cursor past the head.
    feed(
        &handler,
        db,
        event(
            4,
            Payload::CustomerUpdated(CustomerUpdated {
                customer_id: "g1".into(),
                name: "李娜".into(),
                gender: "female".into(),
                favourite_dish: "杨枝甘露".into(),
                ..Default::default()
            }),
        ),
    )
    .await;
    set_profile_cursor(db, PROFILE_CONSUMER, 4).await;
    feed(&handler, db, tag).await;
    let items = inbox::list(db, CHAIN, "wang", false, 0, 10)
        .await
        .expect("inbox");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].title, "李女士爱甜品");
    assert_eq!(items[0].body, "最爱杨枝甘露");
}

async fn set_profile_cursor(db: &DatabaseConnection, consumer: &str, position: i64) {
    use sea_orm::ConnectionTrait;
    let sql =
        "INSERT INTO kit_consumer_cursor (consumer, position, updated_at_us) VALUES ($1, $2, 0)
               ON CONFLICT (consumer) DO UPDATE SET position = excluded.position";
    db.execute_raw(maitre_kit::db::stmt(
        db,
        sql,
        [consumer.into(), position.into()],
    ))
    .await
    .expect("cursor");
}

/// Profile's head as a service answers it, counting the questions.
struct CountingProfileHead {
    head: std::sync::atomic::AtomicU64,
    asked: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl maitre_notification::app::freshness::ProfileHead for CountingProfileHead {
    async fn chain_head(&self, _chain: &str, _after: u64) -> Result<u64, String> {
        use std::sync::atomic::Ordering::SeqCst;
        self.asked.fetch_add(1, SeqCst);
        Ok(self.head.load(SeqCst))
    }
}

/// Issue 19 item 5: a burst of tags read in one run asks profile's head once, not once per tag;
/// a tag numbered after that question asks again and waits for what profile numbered since (the
/// race `a_tag_waits_for_the_profile_facts_behind_it` guards).
async fn a_burst_of_tags_asks_profile_once(backend: Backend) {
    use maitre_kit::eventlog::Consumer;
    use maitre_notification::app::freshness::{PROFILE_CONSUMER, ProfileFreshness};
    use std::sync::atomic::Ordering::SeqCst;
    let env = env(backend).await;
    let db = &env.db.db;
    let head = std::sync::Arc::new(CountingProfileHead {
        head: 3.into(),
        asked: 0.into(),
    });
    let handler = AutomationHandler::new(env.pipeline.clone())
        .with_profile_freshness(std::sync::Arc::new(ProfileFreshness::new(head.clone())));
    set_profile_cursor(db, PROFILE_CONSUMER, 3).await;
    let tagging = Consumer::new("notification<-tagging", db.clone());
    let burst: Vec<Event> = (1..=5)
        .map(|n| tag_added(n, &format!("g{n}"), "likes_dessert"))
        .collect();
    let applied = tagging.apply_run(&burst, &handler).await.expect("applied");
    assert_eq!(applied, 5);
    assert_eq!(head.asked.load(SeqCst), 1, "one question for the burst");

    // Profile numbers two more events; tagging's next tag comes from them.
    head.head.store(5, SeqCst);
    let late = tag_added(6, "g6", "likes_dessert");
    assert!(
        tagging.apply(&late, &handler).await.is_err(),
        "a tag numbered after the question waits for profile's newer head"
    );
    assert_eq!(head.asked.load(SeqCst), 2);
    set_profile_cursor(db, PROFILE_CONSUMER, 5).await;
    tagging
        .apply(&late, &handler)
        .await
        .expect("applied once caught up");
    assert_eq!(
        head.asked.load(SeqCst),
        2,
        "the retried tag keeps the head it first required"
    );
    let known = facts::get(db, CHAIN, "g6").await.expect("facts");
    assert!(known.tags.contains("likes_dessert"));
}

on_both_backends!(
    a_tag_waits_for_the_profile_facts_behind_it,
    a_burst_of_tags_asks_profile_once
);
