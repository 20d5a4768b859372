//! The audit trail through the gateway (`GET /v1/audit`): an HQ admin's changes in every
//! service — the assignment policy's value lock, a transfer, a tag and its activation, a
//! preset automation, an API key and its revocation, the SMS provider account — appear with
//! the actor and the target before and after, newest first, merged across services and paged
//! without repeats; a refused change leaves no entry; secrets never appear; staff below HQ
//! are refused; another chain sees nothing of it.

use std::collections::BTreeSet;

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest, setup};
use serde_json::{Value, json};

const CHAIN: &str = "chain-audit";
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PROVIDER_SECRET: &str = "tencent-secret-key-never-in-the-trail";

fn entries(page: &Value) -> &Vec<Value> {
    page["entries"].as_array().expect("entries")
}

/// The only entry with `action`, asserting there is exactly one.
fn only<'a>(trail: &'a [Value], action: &str) -> &'a Value {
    let found: Vec<&Value> = trail.iter().filter(|e| e["action"] == action).collect();
    assert_eq!(found.len(), 1, "one {action} in {trail:#?}");
    found[0]
}

async fn changes_are_audited_with_before_and_after(backend: Backend) {
    let system = System::start_with_notification_settings(
        backend,
        &[("MAITRE_SECRET_KEY", SECRET_KEY.to_owned())],
    )
    .await;
    let url = system.gateway.url.clone();
    let admin = Rest::new(&url, &token(CHAIN, Role::HqAdmin, "hq-li", &[]));
    let store = setup::store(&admin, "外滩店", "WT").await;
    setup::manager(&admin, "m1", "王经理", &store).await;
    setup::manager(&admin, "m2", "张经理", &store).await;
    setup::visit(&admin, &store, "m1", "audit-visit-1", "13800138021", 1, &[]).await;
    let found = admin
        .post(
            "/v1/customers:lookup",
            json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": "13800138021"}}),
        )
        .await
        .ok();
    let customer = found["customer"]["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    eventually(30, || async {
        let owned = admin
            .get(&format!("/v1/customers/{customer}/ownership"))
            .await;
        (owned.status == 200 && owned.body["ownership"]["managerId"] == "m1").then_some(())
    })
    .await
    .expect("m1 owns the guest");

    // A refused change (a negative threshold) changes nothing and records nothing.
    let refused = admin
        .patch(
            "/v1/assignment-policy",
            json!({"policy": {"valueLockThresholdFen": "-1"}, "updateMask": "valueLockThresholdFen"}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // So is a refused transfer (to a manager who does not exist).
    let refused = admin
        .post(
            &format!("/v1/customers/{customer}:transfer"),
            json!({"toManagerId": "nobody"}),
        )
        .await;
    assert!(refused.status >= 400, "{:?}", refused);

    // The changes, one per audited kind of target.
    admin
        .patch(
            "/v1/assignment-policy",
            json!({"policy": {"valueLockThresholdFen": "50000"}, "updateMask": "valueLockThresholdFen"}),
        )
        .await
        .ok();
    admin
        .post(
            &format!("/v1/customers/{customer}:transfer"),
            json!({"toManagerId": "m2", "note": "王经理离职"}),
        )
        .await
        .ok();
    let tag = setup::active_manual_tag(&admin, "audit_vip").await;
    admin
        .post(
            "/v1/automation-presets/birthday_dessert_greeting:install",
            json!({"enable": false, "coupon": "DESSERT-2026"}),
        )
        .await
        .ok();
    let created = admin
        .post(
            "/v1/apiKeys",
            json!({"apiKey": {"name": "POS", "role": "ROLE_FRONT_DESK", "storeIds": [store]}}),
        )
        .await
        .ok();
    let key_secret = created["secret"].as_str().expect("secret").to_owned();
    let key_id = created["apiKey"]["keyId"]
        .as_str()
        .expect("key id")
        .to_owned();
    admin
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/apiKeys/{key_id}"),
            None,
        )
        .await
        .ok();
    admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "tencent_sms",
                "settings": {"secret_id": "AKIDaudit", "region": "ap-guangzhou",
                             "sdk_app_id": "1400006666", "sign_name": "海港酒家"},
                "secrets": {"secret_key": PROVIDER_SECRET}}),
        )
        .await
        .ok();

    // The whole trail, newest first, merged over the four services.
    let page = admin.get("/v1/audit").await.ok();
    assert_eq!(page["unavailable"], json!([]), "{page}");
    let trail = entries(&page).clone();
    let text = page.to_string();
    assert!(!text.contains(PROVIDER_SECRET), "provider secret in {text}");
    assert!(!text.contains(&key_secret), "key secret in {text}");
    assert!(
        !text.contains("-1\""),
        "the refused threshold left an entry: {text}"
    );
    assert!(
        !text.contains("nobody"),
        "the refused transfer left an entry: {text}"
    );
    let times: Vec<&str> = trail.iter().map(|e| e["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| {
        chrono::DateTime::parse_from_rfc3339(b)
            .unwrap()
            .cmp(&chrono::DateTime::parse_from_rfc3339(a).unwrap())
    });
    assert_eq!(times, sorted, "newest first");
    for entry in &trail {
        assert_eq!(entry["chainId"], CHAIN, "{entry}");
        assert_eq!(entry["actor"], "hq-li", "{entry}");
        assert_eq!(entry["actorRole"], "hq_admin", "{entry}");
    }

    let policy = only(&trail, "assignment.policy.update");
    assert_eq!(policy["service"], "assignment");
    assert_eq!(policy["targetType"], "policy");
    assert_eq!(policy["targetId"], "chain");
    assert_eq!(
        policy["before"]["valueLockThresholdFen"],
        Value::Null,
        "no lock before: {policy}"
    );
    assert_eq!(
        policy["after"]["valueLockThresholdFen"], "50000",
        "{policy}"
    );

    let transfer = only(&trail, "assignment.customer.transfer");
    assert_eq!(transfer["targetId"], customer.as_str());
    assert_eq!(transfer["before"]["managerId"], "m1", "{transfer}");
    assert_eq!(transfer["after"]["managerId"], "m2", "{transfer}");

    let created_tag = only(&trail, "tagging.tag.create");
    assert_eq!(created_tag["targetId"], tag.as_str());
    assert_eq!(created_tag["before"], Value::Null);
    assert_eq!(created_tag["after"]["name"], "audit_vip");
    let activated = only(&trail, "tagging.tag.transition");
    assert_eq!(activated["before"]["lifecycle"], "TAG_LIFECYCLE_DRAFT");
    assert_eq!(activated["after"]["lifecycle"], "TAG_LIFECYCLE_ACTIVE");

    let preset = only(&trail, "notification.automation.install_preset");
    assert_eq!(preset["targetType"], "automation");
    assert_eq!(preset["before"], Value::Null);
    assert_eq!(
        preset["after"]["automationId"],
        "preset.birthday_dessert_greeting"
    );

    let key = only(&trail, "profile.api_key.create");
    assert_eq!(key["targetId"], key_id.as_str());
    assert_eq!(key["after"]["name"], "POS");
    let revoked = only(&trail, "profile.api_key.revoke");
    assert_eq!(revoked["before"]["revokeTime"], Value::Null, "{revoked}");
    assert!(revoked["after"]["revokeTime"].is_string(), "{revoked}");

    let account = only(&trail, "notification.provider_account.put");
    assert_eq!(account["targetId"], "sms");
    assert_eq!(account["before"], Value::Null);
    assert_eq!(account["after"]["kind"], "tencent_sms");
    assert_eq!(account["after"]["secretsSet"], json!(["secret_key"]));
    assert_eq!(
        account["after"]["replacedSecretNames"],
        json!(["secret_key"])
    );

    // Filters: by action (exact and prefix), by target.
    let by_action = admin
        .get("/v1/audit?action=assignment.policy.update")
        .await
        .ok();
    assert_eq!(entries(&by_action).len(), 1, "{by_action}");
    let notification = admin.get("/v1/audit?action=notification.").await.ok();
    assert!(
        entries(&notification)
            .iter()
            .all(|e| e["service"] == "notification")
            && entries(&notification).len() == 2,
        "{notification}"
    );
    let by_target = admin
        .get(&format!("/v1/audit?targetType=api_key&targetId={key_id}"))
        .await
        .ok();
    assert_eq!(entries(&by_target).len(), 2, "{by_target}");

    // Pages of two walk the same trail, each entry once.
    let mut paged = Vec::new();
    let mut token_param = String::new();
    for _ in 0..50 {
        let page = admin
            .get(&format!("/v1/audit?pageSize=2{token_param}"))
            .await
            .ok();
        assert!(entries(&page).len() <= 2, "{page}");
        paged.extend(entries(&page).iter().map(|e| e["id"].clone()));
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token_param = format!("&pageToken={next}"),
            _ => break,
        }
    }
    let all: Vec<Value> = trail.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(paged, all, "paged trail equals the whole trail");
    assert_eq!(
        all.iter()
            .map(Value::to_string)
            .collect::<BTreeSet<_>>()
            .len(),
        all.len(),
        "ids are unique"
    );

    // Bad paging names its parameter.
    let bad = admin.get("/v1/audit?pageSize=0").await;
    assert_eq!(bad.status, 400, "{:?}", bad);
    let bad = admin.get("/v1/audit?pageToken=nonsense").await;
    assert_eq!(bad.status, 400, "{:?}", bad);

    // Staff below HQ are refused; another chain's HQ sees nothing of this chain.
    for role in [Role::StoreManager, Role::FrontDesk] {
        let staff = Rest::new(&url, &token(CHAIN, role, "staff", &[&store]));
        let refused = staff.get("/v1/audit").await;
        assert_eq!(refused.status, 403, "{role:?}: {:?}", refused);
        assert_eq!(refused.body["code"], "PERMISSION_DENIED");
    }
    let other = Rest::new(&url, &token("chain-other", Role::HqAdmin, "hq", &[]));
    let theirs = other.get("/v1/audit").await.ok();
    assert_eq!(entries(&theirs).len(), 0, "{theirs}");
}

maitre_kit::on_both_backends!(changes_are_audited_with_before_and_after);
