//! The business gauges as Prometheus scrapes them (`MAITRE_METRICS_LISTEN`, the process-wide
//! exporter the binary installs): after a store, a guest and one message sent through a
//! sink provider, notification's gauges count one message sent and an empty queue, no dead
//! letters; profile's outbox has nothing unpublished and its head is the head tagging's
//! consumer reports; the consumer-lag gauges and the gateway's RED metrics are there too.

use std::net::SocketAddr;

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest, setup, sink::Sink};
use serde_json::{Value, json};

const CHAIN: &str = "chain-metrics";

/// Installs the exporter on a free loopback port (one recorder per test process).
fn install_exporter() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let listen = listener.local_addr().expect("local address");
    drop(listener);
    maitre_kit::metrics::install(listen).expect("metrics exporter");
    listen
}

async fn scrape(listen: SocketAddr) -> String {
    maitre_kit::http::client()
        .get(format!("http://{listen}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body")
}

/// The value of the sample `series` (name and labels as exported), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn a_scrape_shows_the_business_gauges(backend: Backend) {
    let listen = install_exporter();
    let sink = Sink::start().await;
    let system = System::start_with_notification_settings(backend, &sink.settings()).await;
    let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = setup::store(&admin, "静安店", "JA").await;
    let customer = setup::guest(&admin, &store, "13800138031", "李娜", "female").await;
    let template = setup::sms_template(&admin, "到店提醒", "{{customer.salutation}}您好").await;
    let body = json!({"customerId": customer, "channel": "MESSAGE_CHANNEL_SMS",
                      "templateId": template, "requestId": "metrics-1"});
    eventually(30, || async {
        let reply = admin.post("/v1/messages", body.clone()).await;
        (reply.status == 200).then_some(())
    })
    .await
    .expect("notification takes the message");
    sink.first_for(&customer, 60)
        .await
        .expect("the message reaches the provider");

    // Notification: one message settled as sent, nothing queued, no dead letters.
    let settled = eventually(60, || async {
        let text = scrape(listen).await;
        let sent = sample(&text, r#"maitre_notification_messages{status="sent"}"#)?;
        let queue = sample(&text, "maitre_notification_queue_depth")?;
        (sent == 1.0 && queue == 0.0).then_some(text)
    })
    .await
    .expect("notification's gauges show one message sent and an empty queue");
    assert_eq!(
        sample(&settled, r#"maitre_notification_messages{status="dead"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&settled, r#"maitre_notification_messages{status="queued"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&settled, r#"maitre_notification_actions{status="dead"}"#),
        Some(0.0)
    );

    // Profile's outbox: everything published, its head the head tagging's consumer sees
    // (one chain in this system, so the chain's head is the log's).
    let consumers: Value = eventually(60, || async {
        let answer = admin.get("/v1/consumers").await.ok();
        (answer["caughtUp"] == true).then_some(answer)
    })
    .await
    .expect("consumers caught up");
    let profile_head: f64 = consumers["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .find(|c| c["consumer"] == "tagging<-profile")
        .and_then(|c| c["upstreamHeadSequence"].as_str())
        .expect("tagging<-profile head")
        .parse()
        .expect("a number");
    assert!(profile_head >= 3.0, "store, guest, profile: {profile_head}");
    let text = eventually(30, || async {
        let text = scrape(listen).await;
        let unpublished = sample(
            &text,
            r#"maitre_outbox_unpublished_events{service="profile"}"#,
        )?;
        let head = sample(&text, r#"maitre_outbox_head_sequence{service="profile"}"#)?;
        (unpublished == 0.0 && head == profile_head).then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("outbox gauges never showed head {profile_head}"));
    assert_eq!(
        sample(
            &text,
            r#"maitre_outbox_oldest_unpublished_age_seconds{service="profile"}"#
        ),
        Some(0.0)
    );
    for service in ["assignment", "tagging", "notification"] {
        assert!(
            sample(
                &text,
                &format!(r#"maitre_outbox_unpublished_events{{service="{service}"}}"#)
            )
            .is_some(),
            "{service}'s outbox gauge"
        );
    }

    // Consumer lag (reported every 15 s) and the gateway's RED metrics share the endpoint.
    let text = eventually(40, || async {
        let text = scrape(listen).await;
        sample(
            &text,
            r#"maitre_consumer_pending_events{consumer="tagging<-profile"}"#,
        )
        .map(|_| text)
    })
    .await
    .expect("consumer lag gauge");
    assert!(
        text.contains("maitre_gateway_requests_total{"),
        "gateway RED metrics in {text}"
    );
    // For the record: the lines an operator scrapes.
    for line in text.lines().filter(|l| {
        l.starts_with("maitre_gateway_requests_total{")
            || l.starts_with("maitre_gateway_upstream_serving")
            || l.starts_with("maitre_notification_")
            || l.starts_with("maitre_outbox_")
            || l.starts_with("maitre_consumer_pending_events")
    }) {
        println!("{line}");
    }
}

maitre_kit::on_both_backends!(a_scrape_shows_the_business_gauges);
