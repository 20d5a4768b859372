//! A chain's provider accounts: the rules an account must satisfy before it is stored (HQ admin,
//! `PUT /v1/providers/{channel}`), over the kinds of `provider_kind` (which channels each serves,
//! which settings and secrets each needs). Pure: the secrets' encryption is `storage::secrets`, the
//! provider built from an account `providers::accounts`.

use std::collections::BTreeMap;

use super::channel::Channel;
pub use super::provider_kind::{AccountError, ProviderKind};

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
