//! The seed story (seed 000), end to end through the gateway as the apps would drive it:
//! last contact, value lock, even split of online bookings, a manager leaving with a bulk
//! transfer, a birthday reminder in the owner's inbox, and a win-back message sent once.

use std::time::Duration;

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-seed";

struct Story {
    _system: System,
    admin: Rest,
    gateway: String,
    store: String,
}

impl Story {
    async fn start(backend: Backend) -> Story {
        let system = System::start(backend).await;
        let gateway = system.gateway.url.clone();
        let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
        let store = maitre_tests::setup::store(&admin, "海港酒家一号店", "S1").await;
        for (id, name) in [("wang", "王经理"), ("zhang", "张经理"), ("li", "李经理")] {
            admin
                .put(
                    &format!("/v1/managers/{id}"),
                    json!({"manager": {"managerId": id, "name": name, "storeIds": [store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
                )
                .await
                .ok();
        }
        admin
            .patch(
                "/v1/assignment-policy",
                json!({"policy": {"valueLockThresholdFen": "500000", "strategy": "STRATEGY_DAILY_EVEN_SPLIT"},
                       "updateMask": "valueLockThresholdFen,strategy"}),
            )
            .await
            .ok();
        Story {
            _system: system,
            admin,
            gateway,
            store,
        }
    }

    fn as_staff(&self, role: Role, staff: &str) -> Rest {
        Rest::new(&self.gateway, &token(CHAIN, role, staff, &[&self.store]))
    }

    /// Records a contact and returns the response body.
    async fn contact(
        &self,
        external_id: &str,
        kind: &str,
        phone: &str,
        manager: &str,
        amount_fen: i64,
        days_ago: i64,
    ) -> Value {
        let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
        let channel = if manager.is_empty() {
            "EVENT_CHANNEL_MINI_PROGRAM"
        } else {
            "EVENT_CHANNEL_PHONE"
        };
        self.admin
            .post(
                "/v1/events",
                json!({"event": {
                    "channel": channel, "externalId": external_id, "kind": kind,
                    "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                    "storeId": self.store, "managerId": manager,
                    "amount": {"amountFen": amount_fen.to_string(), "currency": "CNY"},
                    "occurredAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "partySize": 2,
                }}),
            )
            .await
            .ok()
    }
}

fn owner(reply: &Value) -> (&str, bool) {
    let owner = &reply["owner"];
    (
        owner["managerId"].as_str().unwrap_or_default(),
        owner["locked"].as_bool().unwrap_or(false),
    )
}

async fn ownership_follows_the_seed(backend: Backend) {
    let story = Story::start(backend).await;
    // Ms Li books through Wang: she is Wang's.
    let r = story
        .contact("b1", "CONTACT_KIND_BOOKING", "138 0013 8000", "wang", 0, 0)
        .await;
    assert_eq!(owner(&r), ("wang", false), "{r}");
    let customer = r["customer"]["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    // She books again through Zhang: last contact moves her to Zhang.
    let r = story
        .contact(
            "b2",
            "CONTACT_KIND_BOOKING",
            "+86 13800138000",
            "zhang",
            0,
            0,
        )
        .await;
    assert_eq!(owner(&r), ("zhang", false), "{r}");
    assert_eq!(
        r["customer"]["customerId"],
        customer.as_str(),
        "one guest across spellings of her phone"
    );
    // Her visit crosses ¥5,000: locked to Zhang.
    let r = story
        .contact(
            "v1",
            "CONTACT_KIND_VISIT",
            "8613800138000",
            "zhang",
            600_000,
            0,
        )
        .await;
    assert_eq!(owner(&r), ("zhang", true), "{r}");
    // She books through Wang again: she stays with Zhang.
    let r = story
        .contact("b3", "CONTACT_KIND_BOOKING", "13800138000", "wang", 0, 0)
        .await;
    assert_eq!(owner(&r), ("zhang", true), "{r}");
    // A replay of the same booking changes nothing.
    let replay = story
        .contact("b3", "CONTACT_KIND_BOOKING", "13800138000", "wang", 0, 0)
        .await;
    assert_eq!(replay["duplicate"], true, "{replay}");
    // Why does she belong to Zhang? The history says so, with reasons.
    let history = story
        .admin
        .get(&format!("/v1/customers/{customer}/ownership/history"))
        .await
        .ok();
    let reasons: Vec<&str> = history["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"REASON_LAST_CONTACT") && reasons.contains(&"REASON_VALUE_LOCK"),
        "{history}"
    );

    // Online bookings with no manager are split evenly over the three managers.
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for i in 0..9 {
        let r = story
            .contact(
                &format!("online-{i}"),
                "CONTACT_KIND_BOOKING",
                &format!("1390000{i:04}"),
                "",
                0,
                0,
            )
            .await;
        *counts.entry(owner(&r).0.to_owned()).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|n| *n == 3), "even split: {counts:?}");

    // Zhang leaves; a bulk transfer spreads his customers over Wang and Li, locks included.
    story
        .admin
        .post(
            "/v1/managers/zhang:setStatus",
            json!({"status": "MANAGER_STATUS_LEFT"}),
        )
        .await
        .ok();
    let zhang_before = story.admin.get("/v1/managers/zhang/customers").await.ok()["ownerships"]
        .as_array()
        .map_or(0, |a| a.len());
    assert_eq!(zhang_before, 4, "Ms Li and three online guests");
    let job = story
        .admin
        .post(
            "/v1/managers/zhang:bulkTransfer",
            json!({"toManagerIds": ["wang", "li"], "requestId": "zhang-leaves"}),
        )
        .await
        .ok();
    let job_id = job["progress"]["jobId"]
        .as_str()
        .expect("job id")
        .to_owned();
    let done = eventually(20, || async {
        let j = story
            .admin
            .get(&format!("/v1/bulk-transfers/{job_id}"))
            .await
            .ok();
        (j["progress"]["state"] == "JOB_STATE_SUCCEEDED").then_some(j)
    })
    .await
    .expect("bulk transfer finishes");
    let moved: Vec<i64> = done["movedPerManager"]
        .as_object()
        .expect("moved")
        .values()
        .filter_map(|v| v.as_str()?.parse().ok())
        .collect();
    assert_eq!(moved.iter().sum::<i64>(), 4, "{done}");
    assert!(moved.iter().all(|n| *n == 2), "spread evenly: {done}");
    let after = story.admin.get("/v1/managers/zhang/customers").await.ok();
    assert!(
        after["ownerships"].as_array().is_none_or(|a| a.is_empty()),
        "{after}"
    );
    let li = story
        .admin
        .get(&format!("/v1/customers/{customer}/ownership"))
        .await
        .ok();
    assert!(
        ["wang", "li"].contains(&li["ownership"]["managerId"].as_str().unwrap_or_default()),
        "{li}"
    );
    assert_eq!(
        li["ownership"]["locked"], true,
        "the lock moves with her: {li}"
    );
    // Wang's stats for the review: owned customers from assignment, follow-up counts asked
    // of profile (so they are known, not zero by default).
    let stats = story
        .admin
        .get("/v1/managers/wang/stats?periodStart=2026-01-01T00:00:00Z&periodEnd=2030-01-01T00:00:00Z")
        .await
        .ok();
    assert_eq!(stats["followUpsKnown"], true, "{stats}");
    assert!(
        stats["owned"].as_str().and_then(|n| n.parse::<i64>().ok()) >= Some(2),
        "{stats}"
    );
    // Her profile follows the new owner too (profile follows assignment's log).
    let new_owner = li["ownership"]["managerId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually(20, || async {
        let profile = story
            .admin
            .get(&format!("/v1/customers/{customer}"))
            .await
            .ok();
        (profile["customer"]["ownerManagerId"] == new_owner.as_str()).then_some(())
    })
    .await
    .expect("profile shows the new owner after the bulk transfer");
}

async fn birthday_reminder_and_win_back(backend: Backend) {
    let story = Story::start(backend).await;
    // A guest of Wang's whose birthday is in three days (store-local), who likes desserts.
    let r = story
        .contact("bd-1", "CONTACT_KIND_BOOKING", "13700137000", "wang", 0, 0)
        .await;
    let guest = r["customer"]["customerId"]
        .as_str()
        .expect("customer")
        .to_owned();
    let in3 =
        (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(3)).date_naive();
    use chrono::Datelike;
    story
        .admin
        .patch(
            &format!("/v1/customers/{guest}"),
            json!({"customer": {"customerId": guest, "profile": {"name": "李女士", "birthday": {"month": in3.month(), "day": in3.day()}}},
                   "updateMask": "profile.name,profile.birthday"}),
        )
        .await
        .ok();
    // She likes desserts: a manual tag (once tagging has seen her from profile's stream).
    let likes = story
        .admin
        .post("/v1/tags", json!({"tag": {"name": "likes_dessert", "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_MANUAL"}}))
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    story
        .admin
        .post(
            &format!("/v1/tags/{likes}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    eventually(20, || async {
        let added = story
            .admin
            .post(
                &format!("/v1/tags/{likes}/members"),
                json!({"customerIds": [guest]}),
            )
            .await;
        (added.status == 200).then_some(())
    })
    .await
    .expect("tagging knows the guest");
    story
        .admin
        .post(
            "/v1/automation-presets/birthday_owner_reminder:install",
            json!({"enable": true, "coupon": "DESSERT"}),
        )
        .await
        .ok();
    let wang = story.as_staff(Role::CustomerManager, "wang");
    let item = eventually(30, || async {
        let inbox = wang.get("/v1/inbox").await.ok();
        inbox["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["customerId"] == guest.as_str())
                .cloned()
        })
    })
    .await
    .expect("the birthday reminder reaches Wang's inbox");
    assert!(
        item["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{item}"
    );

    // A guest who last came 61 days ago, opted in to SMS: the win-back message goes out once.
    story
        .admin
        .post(
            "/v1/tags",
            json!({"tag": {"name": "lapsed_60d", "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_RULE", "rule": "days_since_last_visit >= 60"}}),
        )
        .await
        .ok();
    let tags = story.admin.get("/v1/tags").await.ok();
    let tag_id = tags["tags"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "lapsed_60d"))
        .expect("tag")["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    story
        .admin
        .post(
            &format!("/v1/tags/{tag_id}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    story
        .admin
        .post(
            "/v1/automation-presets/winback_60d:install",
            json!({"enable": true, "coupon": "WELCOMEBACK"}),
        )
        .await
        .ok();
    let r = story
        .contact(
            "wb-1",
            "CONTACT_KIND_VISIT",
            "13600136000",
            "li",
            20_000,
            61,
        )
        .await;
    let lapsed = r["customer"]["customerId"]
        .as_str()
        .expect("customer")
        .to_owned();
    story
        .admin
        .patch(
            &format!("/v1/customers/{lapsed}/preferences"),
            json!({"preferences": {"customerId": lapsed, "marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}, "updateMask": "marketingOptIn"}),
        )
        .await
        .ok();
    let messages = |customer: String| {
        let admin = story.admin.clone();
        async move {
            let list = admin
                .get(&format!("/v1/messages?customerId={customer}"))
                .await
                .ok();
            list["deliveries"].as_array().cloned().unwrap_or_default()
        }
    };
    eventually(30, || async {
        (!messages(lapsed.clone()).await.is_empty()).then_some(())
    })
    .await
    .expect("the win-back message is sent");
    // A full recompute re-evaluates the rule; the guest is still messaged only once.
    story
        .admin
        .post("/v1/tags:recompute", json!({"requestId": "again"}))
        .await
        .ok();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        messages(lapsed.clone()).await.len(),
        1,
        "exactly one win-back message"
    );
}

maitre_kit::on_both_backends!(ownership_follows_the_seed, birthday_reminder_and_win_back);
