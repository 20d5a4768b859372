//! Scale-out under faults (issue 22, "Scale-out correctness"): three replicas of tagging and
//! three of notification share the consumption of an import by partition; during it one
//! replica of each is killed and a new one added. Afterwards every imported guest carries the
//! tag once (one `TagAdded` in tagging's log) and was messaged once by the automation on that
//! tag (one delivery at the sink provider).
//!
//! PostgreSQL only: partitions and replicas share one database; the embedded backend is one
//! process with one partition.

use std::{collections::BTreeMap, time::Duration};

use futures::StreamExt;
use maitre_kit::{
    auth::Role,
    config::ServiceName,
    eventlog::open_watch,
    testing::{Backend, token},
};
use maitre_proto::events::v1::{
    GetLogHeadRequest, event::Payload, event_log_service_client::EventLogServiceClient,
};
use maitre_tests::{System, eventually, rest::Rest, setup, sink::Sink};
use serde_json::{Value, json};

const CHAIN: &str = "chain-scale-out";
const GUESTS: usize = 240;
const BATCH: usize = 40;
const TAG: &str = "visited";

fn phone(guest: usize) -> String {
    format!("+86139{:08}", 20_000_000 + guest)
}

fn batch(store: &str, from: usize) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::hours(2);
    let events: Vec<Value> = (from..from + BATCH)
        .map(|guest| {
            json!({
                "channel": "EVENT_CHANNEL_POS", "externalId": format!("scale-{guest}"),
                "kind": "CONTACT_KIND_VISIT",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone(guest)}],
                "storeId": store, "amount": {"amountFen": "16800", "currency": "CNY"},
                "occurredAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "partySize": 2,
                "lines": [{"dishName": "白切鸡", "category": "粤菜", "quantity": 1,
                           "amountFen": "16800"}],
            })
        })
        .collect();
    json!({ "events": events })
}

/// Every `TagAdded` of `TAG` in tagging's log (this chain's share), counted per guest.
async fn tag_added_per_guest(tagging_url: &str, hq: &str) -> BTreeMap<String, usize> {
    let channel = maitre_kit::client::lazy_channel(tagging_url).expect("tagging channel");
    let head = EventLogServiceClient::new(channel.clone())
        .get_log_head(maitre_kit::client::outgoing(
            GetLogHeadRequest::default(),
            hq,
        ))
        .await
        .expect("tagging's head")
        .into_inner()
        .head_sequence;
    let mut counts = BTreeMap::new();
    let mut stream = open_watch(channel, 0, hq).await.expect("tagging's log");
    while let Some(event) = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("tagging's log up to its head")
    {
        let event = event.expect("an event");
        if let Some(Payload::TagAdded(added)) = &event.payload
            && added.tag_name == TAG
        {
            *counts.entry(added.customer_id.clone()).or_default() += 1;
        }
        if event.sequence >= head {
            break;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_and_added_mid_import_tag_and_message_each_guest_once() {
    let sink = Sink::start().await;
    // Four partitions, so three replicas (and then the one added) each hold some.
    let system = System::start_partitioned(Backend::Production, &sink.settings(), 4).await;
    let hq = token(CHAIN, Role::HqAdmin, "hq", &[]);
    let admin = Rest::new(&system.gateway.url, &hq);
    let store = setup::store(&admin, "珠江新城店", "ZJ").await;
    let template = setup::sms_template(&admin, "到店感谢", "感谢光临，欢迎再来").await;
    setup::active_rule_tag(&admin, TAG, "visits(365d) >= 1").await;
    admin
        .post(
            "/v1/automations",
            json!({"automation": {"name": "到店感谢", "enabled": true,
                   "trigger": {"kind": "TRIGGER_KIND_TAG_ADDED", "tag": TAG},
                   "actions": [{"kind": "ACTION_KIND_MESSAGE_CUSTOMER", "templateId": template}]},
                   "requestId": "scale-out-thanks"}),
        )
        .await
        .ok();

    // Three replicas of each: the system's own and two more.
    let mut tagging_2 = Some(
        system
            .start_replica(ServiceName::Tagging, "tagging-2")
            .await,
    );
    let _tagging_3 = system
        .start_replica(ServiceName::Tagging, "tagging-3")
        .await;
    let mut notification_2 = Some(
        system
            .start_replica(ServiceName::Notification, "notification-2")
            .await,
    );
    let _notification_3 = system
        .start_replica(ServiceName::Notification, "notification-3")
        .await;

    // The import, in batches; one replica of each killed a third of the way in, a new one
    // added two thirds in, while the consumers work through what came before.
    let mut extra = vec![];
    for (i, from) in (0..GUESTS).step_by(BATCH).enumerate() {
        let answer = admin
            .post("/v1/events:batch", batch(&store, from))
            .await
            .ok();
        // An int64 in proto3 JSON is a string.
        let recorded = &answer["recorded"];
        let recorded = recorded
            .as_i64()
            .or_else(|| recorded.as_str().and_then(|s| s.parse().ok()));
        assert_eq!(recorded, Some(BATCH as i64), "{answer}");
        if i == 1 {
            for replica in [tagging_2.take(), notification_2.take()]
                .into_iter()
                .flatten()
            {
                replica.kill().await;
            }
        }
        if i == 3 {
            extra.push(
                system
                    .start_replica(ServiceName::Tagging, "tagging-4")
                    .await,
            );
            extra.push(
                system
                    .start_replica(ServiceName::Notification, "notification-4")
                    .await,
            );
        }
    }

    // Every consumer of every service has applied everything (the killed replicas' partitions
    // taken over once their leases expired).
    let caught_up = eventually(240, || async {
        let answer = admin.get("/v1/consumers").await;
        (answer.status == 200 && answer.body["caughtUp"] == true).then_some(answer.body)
    })
    .await;
    assert!(caught_up.is_some(), "the consumers caught up");

    // Tagged once: one TagAdded per guest in tagging's log.
    let tagged = tag_added_per_guest(&system.tagging.url, &hq).await;
    assert_eq!(tagged.len(), GUESTS, "every guest tagged: {tagged:?}");
    let twice: Vec<_> = tagged.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "tagged more than once: {twice:?}");

    // Messaged once: wait until the sink has a delivery for every guest, then no guest has two.
    let delivered = eventually(120, || async {
        let mut per_guest: BTreeMap<String, usize> = BTreeMap::new();
        for message in sink.received() {
            let customer = message["customer_id"].as_str().unwrap_or_default();
            *per_guest.entry(customer.to_owned()).or_default() += 1;
        }
        (per_guest.len() >= GUESTS).then_some(per_guest)
    })
    .await;
    let delivered = delivered.unwrap_or_else(|| {
        panic!(
            "a delivery for every guest: {} deliveries",
            sink.received().len()
        )
    });
    assert_eq!(
        delivered.keys().collect::<Vec<_>>(),
        tagged.keys().collect::<Vec<_>>(),
        "the guests messaged are the guests tagged"
    );
    let repeated: Vec<_> = delivered.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "messaged more than once: {repeated:?}");
}
