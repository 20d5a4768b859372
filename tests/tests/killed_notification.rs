//! Issue 19 item 7, through the gateway: notification is killed mid-campaign while the provider
//! (the sink, answering slowly) holds sends, and started again under the same replica name. Every
//! message reaches the provider at most once (the same message id never twice), and every guest
//! ends either sent or in a visible state (`MESSAGE_STATUS_UNKNOWN` for the sends in flight at
//! the kill, which the webhook provider cannot be asked about) — without waiting minutes for a
//! lease.

use std::collections::HashMap;
use std::time::Duration;

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest, setup, sink::Sink};
use serde_json::{Value, json};

const CHAIN: &str = "chain-killed-notification";
/// Guests of the campaign: more than a few hand batches (64 each).
const GUESTS: usize = 200;

/// The campaign's messages through the API (every page).
async fn campaign_messages(admin: &Rest, campaign: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .get(&format!(
                "/v1/messages?campaignId={campaign}&pageSize=500&pageToken={token}"
            ))
            .await
            .ok();
        all.extend(page["deliveries"].as_array().cloned().unwrap_or_default());
        token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            return all;
        }
    }
}

async fn killed_mid_campaign_sends_each_message_at_most_once(backend: Backend) {
    let sink = Sink::start_answering_after(Duration::from_millis(200)).await;
    let mut settings = sink.settings();
    settings.push(("MAITRE_REPLICA_ID", "notification-0".to_owned()));
    let mut system = System::start_killable(backend, &settings).await;
    let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = setup::store(&admin, "静安店", "JA").await;
    let template = setup::sms_template(&admin, "新品", "新品上市，欢迎光临。回T退订").await;
    let tag = setup::active_manual_tag(&admin, "vip").await;
    let mut guests = Vec::with_capacity(GUESTS);
    for i in 0..GUESTS {
        let phone = format!("139{i:08}");
        let id = admin
            .post(
                "/v1/customers",
                json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                       "storeId": store, "requestId": format!("new-{phone}"),
                       "profile": {"name": format!("顾客{i}"),
                                   "consent": {"marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}}}),
            )
            .await
            .ok()["customer"]["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned();
        guests.push(id);
    }
    // Tagging learns the guests from profile's stream; the members are added once it knows them.
    for chunk in guests.chunks(100) {
        eventually(60, || async {
            let added = admin
                .post(
                    &format!("/v1/tags/{tag}/members"),
                    json!({"customerIds": chunk}),
                )
                .await;
            (added.status == 200).then_some(())
        })
        .await
        .expect("tagging knows the guests");
    }
    let campaign = admin
        .post(
            "/v1/campaigns",
            json!({"campaign": {"name": "新品", "segment": "has_tag(\"vip\")", "templateId": template,
                   "scheduledAt": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}}),
        )
        .await
        .ok()["campaign"]["campaignId"]
        .as_str()
        .expect("campaign id")
        .to_owned();

    // Killed while the provider holds the second hand batch (the first has been answered).
    eventually(120, || async { (sink.received().len() > 80).then_some(()) })
        .await
        .expect("the campaign reaches the provider");
    system.kill_notification().await;
    let at_kill = sink.received().len();
    assert!(
        at_kill < GUESTS,
        "killed mid-campaign: {at_kill} already sent"
    );
    let restarted = tokio::time::Instant::now();
    system.restart_notification().await;

    let settled = eventually(120, || async {
        let messages = campaign_messages(&admin, &campaign).await;
        let done = messages.len() == GUESTS
            && messages.iter().all(|m| {
                matches!(
                    m["status"].as_str(),
                    Some(
                        "MESSAGE_STATUS_SENT"
                            | "MESSAGE_STATUS_DELIVERED"
                            | "MESSAGE_STATUS_UNKNOWN"
                            | "MESSAGE_STATUS_DEAD"
                    )
                )
            });
        done.then_some(messages)
    })
    .await
    .unwrap_or_else(|| panic!("every guest's message settles after the restart"));
    // A replica restarted under its name recovers its claims at once, not after a lease.
    assert!(
        restarted.elapsed() < Duration::from_secs(60),
        "{:?}",
        restarted.elapsed()
    );

    // At most once per message id at the provider.
    let mut at_provider: HashMap<String, usize> = HashMap::new();
    for message in sink.received() {
        let id = message["message_id"]
            .as_str()
            .expect("message id")
            .to_owned();
        *at_provider.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = at_provider.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");

    // Every guest: sent (and the provider has it), or visibly unknown with its reason.
    let mut by_status: HashMap<String, usize> = HashMap::new();
    let mut messaged = std::collections::HashSet::new();
    for message in &settled {
        let status = message["status"].as_str().unwrap_or_default().to_owned();
        let id = message["messageId"].as_str().unwrap_or_default();
        messaged.insert(
            message["customerId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        if status == "MESSAGE_STATUS_SENT" {
            assert_eq!(at_provider.get(id), Some(&1), "{message}");
        }
        if status == "MESSAGE_STATUS_UNKNOWN" {
            let last = message["history"]
                .as_array()
                .and_then(|h| h.last())
                .cloned()
                .unwrap_or_default();
            assert!(
                last["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("outcome_unknown")),
                "{message}"
            );
        }
        *by_status.entry(status).or_default() += 1;
    }
    eprintln!(
        "killed with {at_kill} posts at the provider; settled {by_status:?} {:?} after the restart",
        restarted.elapsed()
    );
    assert_eq!(messaged.len(), GUESTS, "one message per guest");
    let unknown = by_status
        .get("MESSAGE_STATUS_UNKNOWN")
        .copied()
        .unwrap_or(0);
    // Only the batch in flight at the kill is of unknown outcome.
    assert!(unknown <= 64, "{by_status:?}");
    assert_eq!(
        by_status.get("MESSAGE_STATUS_SENT").copied().unwrap_or(0) + unknown,
        GUESTS,
        "{by_status:?}"
    );
}

on_both_backends!(killed_mid_campaign_sends_each_message_at_most_once);
