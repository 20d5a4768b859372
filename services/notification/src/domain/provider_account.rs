//! A chain's provider accounts: which provider kind serves a channel, which settings and secrets
//! each kind needs, and the rules an account must satisfy before it is stored (HQ admin,
//! `PUT /v1/providers/{channel}`). Pure: the secrets' encryption is `storage::secrets`, the
//! provider built from an account `providers::accounts`.

use std::collections::BTreeMap;

use super::channel::Channel;

/// A provider a chain can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Tencent Cloud SMS (`providers::tencent_sms`).
    TencentSms,
    /// Alibaba Cloud SMS (`providers::aliyun_sms`).
    AliyunSms,
    /// WeCom application messages to staff (`providers::wecom`).
    Wecom,
    /// The signed webhook (`providers::webhook`).
    Webhook,
    /// WeChat Official Account template messages to guests (`providers::wechat`).
    WechatOfficialAccount,
    /// WeChat Mini Program subscribe messages to guests (`providers::wechat`).
    WechatMiniProgram,
    /// Guests who are a manager's WeCom external contact, through the manager
    /// (`providers::wecom_external`).
    WecomExternalContact,
    /// E-mail over SMTP (`providers::smtp_email`).
    Smtp,
    /// The log provider (development only: refused for guest channels in production).
    Log,
}

/// What a kind needs: `(settings, secrets)` by name.
struct Needs {
    settings: &'static [&'static str],
    optional_settings: &'static [&'static str],
    secrets: &'static [&'static str],
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 9] = [
        ProviderKind::TencentSms,
        ProviderKind::AliyunSms,
        ProviderKind::Wecom,
        ProviderKind::Webhook,
        ProviderKind::WechatOfficialAccount,
        ProviderKind::WechatMiniProgram,
        ProviderKind::WecomExternalContact,
        ProviderKind::Smtp,
        ProviderKind::Log,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::TencentSms => "tencent_sms",
            ProviderKind::AliyunSms => "aliyun_sms",
            ProviderKind::Wecom => "wecom",
            ProviderKind::Webhook => "webhook",
            ProviderKind::WechatOfficialAccount => "wechat_official_account",
            ProviderKind::WechatMiniProgram => "wechat_mini_program",
            ProviderKind::WecomExternalContact => "wecom_external_contact",
            ProviderKind::Smtp => "smtp",
            ProviderKind::Log => "log",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The channels the kind can carry.
    pub fn serves(self, channel: Channel) -> bool {
        match self {
            ProviderKind::TencentSms | ProviderKind::AliyunSms => channel == Channel::Sms,
            ProviderKind::Wecom => channel == Channel::StaffInbox,
            ProviderKind::WechatOfficialAccount
            | ProviderKind::WechatMiniProgram
            | ProviderKind::WecomExternalContact => channel == Channel::Wechat,
            ProviderKind::Smtp => channel == Channel::Email,
            ProviderKind::Webhook | ProviderKind::Log => true,
        }
    }

    /// Whether the provider sends only pre-approved templates: a template on its channel must
    /// name the provider's template.
    pub fn needs_template_binding(self) -> bool {
        matches!(
            self,
            ProviderKind::TencentSms
                | ProviderKind::AliyunSms
                | ProviderKind::WechatOfficialAccount
                | ProviderKind::WechatMiniProgram
        )
    }

    /// Whether a template also needs an approved sign name (here or in the account): SMS only.
    pub fn needs_sign_name(self) -> bool {
        matches!(self, ProviderKind::TencentSms | ProviderKind::AliyunSms)
    }

    /// The most parameters one of the provider's templates takes, when it documents a bound.
    /// WeChat: a template message / subscribe message template has at most 5 keywords
    /// (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>,
    /// <https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html>).
    pub fn max_template_parameters(self) -> Option<usize> {
        match self {
            ProviderKind::WechatOfficialAccount | ProviderKind::WechatMiniProgram => Some(5),
            _ => None,
        }
    }

    fn needs(self) -> Needs {
        match self {
            // SendSms 2021-01-11: https://cloud.tencent.com/document/api/382/55981
            ProviderKind::TencentSms => Needs {
                settings: &["secret_id", "region", "sdk_app_id"],
                optional_settings: &["sign_name"],
                secrets: &["secret_key"],
            },
            // SendSms 2017-05-25: https://help.aliyun.com/document_detail/419273.html
            ProviderKind::AliyunSms => Needs {
                settings: &["access_key_id"],
                optional_settings: &["sign_name"],
                secrets: &["access_key_secret"],
            },
            // message/send: https://developer.work.weixin.qq.com/document/path/90236
            ProviderKind::Wecom => Needs {
                settings: &["corp_id", "agent_id"],
                optional_settings: &[],
                secrets: &["corp_secret"],
            },
            ProviderKind::Webhook => Needs {
                settings: &["url"],
                optional_settings: &[],
                secrets: &["signing_secret"],
            },
            // template/send: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
            ProviderKind::WechatOfficialAccount => Needs {
                settings: &["appid"],
                optional_settings: &["url", "miniprogram_appid", "miniprogram_pagepath"],
                secrets: &["app_secret"],
            },
            // subscribe/send: https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
            ProviderKind::WechatMiniProgram => Needs {
                settings: &["appid"],
                optional_settings: &["page", "miniprogram_state"],
                secrets: &["app_secret"],
            },
            // add_msg_template: https://developer.work.weixin.qq.com/document/path/92135 (the
            // customer-contact secret, not an app's)
            ProviderKind::WecomExternalContact => Needs {
                settings: &["corp_id"],
                optional_settings: &[],
                secrets: &["contact_secret"],
            },
            ProviderKind::Smtp => Needs {
                settings: &["host", "port", "username", "from"],
                optional_settings: &["tls"],
                secrets: &["password"],
            },
            ProviderKind::Log => Needs {
                settings: &[],
                optional_settings: &[],
                secrets: &[],
            },
        }
    }
}

/// An account as an admin proposes it (secrets in clear, before encryption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedAccount {
    pub channel: Channel,
    pub kind: ProviderKind,
    pub settings: BTreeMap<String, String>,
    /// The secrets after the change: the given ones, and the stored ones of the same kind that
    /// were not given again.
    pub secret_names: Vec<String>,
}

/// Why an account is refused: the request field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AccountError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> AccountError {
    AccountError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses the kind of a request.
pub fn parse_kind(value: &str) -> Result<ProviderKind, AccountError> {
    ProviderKind::parse(value).ok_or_else(|| {
        let known: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        refuse(
            "kind",
            format!("unknown provider `{value}`; one of {known:?}"),
        )
    })
}

/// Checks a proposed account: the kind serves the channel, every needed setting and secret is
/// there, no unknown setting or secret is given, and production never sends guests' messages to
/// the log provider.
pub fn validate(
    proposed: &ProposedAccount,
    given_secrets: &[&str],
    production: bool,
) -> Result<(), AccountError> {
    let kind = proposed.kind;
    if !kind.serves(proposed.channel) {
        return Err(refuse(
            "kind",
            format!(
                "`{}` cannot carry the `{}` channel",
                kind.as_str(),
                proposed.channel
            ),
        ));
    }
    if production && kind == ProviderKind::Log && proposed.channel.reaches_customer() {
        return Err(refuse(
            "kind",
            "the log provider is refused for guest channels in production (MAITRE_ENV=production)",
        ));
    }
    let needs = kind.needs();
    for name in needs.settings {
        if proposed
            .settings
            .get(*name)
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(refuse(format!("settings.{name}"), "is required"));
        }
    }
    for (name, value) in &proposed.settings {
        // Every account may set its limits (`provider_limits`).
        if super::provider_limits::SETTINGS.contains(&name.as_str()) {
            super::provider_limits::validate_setting(value)
                .map_err(|reason| refuse(format!("settings.{name}"), reason))?;
            continue;
        }
        if !needs.settings.contains(&name.as_str())
            && !needs.optional_settings.contains(&name.as_str())
        {
            return Err(refuse(
                format!("settings.{name}"),
                format!("is not a setting of `{}`", kind.as_str()),
            ));
        }
    }
    for name in given_secrets {
        // Every account may carry the token its provider's callbacks are verified with.
        if *name == super::provider_callbacks::CALLBACK_TOKEN {
            continue;
        }
        if !needs.secrets.contains(name) {
            return Err(refuse(
                format!("secrets.{name}"),
                format!("is not a secret of `{}`", kind.as_str()),
            ));
        }
    }
    for name in needs.secrets {
        if !proposed.secret_names.iter().any(|n| n == name) {
            return Err(refuse(format!("secrets.{name}"), "is required"));
        }
    }
    if kind == ProviderKind::Wecom
        && proposed
            .settings
            .get("agent_id")
            .is_some_and(|v| v.parse::<i64>().is_err())
    {
        return Err(refuse("settings.agent_id", "must be a number"));
    }
    if kind == ProviderKind::Webhook
        && proposed
            .settings
            .get("url")
            .is_some_and(|v| !(v.starts_with("https://") || v.starts_with("http://")))
    {
        return Err(refuse("settings.url", "must be an http(s) URL"));
    }
    if kind == ProviderKind::Smtp {
        super::smtp_settings::validate(&proposed.settings, production)?;
    }
    if kind == ProviderKind::WechatMiniProgram
        && let Some(state) = proposed.settings.get("miniprogram_state")
        && !matches!(state.as_str(), "formal" | "trial" | "developer")
    {
        return Err(refuse(
            "settings.miniprogram_state",
            "one of formal, trial, developer",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's list of kinds (kit's `FIELD_RULES`, stated in /openapi.json and checked
    /// at the edge) is the list this module parses: a kind added here and not there is
    /// refused before it arrives.
    #[test]
    fn the_contract_lists_every_kind() {
        let listed: Vec<&str> = maitre_kit::request_bounds::FIELD_RULES
            .iter()
            .filter(|(field, _)| *field == "maitre.notification.v1.PutProviderAccountRequest.kind")
            .find_map(|(_, rule)| match rule {
                maitre_kit::request_bounds::Rule::OneOf(values) => Some(values.to_vec()),
                _ => None,
            })
            .expect("the contract lists the kinds");
        let mut ours: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        let mut theirs = listed.clone();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
    }

    fn tencent() -> ProposedAccount {
        ProposedAccount {
            channel: Channel::Sms,
            kind: ProviderKind::TencentSms,
            settings: [
                ("secret_id", "AKID1"),
                ("region", "ap-guangzhou"),
                ("sdk_app_id", "1400006666"),
                ("sign_name", "海港酒家"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            secret_names: vec!["secret_key".into()],
        }
    }

    fn field(result: Result<(), AccountError>) -> String {
        result.expect_err("refused").field
    }

    #[test]
    fn a_complete_account_passes() {
        assert_eq!(validate(&tencent(), &["secret_key"], true), Ok(()));
    }

    #[test]
    fn each_missing_or_unknown_part_is_named() {
        let mut missing = tencent();
        missing.settings.remove("region");
        assert_eq!(field(validate(&missing, &[], false)), "settings.region");
        let mut no_secret = tencent();
        no_secret.secret_names.clear();
        assert_eq!(
            field(validate(&no_secret, &[], false)),
            "secrets.secret_key"
        );
        let mut unknown = tencent();
        unknown.settings.insert("endpoint".into(), "x".into());
        assert_eq!(field(validate(&unknown, &[], false)), "settings.endpoint");
        assert_eq!(
            field(validate(&tencent(), &["password"], false)),
            "secrets.password"
        );
        let mut wrong_channel = tencent();
        wrong_channel.channel = Channel::Email;
        assert_eq!(field(validate(&wrong_channel, &[], false)), "kind");
    }

    #[test]
    fn production_refuses_the_log_provider_for_guests_only() {
        let log = |channel| ProposedAccount {
            channel,
            kind: ProviderKind::Log,
            settings: BTreeMap::new(),
            secret_names: Vec::new(),
        };
        assert_eq!(field(validate(&log(Channel::Sms), &[], true)), "kind");
        assert_eq!(validate(&log(Channel::Sms), &[], false), Ok(()));
        assert_eq!(validate(&log(Channel::StaffInbox), &[], true), Ok(()));
    }
}
