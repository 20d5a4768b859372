//! Smoke test of the whole system on both backends: every service and the gateway start,
//! report healthy, list their APIs by reflection, refuse anonymous calls and answer an
//! authenticated one.

use futures::StreamExt;
use maitre_kit::{
    auth::Role,
    client::outgoing,
    testing::{Backend, token},
};
use maitre_proto::{assignment, notification, profile, tagging};
use maitre_tests::System;
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

async fn assert_healthy(url: &str, service: &str) {
    let mut health = HealthClient::new(channel(url).await);
    let status = health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        status.status(),
        ServingStatus::Serving,
        "{service} at {url}"
    );
}

async fn listed_services(url: &str) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel(url).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

async fn smoke(backend: Backend) {
    let system = System::start(backend).await;
    let admin = token("chain-smoke", Role::HqAdmin, "admin", &[]);

    for (url, name) in [
        (&system.profile.url, "maitre.profile.v1.ProfileService"),
        (
            &system.assignment.url,
            "maitre.assignment.v1.AssignmentService",
        ),
        (&system.tagging.url, "maitre.tagging.v1.TaggingService"),
        (
            &system.notification.url,
            "maitre.notification.v1.NotificationService",
        ),
    ] {
        assert_healthy(url, name).await;
        assert!(
            listed_services(url).await.iter().any(|s| s == name),
            "{name} listed by reflection"
        );
    }

    // Anonymous calls are refused; authenticated ones answered (Watch opens on every service).
    let mut p = profile::v1::profile_service_client::ProfileServiceClient::new(
        channel(&system.profile.url).await,
    );
    let anonymous = p
        .watch(profile::v1::WatchRequest { from_sequence: 0 })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    p.watch(outgoing(
        profile::v1::WatchRequest { from_sequence: 0 },
        &admin,
    ))
    .await
    .expect("profile watch");
    let mut a = assignment::v1::assignment_service_client::AssignmentServiceClient::new(
        channel(&system.assignment.url).await,
    );
    a.watch(outgoing(
        assignment::v1::WatchRequest { from_sequence: 0 },
        &admin,
    ))
    .await
    .expect("assignment watch");
    let mut t = tagging::v1::tagging_service_client::TaggingServiceClient::new(
        channel(&system.tagging.url).await,
    );
    t.watch(outgoing(
        tagging::v1::WatchRequest { from_sequence: 0 },
        &admin,
    ))
    .await
    .expect("tagging watch");
    let mut n = notification::v1::notification_service_client::NotificationServiceClient::new(
        channel(&system.notification.url).await,
    );
    n.watch(outgoing(
        notification::v1::WatchRequest { from_sequence: 0 },
        &admin,
    ))
    .await
    .expect("notification watch");

    // The gateway lists all four APIs by reflection (what grpcurl shows).
    let listed = listed_services(&system.gateway.url).await;
    for name in maitre_proto::SERVICE_NAMES {
        assert!(
            listed.iter().any(|s| s == name),
            "gateway reflection lists {name}: {listed:?}"
        );
    }

    // The gateway is up and ready, refuses anonymous API calls, and answers authenticated ones.
    let http = maitre_kit::http::client();
    let health = http
        .get(format!("{}/healthz", system.gateway.url))
        .send()
        .await
        .expect("gateway healthz");
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("{}/readyz", system.gateway.url))
        .send()
        .await
        .expect("gateway readyz");
    assert_eq!(ready.status(), 200, "every upstream serving");
    let anonymous = http
        .get(format!("{}/v1/tags", system.gateway.url))
        .send()
        .await
        .expect("gateway");
    assert_eq!(anonymous.status(), 401);
    let rest = maitre_tests::rest::Rest::new(&system.gateway.url, &admin);
    let tags = rest.get("/v1/tags").await;
    assert_eq!(tags.status, 200, "{:?}", tags.body);
    let openapi = http
        .get(format!("{}/openapi.json", system.gateway.url))
        .send()
        .await
        .expect("openapi");
    let document: serde_json::Value = openapi.json().await.expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with('3')),
        "OpenAPI 3"
    );
    let paths = document["paths"].as_object().expect("paths");
    assert!(
        paths
            .keys()
            .any(|p| p.starts_with("/v1/customers/{") && p.ends_with("ownership")),
        "{:?}",
        paths.keys()
    );
}

maitre_kit::on_both_backends!(smoke);
