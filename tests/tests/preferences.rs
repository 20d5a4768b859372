//! A guest's preferences through the gateway (issue 19 item 8): answered only for guests of the
//! caller's chain. Notification knows a guest from profile's stream, or asks profile; a customer id
//! that does not exist in the chain is 404 NOT_FOUND, never an empty 200.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::json;

async fn preferences_answer_only_for_the_chains_guests(backend: Backend) {
    let system = System::start(backend).await;
    let admin = Rest::new(
        &system.gateway.url,
        &token("chain-prefs", Role::HqAdmin, "hq", &[]),
    );
    let other_chain = Rest::new(
        &system.gateway.url,
        &token("chain-other", Role::HqAdmin, "hq", &[]),
    );
    let guest = admin
        .post(
            "/v1/customers",
            json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": "13800138077"}],
                   "profile": {"name": "李女士"}}),
        )
        .await
        .ok()["customer"]["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    let opt_in = |customer: &str| {
        json!({"preferences": {"customerId": customer, "marketingOptIn": ["MESSAGE_CHANNEL_SMS"]},
               "updateMask": "marketingOptIn"})
    };
    let path = |customer: &str| format!("/v1/customers/{customer}/preferences");

    // The chain's guest: known at once, whether or not notification has consumed her yet.
    admin.patch(&path(&guest), opt_in(&guest)).await.ok();
    let stored = admin.get(&path(&guest)).await.ok();
    assert_eq!(
        stored["preferences"]["marketingOptIn"],
        json!(["MESSAGE_CHANNEL_SMS"])
    );

    // Nobody, and another chain's guest: 404 NOT_FOUND, and nothing written.
    for (caller, customer) in [(&admin, "no-such-guest"), (&other_chain, guest.as_str())] {
        let read = caller.get(&path(customer)).await;
        assert_eq!(read.status, 404, "{read:?}");
        assert_eq!(read.body["code"], "NOT_FOUND", "{read:?}");
        let written = caller.patch(&path(customer), opt_in(customer)).await;
        assert_eq!(written.status, 404, "{written:?}");
    }
}

on_both_backends!(preferences_answer_only_for_the_chains_guests);
