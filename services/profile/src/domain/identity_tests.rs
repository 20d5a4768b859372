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

fn parse(kind: KeyKind, value: &str, app_id: &str) -> Result<KeyInput, FieldError> {
    parse_key(KeyText {
        field: "k",
        kind,
        value,
        app_id,
    })
}

fn key_of(input: Result<KeyInput, FieldError>) -> IdentityKey {
    match input.unwrap() {
        KeyInput::Key(key) => key,
        KeyInput::Hint(_) => panic!("a key, not a hint"),
    }
}

#[test]
fn typed_keys_parse_and_round_trip() {
    let phone = parse(KeyKind::Phone, "8613800138000", "").unwrap();
    assert_eq!(
        phone,
        KeyInput::Key("phone:+8613800138000".parse().unwrap())
    );
    let alone = key_of(parse(KeyKind::WechatOpenid, "oP9", ""));
    assert_eq!(alone.canonical(), "wechat_openid:default:oP9");
    let parts = alone.parts();
    assert_eq!(
        (parts.value.as_str(), parts.app_id.as_str()),
        ("oP9", ""),
        "an openid given alone reads back alone"
    );
    assert_eq!(
        key_of(parse(parts.kind, &parts.value, &parts.app_id)),
        alone
    );

    let with_app = key_of(parse(KeyKind::WechatOpenid, "oP9", "wx1"));
    assert_eq!(with_app.canonical(), "wechat_openid:wx1:oP9");
    assert_ne!(with_app, alone, "an openid is matched with its app");
    let parts = with_app.parts();
    assert_eq!(
        (parts.value.as_str(), parts.app_id.as_str()),
        ("oP9", "wx1"),
        "the app id reads back in its own field"
    );
    assert_eq!(
        key_of(parse(parts.kind, &parts.value, &parts.app_id)),
        with_app
    );
    assert_eq!(
        key_of(parse(KeyKind::WechatOpenid, "wx1:oP9", "")),
        with_app,
        "the older combined form names the same key"
    );
    assert_eq!(
        parse(KeyKind::WechatOpenid, "wx1:oP9", "wx1")
            .unwrap_err()
            .field(),
        "k.value",
        "with app_id set, the value is the openid alone"
    );
    assert_eq!(
        parse(KeyKind::WechatOpenid, "oP9", "default")
            .unwrap_err()
            .field(),
        "k.app_id"
    );
    assert_eq!(
        parse(KeyKind::Phone, "13800138000", "wx1")
            .unwrap_err()
            .field(),
        "k.app_id",
        "an app id belongs to openids only"
    );
    assert!(matches!(
        parse(KeyKind::Phone, "138****8000", "").unwrap(),
        KeyInput::Hint(_)
    ));
    assert_eq!(
        parse(KeyKind::Platform, "meituan", "").unwrap_err().field(),
        "k.value"
    );
    assert!(parse(KeyKind::MemberCard, "  ", "").is_err());
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
