//! REST/JSON through the gateway: shapes, errors with fields, the 401 matrix, rate limits,
//! public endpoints and the OpenAPI document.

use std::sync::atomic::Ordering;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use maitre_gateway::{GatewayOptions, edge::RateLimits};
use maitre_kit::{
    auth::{Claims, DEVELOPMENT_SECRET, Minter, Role},
    testing::Backend,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{hq, setup, token};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn create_store(client: &reqwest::Client, url: &str, name: &str) -> reqwest::Response {
    client
        .post(format!("{url}/v1/stores"))
        .header("authorization", hq())
        .json(&json!({"store": {"name": name, "timeZone": "Asia/Shanghai"}, "requestId": "r1"}))
        .send()
        .await
        .unwrap()
}

async fn rest_round_trip_and_errors(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    let created = create_store(&client, &s.url, "Main street").await;
    assert_eq!(created.status(), StatusCode::OK);
    assert!(created.headers().contains_key("x-request-id"));
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["store"]["storeId"], "s1");
    assert_eq!(body["store"]["timeZone"], "Asia/Shanghai");

    let got = client
        .get(format!("{}/v1/stores/s1", s.url))
        .header("authorization", hq())
        .header("x-request-id", "req-42")
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["x-request-id"], "req-42");
    {
        // The request id and the trace reach the service.
        let seen = s.fake.last_headers.lock().unwrap();
        assert_eq!(seen.get("x-request-id").map(String::as_str), Some("req-42"));
        let traceparent = seen.get("traceparent").expect("traceparent forwarded");
        assert!(
            traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceparent}"
        );
    }
    let body: Value = got.json().await.unwrap();
    assert_eq!(
        body,
        json!({"store": {"storeId": "s1", "name": "Main street", "timeZone": "Asia/Shanghai"}})
    );

    // The service's INVALID_ARGUMENT keeps its field.
    let empty = create_store(&client, &s.url, " ").await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_ARGUMENT");
    assert_eq!(body["field"], "store.name");

    // JSON that does not fit the message never reaches the service.
    let calls = s.fake.calls.load(Ordering::SeqCst);
    let misfit = client
        .post(format!("{}/v1/stores", s.url))
        .header("authorization", hq())
        .json(&json!({"store": {"nmae": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(misfit.status(), StatusCode::BAD_REQUEST);
    let body: Value = misfit.json().await.unwrap();
    assert_eq!(body["field"], "store.nmae");
    assert_eq!(s.fake.calls.load(Ordering::SeqCst), calls);

    let expectations = [
        ("/v1/stores/s9", StatusCode::NOT_FOUND, "NOT_FOUND"),
        ("/v1/nowhere", StatusCode::NOT_FOUND, "NOT_FOUND"),
        // Routed, but the fake does not implement it.
        (
            "/v1/customers/c1",
            StatusCode::NOT_IMPLEMENTED,
            "UNIMPLEMENTED",
        ),
        // Routed to a service that is down.
        (
            "/v1/managers/m1",
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        ),
    ];
    for (path, status, code) in expectations {
        let response = client
            .get(format!("{}{path}", s.url))
            .header("authorization", hq())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{path}: {body}");
    }

    // Role enforced by the service with the forwarded token.
    let front_desk = client
        .post(format!("{}/v1/stores", s.url))
        .header(
            "authorization",
            format!("Bearer {}", token(Role::FrontDesk, "fd-1")),
        )
        .json(&json!({"store": {"name": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(front_desk.status(), StatusCode::FORBIDDEN);

    // Bodies over the limit (1 MiB by default) are refused before any parsing.
    let oversized = client
        .post(format!("{}/v1/stores", s.url))
        .header("authorization", hq())
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let wrong_method = client
        .delete(format!("{}/v1/stores/s1", s.url))
        .header("authorization", hq())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    // GetStore and UpdateStore share the path.
    assert_eq!(wrong_method.headers()["allow"], "GET, PATCH");
}

#[tokio::test]
async fn rest_round_trip_and_errors_embedded() {
    rest_round_trip_and_errors(Backend::Embedded).await;
}

#[tokio::test]
async fn rest_round_trip_and_errors_production() {
    rest_round_trip_and_errors(Backend::Production).await;
}

fn claims(exp_offset_secs: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "hq-1".into(),
        chain: "chain-1".into(),
        role: Role::HqAdmin,
        stores: vec![],
        exp: (now + exp_offset_secs) as u64,
        iat: (now - 10) as u64,
    }
}

async fn unauthenticated_requests_never_reach_a_service(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    let secret = EncodingKey::from_secret(DEVELOPMENT_SECRET.as_bytes());
    let forged = Minter::hs256("not-the-key")
        .mint("hq-1", "chain-1", Role::HqAdmin, &[], 60)
        .unwrap();
    let expired =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(-300), &secret).unwrap();
    let wrong_algorithm =
        jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(300), &secret).unwrap();
    let cases = [
        ("missing", None),
        ("not bearer", Some("Basic aGk6dGhlcmU=".to_owned())),
        ("forged", Some(format!("Bearer {forged}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong algorithm", Some(format!("Bearer {wrong_algorithm}"))),
        ("garbage", Some("Bearer a.b.c".to_owned())),
    ];
    for (case, authorization) in cases {
        let mut request = client.get(format!("{}/v1/stores/s1", s.url));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED", "{case}");
    }
    assert_eq!(s.fake.calls.load(Ordering::SeqCst), 0);

    for public in ["/healthz", "/openapi.json", "/docs"] {
        let response = client
            .get(format!("{}{public}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{public}");
    }
    // Only profile is up: the gateway is ready all the same (profile's routes work), and
    // the report says which upstreams are not serving.
    let ready = client
        .get(format!("{}/readyz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let report: Value = ready.json().await.unwrap();
    assert_eq!(report["upstreams"]["profile"], "SERVING");
    assert_ne!(report["upstreams"]["assignment"], "SERVING");
    assert_eq!(
        report["degraded"],
        json!(["assignment", "tagging", "notification"])
    );
}

#[tokio::test]
async fn unauthenticated_requests_never_reach_a_service_embedded() {
    unauthenticated_requests_never_reach_a_service(Backend::Embedded).await;
}

#[tokio::test]
async fn unauthenticated_requests_never_reach_a_service_production() {
    unauthenticated_requests_never_reach_a_service(Backend::Production).await;
}

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let options = GatewayOptions {
        rate_limits: RateLimits {
            per_token_per_minute: 3,
            per_chain_per_minute: 100,
        },
        ..GatewayOptions::default()
    };
    let s = setup(backend, options).await;
    let client = maitre_kit::http::client();
    let first = hq();
    for _ in 0..3 {
        let response = client
            .get(format!("{}/v1/stores/s1", s.url))
            .header("authorization", &first)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let limited = client
        .get(format!("{}/v1/stores/s1", s.url))
        .header("authorization", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    // Another token of the same chain has its own budget.
    let other = format!("Bearer {}", token(Role::HqAdmin, "hq-2"));
    let response = client
        .get(format!("{}/v1/stores/s1", s.url))
        .header("authorization", other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_embedded() {
    rate_limits_answer_429_with_retry_after(Backend::Embedded).await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_production() {
    rate_limits_answer_429_with_retry_after(Backend::Production).await;
}

/// Counted from the descriptors independently of the gateway's route table.
fn annotated_rpcs() -> usize {
    let pool = maitre_proto::descriptor_pool();
    let http = pool.get_extension_by_name("google.api.http").unwrap();
    maitre_proto::SERVICE_NAMES
        .iter()
        .map(|name| {
            pool.get_service_by_name(name)
                .unwrap()
                .methods()
                .filter(|m| m.options().has_extension(&http))
                .count()
        })
        .sum()
}

#[tokio::test]
async fn openapi_lists_every_annotated_rpc_and_docs_render_it() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    let doc: Value = client
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let grpc_methods: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["x-grpc-method"].as_str())
        .collect();
    let expected = annotated_rpcs();
    assert!(expected >= 90, "{expected}");
    assert_eq!(grpc_methods.len(), expected);
    assert!(grpc_methods.contains(&"/maitre.profile.v1.ProfileService/MergeCustomers"));
    assert!(doc["paths"]["/v1/customers/{survivor_id}:merge"]["post"].is_object());
    let docs = client.get(format!("{}/docs", s.url)).send().await.unwrap();
    assert!(
        docs.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = docs.text().await.unwrap();
    assert!(html.contains("/openapi.json") && !html.contains("https://"));
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let options = GatewayOptions {
        cors_origins: vec!["https://console.example".into()],
        ..GatewayOptions::default()
    };
    let s = setup(Backend::Embedded, options).await;
    let client = maitre_kit::http::client();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{}/v1/stores", s.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://console.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
