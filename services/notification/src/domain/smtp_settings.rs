//! An SMTP account's settings (`smtp` provider kind): how the connection is secured and what
//! the settings must hold before the account is stored. Pure; the sending is
//! `providers::smtp_email`.

use std::collections::BTreeMap;

use super::provider_kind::AccountError;

fn refuse(field: &str, message: &str) -> AccountError {
    AccountError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// How an SMTP account's connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), the submission port 587.
    Starttls,
    /// TLS from the first byte, port 465.
    Implicit,
    /// No TLS: local test servers only, refused in production.
    None,
}

impl SmtpTls {
    /// The `tls` setting, defaulting by port: implicit TLS on 465, STARTTLS elsewhere.
    pub fn of(settings: &BTreeMap<String, String>, port: u16) -> Option<SmtpTls> {
        match settings.get("tls").map(String::as_str) {
            None | Some("") => Some(if port == 465 {
                SmtpTls::Implicit
            } else {
                SmtpTls::Starttls
            }),
            Some("starttls") => Some(SmtpTls::Starttls),
            Some("implicit") => Some(SmtpTls::Implicit),
            Some("none") => Some(SmtpTls::None),
            Some(_) => None,
        }
    }
}

/// Checks an SMTP account's settings: a port, a known `tls` (never `none` in production), a
/// `from` address.
pub fn validate(settings: &BTreeMap<String, String>, production: bool) -> Result<(), AccountError> {
    let port = settings
        .get("port")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| refuse("settings.port", "must be a port number (587, 465, …)"))?;
    match SmtpTls::of(settings, port) {
        None => Err(refuse("settings.tls", "one of starttls, implicit, none")),
        Some(SmtpTls::None) if production => Err(refuse(
            "settings.tls",
            "`none` (no TLS) is refused in production (MAITRE_ENV=production)",
        )),
        Some(_) => {
            let from = settings.get("from").map(String::as_str).unwrap_or_default();
            // `name <address>` or a bare address with one `@`.
            let address = from
                .rsplit_once('<')
                .map_or(from, |(_, rest)| rest.trim_end_matches('>'))
                .trim();
            match address.split_once('@') {
                Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(()),
                _ => Err(refuse("settings.from", "must be an e-mail address")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channel::Channel;
    use crate::domain::provider_account::{ProposedAccount, ProviderKind, validate as account};

    fn field(result: Result<(), AccountError>) -> String {
        result.expect_err("refused").field
    }

    fn smtp(port: &str, tls: Option<&str>) -> ProposedAccount {
        let mut settings: BTreeMap<String, String> = [
            ("host", "smtp.example.com"),
            ("port", port),
            ("username", "crm@example.com"),
            ("from", "海港酒家 <crm@example.com>"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(tls) = tls {
            settings.insert("tls".into(), tls.into());
        }
        ProposedAccount {
            channel: Channel::Email,
            kind: ProviderKind::Smtp,
            settings,
            secret_names: vec!["password".into()],
        }
    }

    #[test]
    fn smtp_defaults_tls_by_port_and_refuses_plain_in_production() {
        assert_eq!(account(&smtp("587", None), &["password"], true), Ok(()));
        assert_eq!(account(&smtp("465", None), &["password"], true), Ok(()));
        let port = |p: &str| p.parse::<u16>().expect("port");
        assert_eq!(
            SmtpTls::of(&smtp("465", None).settings, port("465")),
            Some(SmtpTls::Implicit)
        );
        assert_eq!(
            SmtpTls::of(&smtp("587", None).settings, port("587")),
            Some(SmtpTls::Starttls)
        );
        assert_eq!(
            field(account(&smtp("25", Some("none")), &[], true)),
            "settings.tls"
        );
        assert_eq!(account(&smtp("25", Some("none")), &[], false), Ok(()));
        assert_eq!(
            field(account(&smtp("25", Some("ssl")), &[], false)),
            "settings.tls"
        );
        assert_eq!(
            field(account(&smtp("smtp", None), &[], false)),
            "settings.port"
        );
        let mut no_from = smtp("587", None);
        no_from.settings.insert("from".into(), "crm".into());
        assert_eq!(field(account(&no_from, &[], false)), "settings.from");
    }
}
