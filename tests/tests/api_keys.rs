//! API keys for integrations (issue 23): an HQ admin creates a key scoped to a role and
//! stores, the secret is shown once, the key works as `Authorization: Bearer` and as
//! `x-api-key` with exactly the scope of a token of that role and stores, and a revoked key
//! is refused within seconds.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-keys";

async fn store(admin: &Rest, code: &str) -> String {
    admin
        .post(
            "/v1/stores",
            json!({"store": {"name": format!("store {code}"), "code": code}}),
        )
        .await
        .ok()["store"]["storeId"]
        .as_str()
        .expect("store id")
        .to_owned()
}

/// How many keys `admin` lists (an empty list is omitted from the JSON answer).
async fn keys_listed(admin: &Rest) -> usize {
    admin.get("/v1/apiKeys").await.ok()["apiKeys"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A GET with the key in `x-api-key`: the status.
async fn get_with_header(url: &str, path: &str, secret: &str) -> u16 {
    maitre_kit::http::client()
        .get(format!("{url}{path}"))
        .header("x-api-key", secret)
        .send()
        .await
        .expect("gateway reachable")
        .status()
        .as_u16()
}

async fn keys_act_as_their_scope_until_revoked(backend: Backend) {
    let system = System::start(backend).await;
    let url = system.gateway.url.clone();
    let admin = Rest::new(&url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let s1 = store(&admin, "S1").await;
    let s2 = store(&admin, "S2").await;

    // Only an HQ admin creates keys, and bad input names its field and creates nothing.
    let manager = Rest::new(&url, &token(CHAIN, Role::StoreManager, "li", &[&s1]));
    let refused = manager
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "POS", "role": "ROLE_HQ_ADMIN"}}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    for (body, field) in [
        (
            json!({"apiKey": {"name": "POS", "role": "ROLE_CUSTOMER_MANAGER", "storeIds": [s1]}}),
            "api_key.role",
        ),
        (
            json!({"apiKey": {"name": "POS", "role": "ROLE_STORE_MANAGER"}}),
            "api_key.store_ids",
        ),
        (
            json!({"apiKey": {"name": "POS", "role": "ROLE_STORE_MANAGER", "storeIds": ["nope"]}}),
            "api_key.store_ids[0]",
        ),
        (
            json!({"apiKey": {"name": "", "role": "ROLE_FRONT_DESK", "storeIds": [s1]}}),
            "api_key.name",
        ),
    ] {
        let reply = admin.post("/v1/apiKeys", body).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.body["field"], field, "{}", reply.body);
    }
    assert_eq!(keys_listed(&admin).await, 0);

    // Created: the secret is in this answer only.
    let created = admin
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "POS S1", "role": "ROLE_STORE_MANAGER", "storeIds": [s1]},
                   "requestId": "pos-s1"}),
        )
        .await
        .ok();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let key_id = created["apiKey"]["keyId"]
        .as_str()
        .expect("key id")
        .to_owned();
    assert!(secret.starts_with("mtr_"), "{created}");
    assert_eq!(created["apiKey"]["createdBy"], "hq");
    // A replay answers the same key, never the secret again; the list never shows it.
    let replay = admin
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "POS S1", "role": "ROLE_STORE_MANAGER", "storeIds": [s1]},
                   "requestId": "pos-s1"}),
        )
        .await
        .ok();
    assert_eq!(replay["apiKey"]["keyId"], key_id.as_str());
    assert!(replay.get("secret").is_none_or(|s| s == ""), "{replay}");
    let listed = admin.get("/v1/apiKeys").await.ok();
    assert_eq!(
        listed["apiKeys"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&secret[4..]), "{listed}");

    // The key acts as a store manager of S1, through either header.
    let pos = Rest::new(&url, &secret);
    assert_eq!(
        pos.get(&format!("/v1/stores/{s1}")).await.ok()["store"]["storeId"],
        s1.as_str()
    );
    assert_eq!(
        get_with_header(&url, &format!("/v1/stores/{s1}"), &secret).await,
        200
    );
    let stores = pos.get("/v1/stores").await.ok();
    let ids: Vec<&Value> = stores["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| &s["storeId"])
        .collect();
    assert_eq!(ids, [&json!(s1)], "{stores}");
    // Another store, HQ-only calls and key management are refused, as for such a token.
    assert_eq!(pos.get(&format!("/v1/stores/{s2}")).await.status, 403);
    assert_eq!(
        get_with_header(&url, &format!("/v1/stores/{s2}"), &secret).await,
        403
    );
    assert_eq!(
        pos.post("/v1/stores", json!({"store": {"name": "x"}}))
            .await
            .status,
        403
    );
    assert_eq!(pos.get("/v1/apiKeys").await.status, 403);
    // A key of HQ role may not mint keys that would outlive its own revocation either.
    let hq_key = admin
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "BI", "role": "ROLE_HQ_ADMIN"}}),
        )
        .await
        .ok()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let bi = Rest::new(&url, &hq_key);
    assert_eq!(bi.get(&format!("/v1/stores/{s2}")).await.status, 200);
    let minted = bi
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "more", "role": "ROLE_HQ_ADMIN"}}),
        )
        .await;
    assert_eq!(minted.status, 403, "{}", minted.body);

    // Another chain: sees neither the key nor may revoke it; the key sees none of its stores.
    let other = Rest::new(&url, &token("chain-keys-other", Role::HqAdmin, "hq", &[]));
    let foreign = store(&other, "F1").await;
    assert_eq!(keys_listed(&other).await, 0);
    assert_eq!(
        other
            .send(
                reqwest::Method::DELETE,
                &format!("/v1/apiKeys/{key_id}"),
                None
            )
            .await
            .status,
        404
    );
    assert_eq!(bi.get(&format!("/v1/stores/{foreign}")).await.status, 404);

    // Forged and malformed keys are refused.
    let forged = format!("{}A", &secret[..secret.len() - 1]);
    let forged = if forged == secret {
        format!("{}B", &secret[..secret.len() - 1])
    } else {
        forged
    };
    assert_eq!(Rest::new(&url, &forged).get("/v1/stores").await.status, 401);
    assert_eq!(
        get_with_header(&url, "/v1/stores", "mtr_nonsense").await,
        401
    );

    // Revoked: every call with it is refused within seconds.
    let revoked = admin
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/apiKeys/{key_id}"),
            None,
        )
        .await
        .ok();
    assert!(revoked["apiKey"]["revokeTime"].is_string(), "{revoked}");
    assert_eq!(revoked["apiKey"]["revokedBy"], "hq");
    let refused = eventually(15, || async {
        (pos.get("/v1/stores").await.status == 401
            && get_with_header(&url, "/v1/stores", &secret).await == 401)
            .then_some(())
    })
    .await;
    assert!(refused.is_some(), "a revoked key is refused within seconds");
    // The HQ key is untouched by the other's revocation.
    assert_eq!(bi.get("/v1/stores").await.status, 200);
}

on_both_backends!(keys_act_as_their_scope_until_revoked);
