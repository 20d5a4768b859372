//! gRPC and gRPC-Web on the gateway's port.

use maitre_gateway::GatewayOptions;
use maitre_kit::{client::outgoing, testing::Backend};
use maitre_proto::events::v1::event::Payload;
use maitre_proto::profile::v1::{
    CreateStoreRequest, GetStoreRequest, GetStoreResponse, Store, WatchRequest,
    profile_service_client::ProfileServiceClient,
};
use prost::Message;
use tonic::Code;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::{setup, token};

async fn grpc_passes_through(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let hq = token(maitre_kit::auth::Role::HqAdmin, "hq-1");
    let mut client = ProfileServiceClient::connect(s.url.clone()).await.unwrap();
    let created = client
        .create_store(outgoing(
            CreateStoreRequest {
                store: Some(Store {
                    name: "Riverside".into(),
                    ..Default::default()
                }),
                request_id: "r1".into(),
            },
            &hq,
        ))
        .await
        .unwrap()
        .into_inner();
    let store_id = created.store.unwrap().store_id;
    let got = client
        .get_store(outgoing(
            GetStoreRequest {
                store_id: store_id.clone(),
            },
            &hq,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.store.unwrap().name, "Riverside");

    // Server streaming passes through too.
    let mut events = client
        .watch(outgoing(WatchRequest { from_sequence: 0 }, &hq))
        .await
        .unwrap()
        .into_inner();
    let first = events.message().await.unwrap().expect("the store's event");
    assert_eq!(first.sequence, 1);
    assert!(matches!(first.payload, Some(Payload::StoreChanged(ref s)) if s.name == "Riverside"));

    // Statuses and their details come back unchanged.
    let missing = client
        .get_store(outgoing(
            GetStoreRequest {
                store_id: "nope".into(),
            },
            &hq,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let invalid = client
        .create_store(outgoing(CreateStoreRequest::default(), &hq))
        .await
        .unwrap_err();
    assert_eq!(
        maitre_kit::error::field_of(&invalid).as_deref(),
        Some("store")
    );

    // Refused at the edge without a token.
    let refused = client
        .get_store(GetStoreRequest { store_id })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn grpc_passes_through_embedded() {
    grpc_passes_through(Backend::Embedded).await;
}

#[tokio::test]
async fn grpc_passes_through_production() {
    grpc_passes_through(Backend::Production).await;
}

/// One gRPC-Web frame: flag byte, big-endian length, payload.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a gRPC-Web body into (flag, payload) frames.
fn frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    out
}

#[tokio::test]
async fn grpc_web_is_framed_with_trailers_in_the_body() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let hq = format!("Bearer {}", token(maitre_kit::auth::Role::HqAdmin, "hq-1"));
    let client = maitre_kit::http::client();
    let create = CreateStoreRequest {
        store: Some(Store {
            name: "Harbour".into(),
            ..Default::default()
        }),
        request_id: "r1".into(),
    };
    let response = client
        .post(format!(
            "{}/maitre.profile.v1.ProfileService/CreateStore",
            s.url
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", &hq)
        .body(frame(0, &create.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    let body = response.bytes().await.unwrap();
    let frames = frames(&body);
    assert_eq!(frames.len(), 2, "a message then the trailers");
    assert_eq!(frames[0].0, 0);
    let store = GetStoreResponse::decode(frames[0].1.as_slice())
        .unwrap()
        .store
        .unwrap();
    assert_eq!(store.name, "Harbour");
    assert_eq!(frames[1].0, 0x80);
    let trailers = String::from_utf8(frames[1].1.clone()).unwrap();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // A refusal is a trailers-only gRPC answer a gRPC-Web client understands.
    let refused = client
        .post(format!(
            "{}/maitre.profile.v1.ProfileService/GetStore",
            s.url
        ))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(0, &GetStoreRequest::default().encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.headers()["grpc-status"],
        (Code::Unauthenticated as i32).to_string()
    );
}

#[tokio::test]
async fn reflection_lists_the_four_services() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(s.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in maitre_proto::SERVICE_NAMES {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}

/// Asks `url`'s reflection (v1 and v1alpha) for the file of a service, as grpcurl and
/// grpcio do, and builds a descriptor pool from that one answer: it resolves only if the
/// answer carries every dependency (`maitre.common.v1`, `google.api`, `google.protobuf`).
async fn reflection_resolves_a_symbol_with_its_dependencies(url: &str) {
    let symbol = "maitre.profile.v1.ProfileService";
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut v1 = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.into())),
    };
    let response = v1
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("not files: {:?}", response.message_response);
    };
    let pool = pool_of(&files.file_descriptor_proto);
    let get_store = pool
        .get_service_by_name(symbol)
        .and_then(|s| s.methods().find(|m| m.name() == "CreateStore"))
        .expect("the service resolves");
    assert_eq!(
        get_store.input().full_name(),
        "maitre.profile.v1.CreateStoreRequest"
    );
    assert!(
        pool.get_file_by_name("maitre/common/v1/common.proto")
            .is_some()
    );
    assert!(
        pool.get_file_by_name("google/api/annotations.proto")
            .is_some()
    );

    // v1alpha (grpcio's reflection client) answers the same.
    use tonic_reflection::pb::v1alpha;
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()),
        ),
    };
    let response = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        response.message_response
    else {
        panic!("not files");
    };
    let pool = pool_of(&files.file_descriptor_proto);
    assert!(pool.get_service_by_name(symbol).is_some());
}

/// A descriptor pool of exactly the given encoded files (fails on a missing dependency).
fn pool_of(files: &[Vec<u8>]) -> prost_reflect::DescriptorPool {
    let mut set = Vec::new();
    for file in files {
        prost::encoding::bytes::encode(1, file, &mut set);
    }
    prost_reflect::DescriptorPool::decode(set.as_slice()).expect("every dependency is served")
}

#[tokio::test]
async fn reflection_serves_dependencies_on_the_gateway_and_the_service() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    reflection_resolves_a_symbol_with_its_dependencies(&s.url).await;
    reflection_resolves_a_symbol_with_its_dependencies(&s.fake_url).await;
}
