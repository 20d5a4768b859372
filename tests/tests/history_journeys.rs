//! A chain's history through the gateway (issue 20 items 7, 8 and 9), as an HQ console and a
//! POS integration drive it:
//! - a refit started right after a history import through `/v1/events:batch` either waits
//!   and fits every imported guest, or answers a retryable 503 naming tagging's lag behind
//!   profile — it never fits part of the import (item 9);
//! - two guests who each visited today, in their own store's day, are scored alike, whether
//!   their store's day is Shanghai's or not (item 8);
//! - three orders, two on one store-local day, are two visits for profile and for tagging's
//!   rules alike (item 7).
//!
//! Every wait polls for the proof with a deadline: a job's state, a prediction computed after
//! the visit, tagging's consumer having applied everything profile logged for the chain.

use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest};
use serde_json::{Value, json};

on_both_backends!(
    a_refit_right_after_an_import_fits_all_of_it,
    visits_are_store_local_days_for_profile_and_tagging,
);

/// Guests in the imported history.
const GUESTS: usize = 120;

struct Chain {
    _system: System,
    admin: Rest,
}

impl Chain {
    async fn start(backend: Backend, chain: &str) -> Chain {
        let system = System::start(backend).await;
        let admin = Rest::new(&system.gateway.url, &token(chain, Role::HqAdmin, "hq", &[]));
        Chain {
            _system: system,
            admin,
        }
    }

    async fn store(&self, code: &str, zone: &str) -> String {
        maitre_tests::setup::store_in(&self.admin, &format!("store {code}"), code, zone).await
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

    /// Waits until tagging has applied every event profile logged for the chain (numbered
    /// or not yet), as `GET /v1/consumers` reports it.
    async fn tagging_caught_up(&self) {
        let caught_up = eventually(60, || async {
            let answer = self.admin.get("/v1/consumers").await.ok();
            let tagging = answer["consumers"]
                .as_array()?
                .iter()
                .find(|c| c["consumer"] == "tagging<-profile")?
                .clone();
            (tagging["pendingEvents"].as_str().unwrap_or("0") == "0"
                && tagging["upstreamError"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty())
            .then_some(())
        })
        .await;
        assert!(caught_up.is_some(), "tagging never caught up with profile");
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn visit(external_id: &str, phone: &str, store: &str, fen: i64, at: DateTime<Utc>) -> Value {
    json!({
        "channel": "EVENT_CHANNEL_POS", "externalId": external_id, "kind": "CONTACT_KIND_VISIT",
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store,
        "amount": {"amountFen": fen.to_string(), "currency": "CNY"},
        "occurredAt": rfc3339(at), "partySize": 2,
    })
}

/// A small deterministic generator (xorshift64*), so the history is the same on every run.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Gamma(shape, rate) for a whole shape: a sum of exponentials.
    fn gamma(&mut self, shape: u32, rate: f64) -> f64 {
        (0..shape).map(|_| -self.uniform().ln()).sum::<f64>() / rate
    }
}

/// A year of visits of [`GUESTS`] guests drawn from BG/NBD (r = 2, α = 20: a visit every ten
/// days while active; dropout p ~ Beta(1, 3)) with spend per visit Gamma(6, ν),
/// ν ~ Gamma(4, 5000) — the shape tagging's own refit test fits, so the fit converges.
fn history(store: &str, now: DateTime<Utc>) -> Vec<Value> {
    let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
    let mut events = Vec::new();
    for guest in 0..GUESTS {
        let phone = format!("1390020{guest:04}");
        let rate_per_day = draws.gamma(2, 20.0);
        let dropout = 1.0 - draws.uniform().powf(1.0 / 3.0);
        let spend_scale = draws.gamma(4, 5_000.0).recip();
        let mut days_ago = 1.0 + 364.0 * draws.uniform();
        loop {
            let fen = ((draws.gamma(6, 1.0) * spend_scale).round() as i64).max(100);
            let at = now - chrono::Duration::seconds((days_ago * 86_400.0) as i64);
            events.push(visit(
                &format!("hist-{guest}-{}", events.len()),
                &phone,
                store,
                fen,
                at,
            ));
            if draws.uniform() < dropout {
                break;
            }
            days_ago -= -draws.uniform().ln() / rate_per_day;
            if days_ago < 1.0 {
                break;
            }
        }
    }
    events
}

/// Starts a refit right after the import. A 503 must name tagging's lag (and is retried, as
/// its `Retry-After` says); any other refusal fails. The started job's id.
async fn refit(chain: &Chain) -> (String, Vec<String>) {
    let mut refusals = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let reply = chain
            .admin
            .post(
                "/v1/models:refit",
                json!({"requestId": "refit-after-import"}),
            )
            .await;
        match reply.status {
            200 => {
                let job = reply.body["progress"]["jobId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a job: {}", reply.body))
                    .to_owned();
                return (job, refusals);
            }
            503 => {
                let message = reply.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    message.contains("profile events behind")
                        || message.contains("lag behind profile"),
                    "a 503 names tagging's lag behind profile: {}",
                    reply.body
                );
                refusals.push(message);
            }
            status => panic!("the refit answered {status} {}", reply.body),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refit never started: {refusals:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Item 9 and item 8: a refit right after an import fits every imported guest (or says it
/// is behind, and then does); then two new guests who visit today — one at a Shanghai
/// store, one at a store whose day is not Shanghai's right now — are scored alike.
async fn a_refit_right_after_an_import_fits_all_of_it(backend: Backend) {
    let chain = Chain::start(backend, "chain-refit").await;
    let shanghai = chain.store("SH", "Asia/Shanghai").await;
    let events = history(&shanghai, Utc::now());
    let imported = chain
        .admin
        .post("/v1/events:batch", json!({"events": events}))
        .await
        .ok();
    assert_eq!(
        imported["recorded"].as_str(),
        Some(events.len().to_string().as_str()),
        "{imported}"
    );

    // At once: no waiting for tagging here, that is the refit's job.
    let (job, refusals) = refit(&chain).await;
    let done = eventually(180, || async {
        let progress = chain
            .admin
            .get(&format!("/v1/tagging-jobs/{job}"))
            .await
            .ok()["progress"]
            .clone();
        matches!(
            progress["state"].as_str(),
            Some("JOB_STATE_SUCCEEDED" | "JOB_STATE_FAILED")
        )
        .then_some(progress)
    })
    .await
    .expect("the refit job finishes");
    assert_eq!(done["state"], "JOB_STATE_SUCCEEDED", "{done}");
    let report = chain.admin.get("/v1/models/report").await.ok()["report"].clone();
    assert_eq!(
        report["customers"].as_str(),
        Some(GUESTS.to_string().as_str()),
        "the fit covers every imported guest (after {} refusals naming the lag: {refusals:?}): {report}",
        refusals.len()
    );
    assert_eq!(report["lastFitConverged"], true, "{report}");
    assert!(report["fitTime"].is_string(), "{report}");
    let q = report["ggQ"].as_f64().unwrap_or(0.0);
    assert!(
        q > 1.0 && q < 1e4,
        "a spend fit over the whole import: {report}"
    );

    // Item 8: "today" is each guest's store's day. A zone whose date differs from Shanghai's
    // right now (Honolulu, UTC−10, is a day behind except 10:00–16:00 UTC, when Kiritimati,
    // UTC+14, is a day ahead; neither keeps daylight saving time).
    let now = Utc::now();
    let local_date = |hours: i32| {
        now.with_timezone(&FixedOffset::east_opt(hours * 3600).expect("offset"))
            .date_naive()
    };
    let (zone, offset) = if local_date(-10) != local_date(8) {
        ("Pacific/Honolulu", -10)
    } else {
        ("Pacific/Kiritimati", 14)
    };
    assert_ne!(local_date(offset), local_date(8), "{zone}");
    let elsewhere = chain.store("EL", zone).await;
    for (phone, store) in [("13900300001", &shanghai), ("13900300002", &elsewhere)] {
        chain
            .admin
            .post(
                "/v1/events",
                json!({"event": visit(&format!("today-{phone}"), phone, store, 8_800, Utc::now())}),
            )
            .await
            .ok();
    }
    let mut scores = Vec::new();
    for phone in ["13900300001", "13900300002"] {
        let id = chain.customer(phone).await["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned();
        let prediction = eventually(60, || async {
            let reply = chain
                .admin
                .get(&format!("/v1/customers/{id}/prediction"))
                .await;
            let p = reply.body["prediction"].clone();
            (reply.status == 200 && p["computeTime"].is_string()).then_some(p)
        })
        .await
        .unwrap_or_else(|| panic!("the visit today at {phone}'s store is scored"));
        scores.push(prediction);
    }
    // One visit today, no repeat: the same summary (x = 0, T = 0) wherever "today" is.
    let expected = |p: &Value| p["expectedVisits30d"].as_f64().unwrap_or(-1.0);
    assert!(
        (expected(&scores[0]) - expected(&scores[1])).abs() < 1e-9,
        "a guest of {zone} is scored in that store's day: {scores:?}"
    );
    assert!(expected(&scores[0]) > 0.0, "{scores:?}");
}

/// Item 7: three orders in a Honolulu store (UTC−10, no daylight saving time), two of them on
/// one Honolulu day at 05:00 and 20:00 — days apart in Shanghai and in UTC — are two visits:
/// profile's `visits` and tagging's `visits(365d)` agree.
async fn visits_are_store_local_days_for_profile_and_tagging(backend: Backend) {
    let chain = Chain::start(backend, "chain-visit-days").await;
    let honolulu = chain.store("HN", "Pacific/Honolulu").await;
    let zone = FixedOffset::west_opt(10 * 3600).expect("offset");
    let day: NaiveDate = Utc::now().with_timezone(&zone).date_naive() - chrono::Duration::days(5);
    let at = |date: NaiveDate, hour: u32| {
        zone.with_ymd_and_hms(date.year(), date.month(), date.day(), hour, 0, 0)
            .single()
            .expect("a fixed offset has every local time")
            .with_timezone(&Utc)
    };
    let orders = [
        at(day - chrono::Duration::days(2), 12),
        at(day, 5),
        at(day, 20),
    ];
    assert_ne!(
        orders[1].date_naive(),
        orders[2].date_naive(),
        "UTC days differ"
    );
    let tag = chain
        .admin
        .post(
            "/v1/tags",
            json!({"tag": {"name": "two_visits", "category": "TAG_CATEGORY_BEHAVIOUR",
                           "source": "TAG_SOURCE_RULE", "rule": "visits(365d) == 2"}}),
        )
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    chain
        .admin
        .post(
            &format!("/v1/tags/{tag}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    for (i, order) in orders.iter().enumerate() {
        chain
            .admin
            .post(
                "/v1/events",
                json!({"event": visit(&format!("order-{i}"), "13900400001", &honolulu, 12_000, *order)}),
            )
            .await
            .ok();
    }
    let guest = chain.customer("13900400001").await;
    assert_eq!(
        guest["aggregates"]["visits"], "2",
        "profile: two store-local days: {guest}"
    );
    let id = guest["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();

    chain.tagging_caught_up().await;
    let explained = tokio::time::timeout(
        Duration::from_secs(30),
        chain
            .admin
            .get(&format!("/v1/customers/{id}/tags/{tag}:explain")),
    )
    .await
    .expect("explained")
    .ok();
    let visits = explained["terms"]
        .as_array()
        .and_then(|terms| terms.iter().find(|t| t["term"] == "visits(365d)"))
        .map(|t| t["value"].clone());
    assert_eq!(
        (visits, explained["hasTag"].clone()),
        (Some(json!("2")), json!(true)),
        "tagging: the same two visits: {explained}"
    );
}
