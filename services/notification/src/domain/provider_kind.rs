//! The provider kinds a chain can configure (which channels each serves, which settings and
//! secrets each needs) and why an account is refused: below `provider_account` (the account
//! rules), `provider_limits` and `smtp_settings`, which all name them. Pure.

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
pub(super) struct Needs {
    pub(super) settings: &'static [&'static str],
    pub(super) optional_settings: &'static [&'static str],
    pub(super) secrets: &'static [&'static str],
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

    pub(super) fn needs(self) -> Needs {
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

/// Why an account is refused: the request field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AccountError {
    pub field: String,
    pub message: String,
}
