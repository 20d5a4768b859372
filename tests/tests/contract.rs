//! The served contract covers the API (issue 21 item 6): the rule language's functions are
//! listed by an API call and in the document, and segment export has a REST route.

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest, setup};
use serde_json::{Value, json};

async fn rule_functions_are_listed_by_the_api_and_in_the_document(backend: Backend) {
    let system = System::start(backend).await;
    let desk = token("chain-fn", Role::FrontDesk, "desk-1", &[]);
    let functions = Rest::new(&system.gateway.url, &desk)
        .get("/v1/rules/functions")
        .await
        .ok();
    let names: Vec<&str> = functions["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for expected in ["visits", "avg_ticket", "dish_share", "has_tag", "p_alive"] {
        assert!(names.contains(&expected), "{expected}: {functions}");
    }
    let visits = &functions["functions"][0];
    assert_eq!(
        visits["signature"], "visits(Duration) -> Number",
        "{visits}"
    );

    // The document names each of them where the call is described.
    let doc: Value = maitre_kit::http::client()
        .get(format!("{}/openapi.json", system.gateway.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let described = doc["paths"]["/v1/rules/functions"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    for name in &names {
        assert!(described.contains(name), "{name} not in: {described}");
    }
}

async fn segment_export_is_served_over_rest_as_ndjson(backend: Backend) {
    let system = System::start(backend).await;
    let hq = token("chain-export", Role::HqAdmin, "hq-1", &[]);
    let admin = Rest::new(&system.gateway.url, &hq);
    let store = setup::store(&admin, "Main", "M1").await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut guests = Vec::new();
    for i in 0..3 {
        let event = json!({"event": {"channel": "EVENT_CHANNEL_POS",
            "externalId": format!("pos-{i}"), "kind": "CONTACT_KIND_VISIT", "storeId": store,
            "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": format!("+861380013803{i}")}],
            "occurredAt": now, "partySize": 2}});
        let recorded = admin.post("/v1/events", event).await.ok();
        guests.push(
            recorded["customer"]["customerId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    guests.sort();
    setup::active_manual_tag(&admin, "likes_dessert").await;
    let segment = json!({"segment": {"expression": "likes_dessert or not likes_dessert"}});
    let http = maitre_kit::http::client();
    let export = |body: Value, token: String| {
        let http = http.clone();
        let url = format!("{}/v1/segments:export", system.gateway.url);
        async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, kind, response.text().await.unwrap())
        }
    };
    // Tagging has seen the three guests once the export holds them.
    let exported = eventually(30, || {
        let (segment, hq, guests) = (segment.clone(), hq.clone(), guests.clone());
        let export = &export;
        async move {
            let (status, kind, text) = export(segment, hq).await;
            assert_eq!(status, 200, "{text}");
            assert_eq!(kind.as_deref(), Some("application/x-ndjson"));
            let mut ids: Vec<String> = text
                .lines()
                .flat_map(|line| {
                    let chunk: Value = serde_json::from_str(line).expect("one JSON per line");
                    assert!(chunk.get("error").is_none(), "{line}");
                    chunk["customerIds"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|id| id.as_str().unwrap().to_owned())
                })
                .collect();
            ids.sort();
            (ids == guests).then_some(())
        }
    })
    .await;
    assert!(exported.is_some(), "the export lists the chain's guests");

    // A refusal before the first chunk is an ordinary JSON error.
    let (status, _, text) = export(json!({"segment": {"expression": "visits("}}), hq).await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["code"], "INVALID_ARGUMENT", "{error}");
    let desk = token("chain-export", Role::FrontDesk, "desk-1", &[]);
    let (status, _, text) = export(segment, desk).await;
    assert_eq!(status, 403, "{text}");
}

maitre_kit::on_both_backends!(
    rule_functions_are_listed_by_the_api_and_in_the_document,
    segment_export_is_served_over_rest_as_ndjson
);
