//! Identity keys: the identifiers that find one customer across channels.
//!
//! A key has one canonical string form, used as the unique column in storage
//! and in logs: `phone:+8613800138000`, `wechat_unionid:<unionid>`,
//! `wechat_openid:<appid>:<openid>`, `platform:meituan:<user id>`,
//! `member_card:<card no>`. An openid is only unique inside one WeChat app, so
//! the appid is part of the key; a unionid is unique across the chain's apps.
//! This module parses raw channel input into keys; deciding which customer
//! they belong to is [`super::resolution`].

use std::{fmt, str::FromStr};

use super::{
    error::{FieldError, FieldErrors},
    phone::{MaskedPhone, PhoneE164, PhoneInput, parse_phone_input},
};

/// Longest identifier token we accept (unionids are 28 characters, platform
/// user ids and member cards well under 64).
const MAX_TOKEN_CHARS: usize = 128;

/// One identifier that names exactly one person in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKey {
    Phone(PhoneE164),
    WechatUnionid(String),
    WechatOpenid {
        appid: String,
        openid: String,
    },
    /// A delivery platform's user id; `platform` is a lowercase slug
    /// (`meituan`, `eleme`, `douyin`).
    Platform {
        platform: String,
        user_id: String,
    },
    MemberCard(String),
}

impl IdentityKey {
    /// The kind prefix of the canonical form.
    pub fn kind(&self) -> &'static str {
        match self {
            IdentityKey::Phone(_) => "phone",
            IdentityKey::WechatUnionid(_) => "wechat_unionid",
            IdentityKey::WechatOpenid { .. } => "wechat_openid",
            IdentityKey::Platform { .. } => "platform",
            IdentityKey::MemberCard(_) => "member_card",
        }
    }

    /// The canonical string form (same as `Display`).
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            IdentityKey::Phone(phone) => write!(f, "{kind}:{phone}"),
            IdentityKey::WechatUnionid(id) | IdentityKey::MemberCard(id) => {
                write!(f, "{kind}:{id}")
            }
            IdentityKey::WechatOpenid { appid, openid } => write!(f, "{kind}:{appid}:{openid}"),
            IdentityKey::Platform { platform, user_id } => {
                write!(f, "{kind}:{platform}:{user_id}")
            }
        }
    }
}

impl FromStr for IdentityKey {
    type Err = FieldError;

    /// Parses the canonical form back; rejects anything that would not print
    /// back identically, so a stored key never silently changes.
    fn from_str(canonical: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "identity_key";
        let bad = |reason: &str| FieldError::InvalidIdentifier {
            field: FIELD.to_owned(),
            reason: reason.to_owned(),
        };
        let (kind, rest) = canonical
            .split_once(':')
            .ok_or_else(|| bad("expected <kind>:<value>"))?;
        let key = match kind {
            "phone" => IdentityKey::Phone(PhoneE164::from_e164(FIELD, rest)?),
            "wechat_unionid" => IdentityKey::WechatUnionid(token(FIELD, rest)?),
            "member_card" => IdentityKey::MemberCard(token(FIELD, rest)?),
            "wechat_openid" => {
                let (appid, openid) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("expected wechat_openid:<appid>:<openid>"))?;
                IdentityKey::WechatOpenid {
                    appid: token(FIELD, appid)?,
                    openid: token(FIELD, openid)?,
                }
            }
            "platform" => {
                let (platform, user_id) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("expected platform:<platform>:<user id>"))?;
                IdentityKey::Platform {
                    platform: platform_slug(FIELD, platform)?,
                    user_id: token(FIELD, user_id)?,
                }
            }
            _ => return Err(bad("unknown identity kind")),
        };
        if key.to_string() != canonical {
            return Err(bad("not in canonical form"));
        }
        Ok(key)
    }
}

/// Identity fields as a channel sends them; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawIdentity {
    pub phone: Option<String>,
    pub wechat_unionid: Option<String>,
    pub wechat_appid: Option<String>,
    pub wechat_openid: Option<String>,
    pub platform: Option<String>,
    pub platform_user_id: Option<String>,
    pub member_card: Option<String>,
}

/// The keys found in one [`RawIdentity`], plus a masked phone kept as a hint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedIdentity {
    pub keys: Vec<IdentityKey>,
    pub masked_phone_hint: Option<MaskedPhone>,
}

/// Parses every present field, reporting every bad one by its field name
/// under `prefix` (e.g. `identity.phone`). Blank fields count as absent.
pub fn parse_identity(prefix: &str, raw: &RawIdentity) -> Result<ParsedIdentity, FieldErrors> {
    let field = |name: &str| format!("{prefix}.{name}");
    let present = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut parsed = ParsedIdentity::default();
    let mut errors = Vec::new();
    let mut push =
        |result: Result<IdentityKey, FieldError>, keys: &mut Vec<IdentityKey>| match result {
            Ok(key) if !keys.contains(&key) => keys.push(key),
            Ok(_) => {}
            Err(error) => errors.push(error),
        };

    if let Some(phone) = present(&raw.phone) {
        match parse_phone_input(&field("phone"), &phone) {
            Ok(PhoneInput::Full(phone)) => push(Ok(IdentityKey::Phone(phone)), &mut parsed.keys),
            Ok(PhoneInput::Masked(mask)) => parsed.masked_phone_hint = Some(mask),
            Err(error) => push(Err(error), &mut parsed.keys),
        }
    }
    if let Some(unionid) = present(&raw.wechat_unionid) {
        let key = token(&field("wechat_unionid"), &unionid).map(IdentityKey::WechatUnionid);
        push(key, &mut parsed.keys);
    }
    match (present(&raw.wechat_appid), present(&raw.wechat_openid)) {
        (Some(appid), Some(openid)) => {
            let key = token(&field("wechat_appid"), &appid).and_then(|appid| {
                let openid = token(&field("wechat_openid"), &openid)?;
                Ok(IdentityKey::WechatOpenid { appid, openid })
            });
            push(key, &mut parsed.keys);
        }
        (None, Some(_)) => push(
            Err(FieldError::Missing {
                field: field("wechat_appid"),
            }),
            &mut parsed.keys,
        ),
        // An appid alone says which app, not who: nothing to key on.
        (_, None) => {}
    }
    match (present(&raw.platform), present(&raw.platform_user_id)) {
        (Some(platform), Some(user_id)) => {
            let key = platform_slug(&field("platform"), &platform).and_then(|platform| {
                let user_id = token(&field("platform_user_id"), &user_id)?;
                Ok(IdentityKey::Platform { platform, user_id })
            });
            push(key, &mut parsed.keys);
        }
        (None, Some(_)) => push(
            Err(FieldError::Missing {
                field: field("platform"),
            }),
            &mut parsed.keys,
        ),
        (_, None) => {}
    }
    if let Some(card) = present(&raw.member_card) {
        let key = token(&field("member_card"), &card).map(IdentityKey::MemberCard);
        push(key, &mut parsed.keys);
    }

    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(FieldErrors(errors))
    }
}

/// The kind of one key as an API sends it (`IdentityKind` of the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Phone,
    WechatUnionid,
    /// `<appid>:<openid>`, or the openid alone (then the chain's default app).
    WechatOpenid,
    /// `<platform>:<user id>`.
    Platform,
    MemberCard,
    /// A delivery platform's masked phone: a hint, never a key.
    MaskedPhone,
}

/// One key as sent: an identity key, or a masked phone kept as a hint only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInput {
    Key(IdentityKey),
    Hint(MaskedPhone),
}

/// The appid given to an openid sent without one (a chain with one WeChat app).
pub const DEFAULT_WECHAT_APPID: &str = "default";

/// One key as the contract carries it (`IdentityKey{kind, value, app_id}`), with the
/// field path errors name (`event.identity_keys[0]` → `….value`, `….app_id`).
#[derive(Debug, Clone, Copy)]
pub struct KeyText<'a> {
    pub field: &'a str,
    pub kind: KeyKind,
    pub value: &'a str,
    pub app_id: &'a str,
}

/// Parses one typed key; errors name `{field}.value` or `{field}.app_id`.
pub fn parse_key(key: KeyText<'_>) -> Result<KeyInput, FieldError> {
    let value_field = format!("{}.value", key.field);
    let app_field = format!("{}.app_id", key.field);
    let field = value_field.as_str();
    let value = key.value.trim();
    let app_id = key.app_id.trim();
    if value.is_empty() {
        return Err(FieldError::Missing {
            field: field.to_owned(),
        });
    }
    if !app_id.is_empty() && key.kind != KeyKind::WechatOpenid {
        return Err(FieldError::InvalidIdentifier {
            field: app_field,
            reason: "applies to WeChat openids only".to_owned(),
        });
    }
    let key = match key.kind {
        KeyKind::Phone => match parse_phone_input(field, value)? {
            PhoneInput::Full(phone) => IdentityKey::Phone(phone),
            // Masked phones are never an identity on their own (issue 3).
            PhoneInput::Masked(mask) => return Ok(KeyInput::Hint(mask)),
        },
        KeyKind::MaskedPhone => {
            return match parse_phone_input(field, value)? {
                PhoneInput::Masked(mask) => Ok(KeyInput::Hint(mask)),
                PhoneInput::Full(_) => Err(FieldError::InvalidPhone {
                    field: field.to_owned(),
                    reason: "a masked phone must hide digits with '*'".to_owned(),
                }),
            };
        }
        KeyKind::WechatUnionid => IdentityKey::WechatUnionid(token(field, value)?),
        KeyKind::MemberCard => IdentityKey::MemberCard(token(field, value)?),
        KeyKind::WechatOpenid if !app_id.is_empty() => IdentityKey::WechatOpenid {
            appid: wechat_app(&app_field, app_id)?,
            // With its app in `app_id`, `value` is the openid alone (`:` is refused).
            openid: token(field, value)?,
        },
        KeyKind::WechatOpenid => match value.split_once(':') {
            // The older combined form `<appid>:<openid>`: the same key as the two fields
            // (`default:<openid>`, the old read-back of a lone openid, names the default app).
            Some((appid, openid)) => IdentityKey::WechatOpenid {
                appid: token(field, appid)?,
                openid: token(field, openid)?,
            },
            None => IdentityKey::WechatOpenid {
                appid: DEFAULT_WECHAT_APPID.to_owned(),
                openid: token(field, value)?,
            },
        },
        KeyKind::Platform => {
            let (platform, user_id) =
                value
                    .split_once(':')
                    .ok_or_else(|| FieldError::InvalidIdentifier {
                        field: field.to_owned(),
                        reason: "expected <platform>:<user id>".to_owned(),
                    })?;
            IdentityKey::Platform {
                platform: platform_slug(field, platform)?,
                user_id: token(field, user_id)?,
            }
        }
    };
    Ok(KeyInput::Key(key))
}

/// A WeChat app id as a caller names it; the reserved name of the default app is refused,
/// so `app_id: "default"` can never read back as an openid without an app.
fn wechat_app(field: &str, app_id: &str) -> Result<String, FieldError> {
    if app_id == DEFAULT_WECHAT_APPID {
        return Err(FieldError::InvalidIdentifier {
            field: field.to_owned(),
            reason: "'default' is reserved: leave app_id empty for the chain's default app"
                .to_owned(),
        });
    }
    token(field, app_id)
}

/// A key in the contract's terms (inverse of [`parse_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    pub kind: KeyKind,
    pub value: String,
    /// The WeChat app of an openid; empty for the default app and every other kind.
    pub app_id: String,
}

impl IdentityKey {
    /// The contract's kind, value and app id of this key: an openid reads back alone in
    /// `value`, its app (if not the chain's default) in `app_id`.
    pub fn parts(&self) -> KeyParts {
        let plain = |kind, value: &str| KeyParts {
            kind,
            value: value.to_owned(),
            app_id: String::new(),
        };
        match self {
            IdentityKey::Phone(phone) => plain(KeyKind::Phone, phone.as_str()),
            IdentityKey::WechatUnionid(id) => plain(KeyKind::WechatUnionid, id),
            IdentityKey::WechatOpenid { appid, openid } => KeyParts {
                kind: KeyKind::WechatOpenid,
                value: openid.clone(),
                app_id: if appid == DEFAULT_WECHAT_APPID {
                    String::new()
                } else {
                    appid.clone()
                },
            },
            IdentityKey::Platform { platform, user_id } => {
                plain(KeyKind::Platform, &format!("{platform}:{user_id}"))
            }
            IdentityKey::MemberCard(card) => plain(KeyKind::MemberCard, card),
        }
    }
}

/// An opaque identifier token: printable ASCII without spaces or `:` (the
/// canonical form's separator), at most [`MAX_TOKEN_CHARS`].
fn token(field: &str, value: &str) -> Result<String, FieldError> {
    let bad = |reason: &str| FieldError::InvalidIdentifier {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    if value.is_empty() {
        return Err(FieldError::Missing {
            field: field.to_owned(),
        });
    }
    if value.chars().count() > MAX_TOKEN_CHARS {
        return Err(bad("too long"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic() && c != ':') {
        return Err(bad("only printable ASCII without ':' is allowed"));
    }
    Ok(value.to_owned())
}

/// A platform name folded to a lowercase slug (`Meituan` → `meituan`).
fn platform_slug(field: &str, value: &str) -> Result<String, FieldError> {
    let slug = value.trim().to_ascii_lowercase();
    let valid = !slug.is_empty()
        && slug.len() <= 32
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(FieldError::InvalidIdentifier {
            field: field.to_owned(),
            reason: "platform must be letters, digits or '_' (at most 32)".to_owned(),
        });
    }
    Ok(slug)
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
