//! Policies reach the guests already there (issue 20 items 5 and 6), through the gateway as
//! the HQ console drives it: setting a value-lock threshold runs a lock review (a job with
//! progress) that locks the ¥610 guest to the manager who owned them; a merge whose two
//! records' spend adds up past the threshold locks the survivor (and 0 means "no value lock"
//! both in the default and in a PATCH, a negative threshold refused by name); a history import
//! leaves RFM classes current, as re-saving the classification policy would make them.
//! Every wait polls for the proof with a deadline.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest};
use serde_json::{Value, json};

on_both_backends!(
    a_new_threshold_locks_the_guest_already_past_it,
    a_merge_past_the_threshold_locks_the_survivor,
    an_import_leaves_classes_current,
);

struct Chain {
    _system: System,
    admin: Rest,
    store: String,
}

impl Chain {
    async fn start(backend: Backend, chain: &str) -> Chain {
        let system = System::start(backend).await;
        let admin = Rest::new(&system.gateway.url, &token(chain, Role::HqAdmin, "hq", &[]));
        let store = maitre_tests::setup::store(&admin, "store S1", "S1").await;
        Chain {
            _system: system,
            admin,
            store,
        }
    }

    async fn customer(&self, phone: &str) -> Value {
        self.admin
            .post(
                "/v1/customers:lookup",
                json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": phone}}),
            )
            .await
            .ok()["customer"]
            .clone()
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn visit(
    external_id: &str,
    phone: &str,
    store: &str,
    manager: &str,
    fen: i64,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "channel": "EVENT_CHANNEL_POS", "externalId": external_id, "kind": "CONTACT_KIND_VISIT",
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store, "managerId": manager,
        "amount": {"amountFen": fen.to_string(), "currency": "CNY"},
        "occurredAt": rfc3339(at), "partySize": 2,
    })
}

/// ¥610 spent with Wang before the chain sets a ¥500 value lock: the threshold's lock review
/// locks the guest to Wang, and the review's progress says so.
async fn a_new_threshold_locks_the_guest_already_past_it(backend: Backend) {
    let chain = Chain::start(backend, "chain-review").await;
    for id in ["wang", "zhang"] {
        chain
            .admin
            .put(
                &format!("/v1/managers/{id}"),
                json!({"manager": {"managerId": id, "name": id, "storeIds": [chain.store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
            )
            .await
            .ok();
    }
    let policy = chain.admin.get("/v1/assignment-policy").await.ok();
    assert_eq!(
        policy["policy"]["valueLockThresholdFen"]
            .as_str()
            .unwrap_or("0"),
        "0",
        "no value lock until the chain sets one: {policy}"
    );
    let day = Utc::now() - chrono::Duration::days(1);
    chain
        .admin
        .post(
            "/v1/events",
            json!({"event": visit("li-1", "13800138610", &chain.store, "wang", 61_000, day)}),
        )
        .await
        .ok();
    let li = chain.customer("13800138610").await["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    let ownership_path = format!("/v1/customers/{li}/ownership");
    // The review reads the spend assignment has counted: wait for the visit's ¥610 to be
    // counted (the owner can be known before the stream has counted the spend).
    let owned = eventually(30, || async {
        let o = chain.admin.get(&ownership_path).await.body["ownership"].clone();
        (o["managerId"] == "wang" && o["countedSpendFen"] == "61000").then_some(o)
    })
    .await
    .expect("li is Wang's, with her ¥610 counted");
    assert_ne!(owned["locked"], true, "no threshold: not locked");

    let set = chain
        .admin
        .patch(
            "/v1/assignment-policy",
            json!({"policy": {"valueLockThresholdFen": "50000"}, "updateMask": "valueLockThresholdFen"}),
        )
        .await
        .ok();
    let job_id = set["lockReview"]["jobId"]
        .as_str()
        .unwrap_or_else(|| panic!("a lock review started: {set}"))
        .to_owned();
    let review = eventually(30, || async {
        let r = chain
            .admin
            .get(&format!("/v1/lock-reviews/{job_id}"))
            .await
            .ok();
        (r["progress"]["state"] == "JOB_STATE_SUCCEEDED").then_some(r)
    })
    .await
    .expect("the review finishes");
    assert_eq!(
        review["progress"]["done"], review["progress"]["total"],
        "{review}"
    );
    assert_eq!(review["lockedPerManager"]["wang"], "1", "{review}");

    let locked = chain.admin.get(&ownership_path).await.ok()["ownership"].clone();
    assert_eq!(locked["locked"], true, "{locked}");
    assert_eq!(
        locked["managerId"], "wang",
        "locked with the manager who owned them"
    );
}

/// Two records of one guest, ¥300 and ¥310 with Wang, each under a ¥500 threshold: merged,
/// the survivor's ¥610 locks them to Wang. The threshold's contract: 0 is accepted and means
/// no value lock (as the default), a negative one is refused naming the field.
async fn a_merge_past_the_threshold_locks_the_survivor(backend: Backend) {
    let chain = Chain::start(backend, "chain-merge-lock").await;
    chain
        .admin
        .put(
            "/v1/managers/wang",
            json!({"manager": {"managerId": "wang", "name": "wang", "storeIds": [chain.store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
        )
        .await
        .ok();
    let threshold = |fen: &str| json!({"policy": {"valueLockThresholdFen": fen}, "updateMask": "valueLockThresholdFen"});
    let negative = chain
        .admin
        .patch("/v1/assignment-policy", threshold("-1"))
        .await;
    assert_eq!(negative.status, 400, "{:?}", negative.body);
    assert!(
        negative.body["field"].as_str().is_some_and(
            |f| f.contains("value_lock_threshold_fen") || f.contains("valueLockThresholdFen")
        ),
        "{:?}",
        negative.body
    );
    let off = chain
        .admin
        .patch("/v1/assignment-policy", threshold("0"))
        .await
        .ok();
    assert_eq!(
        off["policy"]["valueLockThresholdFen"]
            .as_str()
            .unwrap_or("0"),
        "0",
        "0 = no value lock is accepted: {off}"
    );
    chain
        .admin
        .patch("/v1/assignment-policy", threshold("50000"))
        .await
        .ok();

    let day = Utc::now() - chrono::Duration::days(1);
    let mut ids = Vec::new();
    for (phone, fen) in [("13800138300", 30_000), ("13800138310", 31_000)] {
        chain
            .admin
            .post(
                "/v1/events",
                json!({"event": visit(&format!("merge-{phone}"), phone, &chain.store, "wang", fen, day)}),
            )
            .await
            .ok();
        let id = chain.customer(phone).await["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned();
        let counted = fen.to_string();
        let owned = eventually(30, || async {
            let o = chain
                .admin
                .get(&format!("/v1/customers/{id}/ownership"))
                .await
                .body["ownership"]
                .clone();
            (o["managerId"] == "wang" && o["countedSpendFen"].as_str() == Some(counted.as_str()))
                .then_some(o)
        })
        .await
        .unwrap_or_else(|| panic!("{phone} is Wang's with {fen} fen counted"));
        assert_ne!(owned["locked"], true, "under the threshold: {owned}");
        ids.push(id);
    }

    chain
        .admin
        .post(
            &format!("/v1/customers/{}:merge", ids[0]),
            json!({"absorbedIds": [ids[1]], "requestId": "merge-1"}),
        )
        .await
        .ok();
    let locked = eventually(30, || async {
        let o = chain
            .admin
            .get(&format!("/v1/customers/{}/ownership", ids[0]))
            .await
            .body["ownership"]
            .clone();
        (o["locked"] == true).then_some(o)
    })
    .await
    .expect("the merged guest's ¥610 locks them");
    assert_eq!(locked["managerId"], "wang", "{locked}");
    assert_eq!(locked["countedSpendFen"], "61000", "{locked}");
}

/// `(class, recency, frequency, monetary)` of each imported guest.
async fn classes(chain: &Chain, guests: usize) -> BTreeMap<usize, Value> {
    let mut out = BTreeMap::new();
    for i in 0..guests {
        let c = chain.customer(&format!("1390014{i:04}")).await["classification"].clone();
        out.insert(
            i,
            json!([
                c["class"],
                c["recencyScore"],
                c["frequencyScore"],
                c["monetaryScore"]
            ]),
        );
    }
    out
}

/// A history import into a new chain: the guests are classed against the chain they make up
/// (not all C), exactly as re-saving the policy classes them.
async fn an_import_leaves_classes_current(backend: Backend) {
    let chain = Chain::start(backend, "chain-import-classes").await;
    let guests = 30;
    let now = Utc::now();
    let events: Vec<Value> = (0..guests)
        .flat_map(|i| {
            let store = chain.store.clone();
            (0..=i % 10).map(move |v| {
                let at = now - chrono::Duration::days(1 + (v as i64) * 7 + (i as i64 % 5) * 20);
                visit(
                    &format!("imp-{i}-{v}"),
                    &format!("1390014{i:04}"),
                    &store,
                    "",
                    5_000 * (i as i64 + 1),
                    at,
                )
            })
        })
        .collect();
    let imported = chain
        .admin
        .post("/v1/events:batch", json!({"events": events}))
        .await
        .ok();
    assert_eq!(
        imported["rejected"].as_str().unwrap_or("0"),
        "0",
        "{imported}"
    );
    let after_import = classes(&chain, guests).await;
    let distinct: std::collections::BTreeSet<String> =
        after_import.values().map(Value::to_string).collect();
    assert!(
        distinct.len() > 1,
        "imported guests told apart: {after_import:?}"
    );

    let policy = chain.admin.get("/v1/classification-policy").await.ok();
    chain
        .admin
        .put(
            "/v1/classification-policy",
            json!({"policy": policy["policy"]}),
        )
        .await
        .ok();
    tokio::time::timeout(Duration::from_secs(30), async {
        assert_eq!(
            classes(&chain, guests).await,
            after_import,
            "re-saving changes nothing"
        );
    })
    .await
    .expect("classes read back");
}
