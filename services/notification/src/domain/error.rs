//! Errors of the notification domain: one enum per rule family, each variant naming the failure and the
//! field or position it concerns, gathered in [`DomainError`] for the service edge (which maps it to
//! `tonic::Status` in one place, outside this module).

use std::fmt;

use thiserror::Error;

use super::channel::Channel;

/// Where in a template source a problem sits. Offsets and columns count characters, not bytes, because
/// templates are mostly Chinese text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePosition {
    /// 0-based character offset from the start of the source.
    pub offset_chars: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A template that cannot be saved (parse time) or cannot be rendered (send time).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("{field}: placeholder opened at {at} is never closed with `}}}}`")]
    UnclosedPlaceholder {
        field: &'static str,
        at: SourcePosition,
    },
    #[error("{field}: `}}}}` at {at} closes no placeholder")]
    UnmatchedClosingBraces {
        field: &'static str,
        at: SourcePosition,
    },
    #[error("{field}: empty placeholder at {at}")]
    EmptyPlaceholder {
        field: &'static str,
        at: SourcePosition,
    },
    #[error("{field}: `{found}` at {at} is not a variable name (expected e.g. `customer.name`)")]
    InvalidVariableName {
        field: &'static str,
        found: String,
        at: SourcePosition,
    },
    #[error("{field}: unknown variable `{name}` at {at}")]
    UnknownVariable {
        field: &'static str,
        name: String,
        at: SourcePosition,
    },
    #[error("{field}: expected a quoted default like `\"无\"` after `|` at {at}")]
    ExpectedDefaultString {
        field: &'static str,
        at: SourcePosition,
    },
    #[error("{field}: default string starting at {at} is never closed with `\"`")]
    UnterminatedDefault {
        field: &'static str,
        at: SourcePosition,
    },
    #[error("{field}: unexpected `{found}` at {at} inside a placeholder")]
    UnexpectedCharacter {
        field: &'static str,
        found: char,
        at: SourcePosition,
    },
    #[error("{field}: source is {chars} characters, more than the {max_chars} allowed")]
    SourceTooLong {
        field: &'static str,
        chars: usize,
        max_chars: usize,
    },
    #[error("subject: channel {channel} requires a subject")]
    SubjectRequired { channel: Channel },
    #[error("subject: channel {channel} has no subject line")]
    SubjectNotSupported { channel: Channel },
    #[error("{field}: no value for `{variable}` and the placeholder has no default")]
    MissingValue {
        field: &'static str,
        variable: &'static str,
    },
    #[error(
        "{field}: rendered {channel} text is {chars} characters, more than the {max_chars} allowed"
    )]
    RenderedTooLong {
        channel: Channel,
        field: &'static str,
        chars: usize,
        max_chars: usize,
    },
    #[error("body: rendered SMS needs {segments} segments, more than the {max_segments} allowed")]
    TooManySmsSegments { segments: u32, max_segments: u32 },
}

/// One problem in an automation definition, naming the field path (e.g. `actions[1].webhook_url`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AutomationFieldError {
    #[error("{field}: must not be empty")]
    Empty { field: String },
    #[error("{field}: {chars} characters, more than the {max_chars} allowed")]
    TooLong {
        field: String,
        chars: usize,
        max_chars: usize,
    },
    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        field: String,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("{field}: `{value}` is not a tag key (lowercase letters, digits and `_`)")]
    InvalidTagKey { field: String, value: String },
    #[error("{field}: `{tag}` is both required and excluded")]
    ContradictoryTag { field: String, tag: String },
    #[error("{field}: `{url}` is not a valid URL: {reason}")]
    WebhookUrlInvalid {
        field: String,
        url: String,
        reason: String,
    },
    #[error("{field}: scheme `{scheme}` is not allowed, use http or https")]
    WebhookSchemeNotHttp { field: String, scheme: String },
    #[error("{field}: webhook URLs must not carry credentials; use the signing secret")]
    WebhookUrlHasCredentials { field: String },
    #[error("{field}: the staff inbox cannot message a customer; use remind_owner")]
    StaffInboxForCustomer { field: String },
    #[error("{field}: a coupon is an offer, so the message purpose must be marketing")]
    CouponNeedsMarketingPurpose { field: String },
    #[error(
        "{field}: template is for channel {template_channel}, action sends on {action_channel}"
    )]
    TemplateChannelMismatch {
        field: String,
        template_channel: Channel,
        action_channel: Channel,
    },
    #[error(
        "{field}: template uses `{variable}` without a default but the action attaches no coupon"
    )]
    CouponVariableWithoutCoupon {
        field: String,
        variable: &'static str,
    },
}

/// An automation rejected at save time, with every problem found (not only the first).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("automation is invalid: {}", join_errors(.errors))]
pub struct AutomationInvalid {
    pub errors: Vec<AutomationFieldError>,
}

fn join_errors(errors: &[AutomationFieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A policy (frequency cap, quiet hours, retry) with values that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("{field}: must be greater than zero")]
    NotPositive { field: &'static str },
    #[error("{field}: {value} is more than the maximum {max}")]
    TooLarge {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("quiet_hours: start and end are both {time}; a quiet window needs two different times")]
    QuietHoursEmpty { time: chrono::NaiveTime },
    #[error("quiet_hours.time_zone: `{value}` is not an IANA time zone")]
    UnknownTimeZone { value: String },
    #[error("retry.max_delay_ms: {max_delay_ms} is below retry.base_delay_ms {base_delay_ms}")]
    MaxDelayBelowBase {
        base_delay_ms: u64,
        max_delay_ms: u64,
    },
}

/// A webhook signature that cannot be produced or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("signing secret must not be empty")]
    EmptySecret,
    #[error("X-Maitre-Signature header is malformed: {reason}")]
    MalformedHeader { reason: &'static str },
    #[error(
        "signature timestamp {timestamp_s} is more than {tolerance_s}s away from now ({now_s})"
    )]
    TimestampOutsideTolerance {
        timestamp_s: i64,
        now_s: i64,
        tolerance_s: u64,
    },
    #[error("no v1 signature in the header matches the body")]
    NoMatchingSignature,
}

/// Every domain failure of the notification service, for the single mapping at the service edge.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Automation(#[from] AutomationInvalid),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Status(#[from] super::status::IllegalTransition),
}
