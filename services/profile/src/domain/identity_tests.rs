use proptest::prelude::*;

use super::*;

fn raw_phone(phone: &str) -> RawIdentity {
    RawIdentity {
        phone: Some(phone.into()),
        ..RawIdentity::default()
    }
}

#[test]
fn canonical_forms() {
    let raw = RawIdentity {
        phone: Some("138 0013 8000".into()),
        wechat_unionid: Some("oU1".into()),
        wechat_appid: Some("wx42".into()),
        wechat_openid: Some("oP9".into()),
        platform: Some("Meituan".into()),
        platform_user_id: Some("123".into()),
        member_card: Some("VIP-0001".into()),
    };
    let keys: Vec<String> = parse_identity("identity", &raw)
        .unwrap()
        .keys
        .iter()
        .map(IdentityKey::canonical)
        .collect();
    assert_eq!(
        keys,
        [
            "phone:+8613800138000",
            "wechat_unionid:oU1",
            "wechat_openid:wx42:oP9",
            "platform:meituan:123",
            "member_card:VIP-0001",
        ]
    );
    for key in &keys {
        assert_eq!(&key.parse::<IdentityKey>().unwrap().canonical(), key);
    }
}

#[test]
fn spellings_of_one_phone_give_one_key() {
    let a = parse_identity("id", &raw_phone("+86 13800138000")).unwrap();
    let b = parse_identity("id", &raw_phone("8613800138000")).unwrap();
    assert_eq!(a.keys, b.keys);
    assert_eq!(a.keys.len(), 1);
}

#[test]
fn masked_phone_becomes_a_hint_not_a_key() {
    let parsed = parse_identity("id", &raw_phone("138****8000")).unwrap();
    assert!(parsed.keys.is_empty());
    assert_eq!(parsed.masked_phone_hint.unwrap().as_str(), "138****8000");
}

#[test]
fn every_bad_field_is_named() {
    let raw = RawIdentity {
        phone: Some("12".into()),
        wechat_openid: Some("oP9".into()),
        platform_user_id: Some("7".into()),
        member_card: Some("has space".into()),
        ..RawIdentity::default()
    };
    let errors = parse_identity("visit.identity", &raw).unwrap_err();
    assert_eq!(
        errors.fields(),
        [
            "visit.identity.phone",
            "visit.identity.wechat_appid",
            "visit.identity.platform",
            "visit.identity.member_card",
        ]
    );
}

#[test]
fn typed_keys_parse_and_round_trip() {
    let phone = parse_key("k", KeyKind::Phone, "8613800138000").unwrap();
    assert_eq!(
        phone,
        KeyInput::Key("phone:+8613800138000".parse().unwrap())
    );
    let openid = parse_key("k", KeyKind::WechatOpenid, "oP9").unwrap();
    let KeyInput::Key(key) = openid else {
        panic!("openid is a key")
    };
    assert_eq!(key.canonical(), "wechat_openid:default:oP9");
    let (kind, value) = key.kind_and_value();
    assert_eq!(value, "oP9", "an openid given alone reads back alone");
    assert_eq!(parse_key("k", kind, &value).unwrap(), KeyInput::Key(key));
    let KeyInput::Key(with_app) = parse_key("k", KeyKind::WechatOpenid, "wx1:oP9").unwrap() else {
        panic!("openid is a key")
    };
    let (kind, value) = with_app.kind_and_value();
    assert_eq!(
        value, "wx1:oP9",
        "an openid given with its app reads back with it"
    );
    assert_eq!(
        parse_key("k", kind, &value).unwrap(),
        KeyInput::Key(with_app)
    );
    assert!(matches!(
        parse_key("k", KeyKind::Phone, "138****8000").unwrap(),
        KeyInput::Hint(_)
    ));
    assert_eq!(
        parse_key("k", KeyKind::Platform, "meituan")
            .unwrap_err()
            .field(),
        "k"
    );
    assert_eq!(
        parse_key("event.identity_keys[0].value", KeyKind::Phone, "12")
            .unwrap_err()
            .field(),
        "event.identity_keys[0].value"
    );
    assert!(parse_key("k", KeyKind::MemberCard, "  ").is_err());
}

#[test]
fn non_canonical_strings_are_rejected() {
    for bad in [
        "phone:13800138000",
        "platform:Meituan:1",
        "wechat_openid:only",
        "email:a@b",
        "member_card:",
        "nokind",
    ] {
        assert!(bad.parse::<IdentityKey>().is_err(), "{bad}");
    }
}

proptest! {
    #[test]
    fn canonical_parse_never_panics(raw in "\\PC{0,80}") {
        if let Ok(key) = raw.parse::<IdentityKey>() {
            prop_assert_eq!(key.canonical(), raw);
        }
    }

    #[test]
    fn token_keys_round_trip(
        platform in "[a-z][a-z0-9_]{0,10}", user in "[!-9;-~]{1,40}"
    ) {
        let key = IdentityKey::Platform { platform, user_id: user };
        prop_assert_eq!(key.canonical().parse::<IdentityKey>(), Ok(key));
    }
}
