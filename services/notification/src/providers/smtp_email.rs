//! E-mail to guests over SMTP with a chain's own mail account (host, port, username, password
//! secret, from address), through lettre's async SMTP transport (tokio, rustls with the ring
//! provider the workspace links, the platform's certificate verifier).
//!
//! Follows RFC 6409 (message submission: port 587 with STARTTLS required, `tls = starttls`),
//! RFC 8314 (implicit TLS on port 465, `tls = implicit`) and RFC 4954 (AUTH). `tls = none` — a
//! plain connection — exists for local test servers only and is refused in production when the
//! account is saved (`domain::provider_account`). The message id travels as the `Message-ID`
//! header, so a repeated send shows as the same message in the guest's mailbox. SMTP has no
//! query for a message handed earlier: `reconcile` stays `Unknown` (held for review).
//!
//! Errors: a 5xx answer (bad recipient, rejected content, failed auth) is permanent; 4xx,
//! timeouts and connection failures are transient.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{OutboundMessage, Provider, ProviderError};
use crate::domain::smtp_settings::SmtpTls;

/// One chain's mail account.
#[derive(Clone)]
pub struct SmtpAccount {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: String,
    /// `海港酒家 <crm@example.com>` or a bare address.
    pub from: String,
}

/// Sends e-mail over SMTP.
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why the provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("smtp from address: {0}")]
    From(String),
    #[error("smtp host: {0}")]
    Host(String),
}

impl SmtpEmail {
    pub fn new(account: SmtpAccount, timeout: Duration) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = account
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From(e.to_string()))?;
        let builder = match account.tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&account.host)
                    .map_err(|e| SmtpConfigError::Host(e.to_string()))?
            }
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&account.host)
                .map_err(|e| SmtpConfigError::Host(e.to_string()))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&account.host),
        };
        let transport = builder
            .port(account.port)
            .credentials(Credentials::new(account.username, account.password))
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }

    /// The e-mail of `message` to the guest's address `to`.
    pub fn email(&self, message: &OutboundMessage) -> Result<Message, ProviderError> {
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|_| ProviderError::Permanent {
                error: "smtp: the guest's e-mail address is not valid".into(),
            })?;
        let body = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            // Base64 keeps any text intact through every relay.
            .header(ContentTransferEncoding::Base64)
            .body(message.body.clone());
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@maitre>", message.message_id)))
            .singlepart(body)
            .map_err(|e| ProviderError::Permanent {
                error: format!("smtp: the e-mail cannot be built: {e}"),
            })
    }
}

fn failure(error: lettre::transport::smtp::Error) -> ProviderError {
    // Never the error's text alone when it could echo the address: lettre's errors carry the
    // server's answer, which names the code and reason, not the message.
    if error.is_permanent() {
        ProviderError::Permanent {
            error: format!("smtp: {error}"),
        }
    } else {
        ProviderError::Transient {
            error: format!("smtp: {error}"),
            retry_after_ms: None,
        }
    }
}

#[async_trait::async_trait]
impl Provider for SmtpEmail {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        if message.recipient.is_empty() {
            return Err(ProviderError::Permanent {
                error: "smtp: the guest has no e-mail address".into(),
            });
        }
        let email = self.email(message)?;
        let response = self.transport.send(email).await.map_err(failure)?;
        let answer: Vec<&str> = response.message().collect();
        Ok(if answer.is_empty() {
            format!("smtp:{}", message.message_id)
        } else {
            answer.join(" ")
        })
    }
}
