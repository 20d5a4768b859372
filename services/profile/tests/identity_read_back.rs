//! Identity keys read back as they were given (issue 20, item 11): a WeChat openid sent
//! alone comes back alone, not as `default:<openid>`; one sent with its app keeps it.

mod common;

use common::*;
use maitre_kit::on_both_backends;
use maitre_kit::testing::Backend;
use maitre_proto::common::v1::IdentityKind;

async fn openids_read_back_as_given(backend: Backend) {
    let h = Harness::start(backend).await;
    let recorded = h
        .record(visit(
            "k1",
            vec![
                phone("13800138000"),
                key(IdentityKind::WechatOpenid, "o123"),
                key(IdentityKind::WechatOpenid, "wx9:o456"),
            ],
            0,
        ))
        .await
        .expect("recorded");
    let customer = recorded.customer.expect("customer");
    let again = h.get(&customer.customer_id, &hq()).await.expect("customer");
    for read in [&customer, &again] {
        let openids: Vec<&str> = read
            .identity_keys
            .iter()
            .filter(|k| k.kind == IdentityKind::WechatOpenid as i32)
            .map(|k| k.value.as_str())
            .collect();
        assert_eq!(openids.len(), 2, "{openids:?}");
        assert!(openids.contains(&"o123"), "{openids:?}");
        assert!(openids.contains(&"wx9:o456"), "{openids:?}");
    }
}

on_both_backends!(openids_read_back_as_given);
