//! Identity keys read back as they were given (issue 20, item 11): a WeChat openid sent
//! alone comes back alone, not as `default:<openid>`; one sent with its app comes back
//! with the app in its own field (`app_id`), and an openid is matched on (app_id, openid).

mod common;

use common::*;
use maitre_kit::on_both_backends;
use maitre_kit::testing::Backend;
use maitre_proto::common::v1::{IdentityKey, IdentityKind};
use maitre_proto::profile::v1 as pb;

fn openid(app_id: &str, value: &str) -> IdentityKey {
    IdentityKey {
        kind: IdentityKind::WechatOpenid as i32,
        value: value.into(),
        app_id: app_id.into(),
    }
}

async fn lookup(h: &Harness, key: IdentityKey) -> Result<pb::Customer, tonic::Status> {
    h.api()
        .lookup_customer(req(
            pb::LookupCustomerRequest {
                identity_key: Some(key),
            },
            &hq(),
        ))
        .await
        .map(|r| r.into_inner().customer.expect("customer"))
}

async fn openids_read_back_as_given(backend: Backend) {
    let h = Harness::start(backend).await;
    let recorded = h
        .record(visit(
            "k1",
            vec![
                phone("13800138000"),
                openid("", "o123"),
                openid("wx9", "o456"),
            ],
            0,
        ))
        .await
        .expect("recorded");
    let customer = recorded.customer.expect("customer");
    let again = h.get(&customer.customer_id, &hq()).await.expect("customer");
    for read in [&customer, &again] {
        let mut openids: Vec<(&str, &str)> = read
            .identity_keys
            .iter()
            .filter(|k| k.kind == IdentityKind::WechatOpenid as i32)
            .map(|k| (k.app_id.as_str(), k.value.as_str()))
            .collect();
        openids.sort();
        assert_eq!(openids, [("", "o123"), ("wx9", "o456")]);
        assert!(
            read.identity_keys
                .iter()
                .filter(|k| k.kind != IdentityKind::WechatOpenid as i32)
                .all(|k| k.app_id.is_empty()),
            "only openids carry an app id: {:?}",
            read.identity_keys
        );
    }

    // Matched on (app_id, openid): the same openid in another app is somebody else.
    let found = lookup(&h, openid("wx9", "o456")).await.expect("found");
    assert_eq!(found.customer_id, customer.customer_id);
    let older_form = lookup(&h, openid("", "wx9:o456")).await.expect("found");
    assert_eq!(older_form.customer_id, customer.customer_id);
    let other_app = lookup(&h, openid("wx7", "o456")).await.unwrap_err();
    assert_eq!(other_app.code(), tonic::Code::NotFound, "{other_app:?}");
    let default_app = lookup(&h, openid("", "o456")).await.unwrap_err();
    assert_eq!(default_app.code(), tonic::Code::NotFound, "{default_app:?}");

    let other = h
        .record(visit(
            "k2",
            vec![phone("13900139000"), openid("wx7", "o456")],
            0,
        ))
        .await
        .expect("recorded")
        .customer
        .expect("customer");
    assert_ne!(
        other.customer_id, customer.customer_id,
        "one openid in two apps names two people"
    );

    // Bad input names the field and changes nothing.
    let before = h.customer_count().await;
    for (key, field) in [
        (openid("wx9", "wx9:o1"), "identity_keys[0].value"),
        (openid("default", "o1"), "identity_keys[0].app_id"),
        (
            IdentityKey {
                kind: IdentityKind::MemberCard as i32,
                value: "c1".into(),
                app_id: "wx9".into(),
            },
            "identity_keys[0].app_id",
        ),
    ] {
        let refused = h
            .record(visit("bad", vec![key], 0))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(field), "{refused:?}");
    }
    assert_eq!(h.customer_count().await, before);
}

on_both_backends!(openids_read_back_as_given);
