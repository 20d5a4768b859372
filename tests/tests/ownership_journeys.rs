//! Ownership holds in the joints between profile and assignment (issue 20), through the
//! gateway as the apps drive it: contacts recorded while assignment is down count once when
//! it is back; an import through `/v1/events:batch` gives owners and value locks; a late
//! booking does not move the owner; a guest whose contact cannot make an owner waits in the
//! pool with the reason. Every wait polls for the proof with a deadline.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-owners";
/// ¥5,000.
const THRESHOLD_FEN: i64 = 500_000;

struct Chain {
    system: System,
    admin: Rest,
    store: String,
}

impl Chain {
    async fn start(backend: Backend) -> Chain {
        let system = System::start(backend).await;
        let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
        let store = new_store(&admin, "S1").await;
        for id in ["wang", "zhang"] {
            admin
                .put(
                    &format!("/v1/managers/{id}"),
                    json!({"manager": {"managerId": id, "name": id, "storeIds": [store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
                )
                .await
                .ok();
        }
        admin
            .patch(
                "/v1/assignment-policy",
                json!({"policy": {"valueLockThresholdFen": THRESHOLD_FEN.to_string(), "strategy": "STRATEGY_DAILY_EVEN_SPLIT"},
                       "updateMask": "valueLockThresholdFen,strategy"}),
            )
            .await
            .ok();
        Chain {
            system,
            admin,
            store,
        }
    }

    /// The customer id of the guest with `phone`.
    async fn customer(&self, phone: &str) -> String {
        let found = self
            .admin
            .post(
                "/v1/customers:lookup",
                json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": phone}}),
            )
            .await
            .ok();
        found["customer"]["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned()
    }

    /// Polls the guest's ownership until `holds`; the last ownership seen when it never does.
    async fn ownership_until(
        &self,
        customer: &str,
        what: &str,
        holds: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let reply = self
                .admin
                .get(&format!("/v1/customers/{customer}/ownership"))
                .await;
            let ownership = reply.body["ownership"].clone();
            if reply.status == 200 && holds(&ownership) {
                return ownership;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never held; last answer {} {}",
                reply.status,
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn new_store(admin: &Rest, code: &str) -> String {
    maitre_tests::setup::store(admin, &format!("store {code}"), code).await
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A contact event as the apps send it.
fn event(
    external_id: &str,
    phone: &str,
    store: &str,
    manager: &str,
    amount_fen: i64,
    at: DateTime<Utc>,
) -> Value {
    let (kind, channel) = if amount_fen > 0 {
        ("CONTACT_KIND_VISIT", "EVENT_CHANNEL_POS")
    } else {
        ("CONTACT_KIND_BOOKING", "EVENT_CHANNEL_PHONE")
    };
    json!({
        "channel": channel, "externalId": external_id, "kind": kind,
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store, "managerId": manager,
        "amount": {"amountFen": amount_fen.to_string(), "currency": "CNY"},
        "occurredAt": rfc3339(at), "partySize": 2,
    })
}

fn fen(ownership: &Value) -> i64 {
    ownership["countedSpendFen"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn manager(ownership: &Value) -> &str {
    ownership["managerId"].as_str().unwrap_or_default()
}

fn locked(ownership: &Value) -> bool {
    ownership["locked"].as_bool().unwrap_or(false)
}

/// Assignment is down while contacts with spend are recorded (and one is re-sent): once it
/// is back, every contact counts once, owners are right and the value lock is applied.
async fn contacts_during_an_assignment_outage_count_once(backend: Backend) {
    let mut chain = Chain::start(backend).await;
    let store = chain.store.clone();
    let now = Utc::now();
    chain.system.stop_assignment().await;
    let visits = [
        ("v1", "13800138001", "wang", 300_000, 3),
        ("v2", "13800138001", "wang", 300_000, 2),
        ("v3", "13800138002", "zhang", 120_000, 2),
    ];
    for (id, phone, via, amount, days_ago) in visits {
        let at = now - chrono::Duration::days(days_ago);
        let recorded = chain
            .admin
            .post(
                "/v1/events",
                json!({"event": event(id, phone, &store, via, amount, at)}),
            )
            .await
            .ok();
        assert!(
            !recorded["owner"]["known"].as_bool().unwrap_or(false),
            "assignment is down: the owner is not known yet"
        );
    }
    // The desk re-sends one: a duplicate, still not asking assignment.
    let again = chain
        .admin
        .post(
            "/v1/events",
            json!({"event": event("v2", "13800138001", &store, "wang", 300_000, now - chrono::Duration::days(2))}),
        )
        .await
        .ok();
    assert_eq!(again["duplicate"], true);
    chain.system.restart_assignment().await;

    let li = chain.customer("13800138001").await;
    let owned = chain
        .ownership_until(&li, "li owned by wang and locked", |o| {
            manager(o) == "wang" && locked(o) && fen(o) >= 600_000
        })
        .await;
    assert_eq!(fen(&owned), 600_000, "each visit counted once");
    let chen = chain.customer("13800138002").await;
    let owned = chain
        .ownership_until(&chen, "chen owned by zhang", |o| {
            manager(o) == "zhang" && fen(o) >= 120_000
        })
        .await;
    assert_eq!(fen(&owned), 120_000);
    assert!(!locked(&owned));
}

/// An import through `/v1/events:batch` (no call to assignment) gives the imported guests
/// owners and counts their spend toward the value lock.
async fn an_import_gives_owners_and_locks(backend: Backend) {
    let chain = Chain::start(backend).await;
    let now = Utc::now();
    let day = |n: i64| now - chrono::Duration::days(n);
    let events = vec![
        event("i1", "13900139001", &chain.store, "wang", 400_000, day(40)),
        event("i2", "13900139001", &chain.store, "wang", 200_000, day(20)),
        event("i3", "13900139002", &chain.store, "zhang", 50_000, day(10)),
        event("i4", "13900139003", &chain.store, "", 30_000, day(5)),
    ];
    let imported = chain
        .admin
        .post("/v1/events:batch", json!({"events": events}))
        .await
        .ok();
    assert_eq!(imported["recorded"], "4", "{imported}");

    let li = chain.customer("13900139001").await;
    let owned = chain
        .ownership_until(&li, "imported li locked to wang", |o| {
            manager(o) == "wang" && locked(o)
        })
        .await;
    assert_eq!(fen(&owned), 600_000);
    let chen = chain.customer("13900139002").await;
    chain
        .ownership_until(&chen, "imported chen owned by zhang", |o| {
            manager(o) == "zhang" && fen(o) == 50_000
        })
        .await;
    let walk_in = chain.customer("13900139003").await;
    chain
        .ownership_until(&walk_in, "the imported walk-in is allocated", |o| {
            ["wang", "zhang"].contains(&manager(o))
        })
        .await;
}

/// M1 books at T−60 (paid), M1 at T−10 (no spend), M2's booking dated T−30 arrives last:
/// the owner stays M1.
async fn a_late_booking_does_not_move_the_owner(backend: Backend) {
    let chain = Chain::start(backend).await;
    let t = Utc::now();
    let minutes = |n: i64| t - chrono::Duration::minutes(n);
    let phone = "13700137001";
    let book = |id: &'static str, via: &'static str, amount: i64, at: DateTime<Utc>| {
        let body = json!({"event": event(id, phone, &chain.store, via, amount, at)});
        let admin = chain.admin.clone();
        async move { admin.post("/v1/events", body).await.ok() }
    };
    book("late-1", "wang", 1_000, minutes(60)).await;
    let recent = book("late-2", "wang", 0, minutes(10)).await;
    let customer = recent["customer"]["customerId"]
        .as_str()
        .expect("customer")
        .to_owned();
    // Proof that assignment has the no-spend booking: its time is the last contact.
    chain
        .ownership_until(&customer, "the T-10 booking recorded", |o| {
            o["lastContactTime"].as_str() == Some(rfc3339(minutes(10)).as_str())
        })
        .await;
    let late = book("late-3", "zhang", 0, minutes(30)).await;
    assert_eq!(late["owner"]["managerId"], "wang", "{late}");
    let owned = chain
        .ownership_until(&customer, "owner wang", |o| manager(o) == "wang")
        .await;
    assert_eq!(owned["lastContactTime"], rfc3339(minutes(10)));

    // The bad order: the older booking's call right behind the newer no-spend one, before
    // the stream can have brought it. Profile's call says the guest has a newer contact, so
    // the answer, and every decision ever recorded, keep wang (no brief flip).
    let phone = "13700137002";
    let book = |id: &'static str, via: &'static str, amount: i64, at: DateTime<Utc>| {
        let body = json!({"event": event(id, phone, &chain.store, via, amount, at)});
        let admin = chain.admin.clone();
        async move { admin.post("/v1/events", body).await.ok() }
    };
    book("rush-1", "wang", 1_000, minutes(60)).await;
    let recent = book("rush-2", "wang", 0, minutes(10)).await;
    let late = book("rush-3", "zhang", 0, minutes(30)).await;
    assert_eq!(late["owner"]["managerId"], "wang", "{late}");
    let customer = recent["customer"]["customerId"]
        .as_str()
        .expect("customer")
        .to_owned();
    chain
        .ownership_until(&customer, "the stream caught up", |o| {
            o["lastContactTime"].as_str() == Some(rfc3339(minutes(10)).as_str())
        })
        .await;
    let history = chain
        .admin
        .get(&format!("/v1/customers/{customer}/ownership/history"))
        .await
        .ok();
    let decisions = history["decisions"].as_array().expect("decisions");
    assert!(
        decisions.iter().all(|d| d["toManagerId"] != "zhang"),
        "no decision named zhang: {history}"
    );
}

/// A booking at a store with no managers, or naming a manager id nobody has: the guest has
/// an ownership (no owner) and is in the unassigned pool with the reason.
async fn orphans_are_in_the_pool_with_the_reason(backend: Backend) {
    let chain = Chain::start(backend).await;
    let empty = new_store(&chain.admin, "S9").await;
    let now = Utc::now();
    let cases = [
        (
            "o1",
            "13600136001",
            empty.as_str(),
            "",
            "no_managers_at_store",
        ),
        (
            "o2",
            "13600136002",
            chain.store.as_str(),
            "ghost",
            "unknown_contact_manager",
        ),
    ];
    for (id, phone, store, via, why) in cases {
        let recorded = chain
            .admin
            .post(
                "/v1/events",
                json!({"event": event(id, phone, store, via, 0, now)}),
            )
            .await
            .ok();
        let customer = recorded["customer"]["customerId"]
            .as_str()
            .expect("customer")
            .to_owned();
        let ownership = chain
            .ownership_until(&customer, why, |o| o["unassignedReason"] == why)
            .await;
        assert_eq!(manager(&ownership), "");
        let pool = chain
            .admin
            .get(&format!("/v1/unassigned?storeId={store}"))
            .await
            .ok();
        let listed = pool["ownerships"].as_array().is_some_and(|all| {
            all.iter()
                .any(|o| o["customerId"] == customer.as_str() && o["unassignedReason"] == why)
        });
        assert!(listed, "{why}: not in the pool: {pool}");
    }
}

/// The faults of issue 20 at once: while contacts (with and without a manager) are recorded
/// from several desks and an import runs, the assignment replica is killed and its Redis
/// state flushed, then it comes back. Afterwards: one owner per guest (the managers' lists
/// partition the guests), every value lock with the manager who held it when it was set,
/// the even split of walk-ins within one per manager, every contact with spend counted once.
async fn ownership_survives_a_killed_replica_and_a_flush(backend: Backend) {
    let mut chain = Chain::start(backend).await;
    chain
        .admin
        .put(
            "/v1/managers/li",
            json!({"manager": {"managerId": "li", "name": "li", "storeIds": [chain.store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
        )
        .await
        .ok();
    let managers = ["wang", "zhang", "li"];
    let now = Utc::now();
    // Every walk-in on one store-local day, so the even split is judged on one day.
    let walk_in_at = now - chrono::Duration::minutes(5);
    // (external id, phone, manager, fen, when); managed guests pay 3 × ¥2,000 (live) or
    // 2 × ¥3,000 (imported) — locked to their manager on the crossing visit.
    let mut live = Vec::new();
    let mut expected: Vec<(String, &str, i64)> = Vec::new(); // phone, manager ("" = split), fen
    for guest in 0..9 {
        let phone = format!("135{guest:08}");
        let via = managers[guest % 3];
        for visit in 0..3i64 {
            let at = now - chrono::Duration::days(3 - visit);
            live.push((
                format!("live-{guest}-{visit}"),
                phone.clone(),
                via,
                200_000,
                at,
            ));
        }
        expected.push((phone, via, 600_000));
    }
    for guest in 0..15 {
        let phone = format!("136{guest:08}");
        live.push((
            format!("walk-{guest}"),
            phone.clone(),
            "",
            10_000,
            walk_in_at,
        ));
        expected.push((phone, "", 10_000));
    }
    let mut imported = Vec::new();
    for guest in 0..9 {
        let phone = format!("137{guest:08}");
        let via = managers[guest % 3];
        for visit in 0..2i64 {
            let at = now - chrono::Duration::days(30 - visit);
            imported.push(event(
                &format!("imp-{guest}-{visit}"),
                &phone,
                &chain.store,
                via,
                300_000,
                at,
            ));
        }
        expected.push((phone, via, 600_000));
    }
    for guest in 0..15 {
        let phone = format!("138{guest:08}");
        imported.push(event(
            &format!("imp-walk-{guest}"),
            &phone,
            &chain.store,
            "",
            10_000,
            walk_in_at,
        ));
        expected.push((phone, "", 10_000));
    }

    // Four desks record the live contacts (each guest's visits in order, from one desk).
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut desks = tokio::task::JoinSet::new();
    for desk in 0..4 {
        let mine: Vec<_> = live
            .iter()
            .filter(|(_, phone, ..)| phone.bytes().map(usize::from).sum::<usize>() % 4 == desk)
            .cloned()
            .collect();
        let (admin, store, answered) = (chain.admin.clone(), chain.store.clone(), answered.clone());
        desks.spawn(async move {
            for (id, phone, via, fen, at) in mine {
                admin
                    .post(
                        "/v1/events",
                        json!({"event": event(&id, &phone, &store, via, fen, at)}),
                    )
                    .await
                    .ok();
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let import = {
        let admin = chain.admin.clone();
        tokio::spawn(async move {
            admin
                .post("/v1/events:batch", json!({"events": imported}))
                .await
                .ok()
        })
    };
    // Kill the replica once a third of the live contacts are answered, flush, come back.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < live.len() / 3 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    chain.system.stop_assignment().await;
    chain.system.flush_assignment_coordination().await;
    chain.system.restart_assignment().await;
    while let Some(desk) = desks.join_next().await {
        desk.expect("desk");
    }
    let import = import.await.expect("import");
    assert_eq!(import["rejected"].as_str().unwrap_or("0"), "0", "{import}");

    let mut walk_ins_per_manager = std::collections::BTreeMap::<String, i64>::new();
    let mut guests = std::collections::BTreeSet::new();
    for (phone, via, fen_paid) in &expected {
        let customer = chain.customer(phone).await;
        let owned = chain
            .ownership_until(&customer, phone, |o| {
                !manager(o).is_empty() && fen(o) >= *fen_paid
            })
            .await;
        assert_eq!(
            fen(&owned),
            *fen_paid,
            "{phone}: every contact counted once"
        );
        if via.is_empty() {
            *walk_ins_per_manager
                .entry(manager(&owned).to_owned())
                .or_default() += 1;
            assert!(!locked(&owned));
        } else {
            assert_eq!(manager(&owned), *via, "{phone}: last contact");
            assert!(locked(&owned), "{phone}: value lock");
            let history = chain
                .admin
                .get(&format!("/v1/customers/{customer}/ownership/history"))
                .await
                .ok();
            let locks: Vec<&Value> = history["decisions"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .filter(|d| d["reason"] == "REASON_VALUE_LOCK")
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(locks.len(), 1, "{phone}: locked once: {history}");
            assert_eq!(
                locks[0]["toManagerId"], *via,
                "{phone}: locked with its manager"
            );
        }
        guests.insert(customer);
    }
    // One owner per guest: the managers' lists partition the guests.
    let mut listed = Vec::new();
    for id in managers {
        let page = chain
            .admin
            .get(&format!("/v1/managers/{id}/customers?pageSize=500"))
            .await
            .ok();
        for o in page["ownerships"].as_array().cloned().unwrap_or_default() {
            listed.push(o["customerId"].as_str().unwrap_or_default().to_owned());
        }
    }
    listed.sort();
    let all: Vec<String> = guests.into_iter().collect();
    assert_eq!(listed, all, "each guest in exactly one manager's list");
    let counts: Vec<i64> = managers
        .iter()
        .map(|m| walk_ins_per_manager.get(*m).copied().unwrap_or(0))
        .collect();
    let (least, most) = (counts.iter().min().copied(), counts.iter().max().copied());
    assert!(
        most.zip(least)
            .is_some_and(|(most, least)| most - least <= 1),
        "even split within one: {walk_ins_per_manager:?}"
    );
}

on_both_backends!(
    ownership_survives_a_killed_replica_and_a_flush,
    contacts_during_an_assignment_outage_count_once,
    an_import_gives_owners_and_locks,
    a_late_booking_does_not_move_the_owner,
    orphans_are_in_the_pool_with_the_reason
);
