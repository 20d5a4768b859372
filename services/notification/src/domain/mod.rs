//! Pure domain rules of the notification service: no tonic, no sea-orm types, no I/O and no clock reads
//! (the current time and random draws are arguments). The service layer loads state, calls these
//! functions and stores their decisions.
//!
//! - templates: [`template`] (syntax, parse at save, render), [`template_vars`] (variable catalog),
//!   [`channel_limits`] (SMS segments and per-channel sizes);
//! - automations: [`automation`] (trigger → conditions → actions, `conditions_hold`), [`trigger`]
//!   (`matches`, occurrences), [`calendar`] (birthdays, Feb 29), [`automation_validate`], [`presets`];
//! - never spam: [`consent`], [`frequency`], [`quiet_hours`], [`dedup`], and [`gate`] combining them;
//! - delivery: [`retry`] (backoff with full jitter, dead letters), [`status`] (status machine),
//!   [`signature`] (webhook HMAC), [`webhook_target`] (no webhooks into internal networks),
//!   [`provider_callbacks`] (providers' receipts and replies, verified), [`provider_limits`]
//!   (per-account rate and per-recipient limits), [`provider_account`] (a chain's provider
//!   accounts, over the kinds of [`provider_kind`]), [`smtp_settings`] (SMTP accounts),
//!   [`provider_binding`] (templates bound to providers' approved templates);
//! - guests: [`guest`] (who the guest is in messages: values, salutation), [`contacts`] (where
//!   the guest is reached: the recipient per channel);
//! - [`channel`] (shared vocabulary) and [`error`].
pub mod automation;
pub mod automation_validate;
pub mod calendar;
pub mod channel;
pub mod channel_limits;
pub mod consent;
pub mod contacts;
pub mod dedup;
pub mod error;
pub mod frequency;
pub mod gate;
pub mod guest;
pub mod presets;
pub mod provider_account;
pub mod provider_binding;
pub mod provider_callbacks;
pub mod provider_kind;
pub mod provider_limits;
pub mod quiet_hours;
pub mod retry;
pub mod signature;
pub mod smtp_settings;
pub mod status;
pub mod template;
pub mod template_vars;
pub mod trigger;
pub mod webhook_target;
