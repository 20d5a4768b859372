//! FollowUpDue announcements straight against storage on both backends: each plan is
//! announced once when due and once when overdue, in the outbox with its mark.

use chrono::{Duration, Utc};
use maitre_kit::{
    db::stmt,
    eventlog::EventLog,
    testing::{Backend, TestDb},
};
use maitre_profile::{
    app::reminders::announce_due_plans,
    storage::{Migrator, followups},
};
use maitre_proto::events::v1::{Event, event::Payload};
use prost::Message;
use sea_orm::ConnectionTrait;

async fn announced(db: &TestDb) -> Vec<(String, bool)> {
    let rows = db
        .db
        .query_all_raw(stmt(
            &db.db,
            "SELECT payload FROM kit_outbox ORDER BY id",
            [],
        ))
        .await
        .unwrap();
    rows.iter()
        .filter_map(|r| {
            let bytes: Vec<u8> = r.try_get_by_index(0).unwrap();
            match Event::decode(bytes.as_slice()).unwrap().payload {
                Some(Payload::FollowUpDue(due)) => Some((due.plan_id, due.overdue)),
                _ => None,
            }
        })
        .collect()
}

fn plan(id: &str, due_at: chrono::DateTime<Utc>) -> followups::PlanRow {
    followups::PlanRow {
        plan_id: id.into(),
        customer_id: "c-1".into(),
        manager_id: "wang".into(),
        kind: 1,
        title: "回访".into(),
        due_at_us: due_at.timestamp_micros(),
        source: "manual".into(),
        completed_at_us: None,
        record_id: String::new(),
        source_event_id: String::new(),
        superseded_by: String::new(),
    }
}

async fn plans_are_announced_once_due_and_once_overdue(backend: Backend) {
    let db = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(db.db.clone(), "profile", None);
    let now = Utc::now();
    followups::insert_plan(
        &db.db,
        "chain-1",
        &plan("late", now - Duration::hours(1)),
        0,
    )
    .await
    .unwrap();
    followups::insert_plan(
        &db.db,
        "chain-1",
        &plan("soon", now + Duration::hours(12)),
        0,
    )
    .await
    .unwrap();
    followups::insert_plan(
        &db.db,
        "chain-1",
        &plan("later", now + Duration::days(5)),
        0,
    )
    .await
    .unwrap();
    let mut done = plan("done", now - Duration::hours(2));
    done.completed_at_us = Some(now.timestamp_micros());
    followups::insert_plan(&db.db, "chain-1", &done, 0)
        .await
        .unwrap();

    assert_eq!(announce_due_plans(&db.db, &log, now).await.unwrap(), 2);
    assert_eq!(
        announce_due_plans(&db.db, &log, now).await.unwrap(),
        0,
        "once only"
    );
    assert_eq!(
        announced(&db).await,
        [("late".to_owned(), true), ("soon".to_owned(), false)]
    );
    // Thirteen hours on, "soon" is overdue: announced again, as overdue.
    assert_eq!(
        announce_due_plans(&db.db, &log, now + Duration::hours(13))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        announced(&db).await.last().unwrap(),
        &("soon".to_owned(), true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded() {
    plans_are_announced_once_due_and_once_overdue(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production() {
    plans_are_announced_once_due_and_once_overdue(Backend::Production).await
}
