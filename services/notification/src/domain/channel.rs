//! Delivery channels, message purposes and customer identifiers shared by every notification rule.
//!
//! Owns the vocabulary only (which channels exist, what a message is for); the rules that use it live in
//! `gate`, `consent`, `template` and `automation`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A channel a message can travel on (ARCHITECTURE.md "Delivery").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Wechat,
    Email,
    AppPush,
    /// The manager app's inbox: the recipient is staff, never the guest.
    StaffInbox,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Sms,
        Channel::Wechat,
        Channel::Email,
        Channel::AppPush,
        Channel::StaffInbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Wechat => "wechat",
            Channel::Email => "email",
            Channel::AppPush => "app_push",
            Channel::StaffInbox => "staff_inbox",
        }
    }

    /// Whether the recipient on this channel is a guest (consent, caps and quiet hours apply to guests).
    pub fn reaches_customer(self) -> bool {
        !matches!(self, Channel::StaffInbox)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is sent; decides which "never spam" rules apply (seed 002 §3: precise reach instead of
/// blanket marketing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePurpose {
    /// Offers, greetings with coupons, win-back: needs the guest's opt-in, is capped and respects quiet hours.
    Marketing,
    /// Automated relationship messages without an offer (your new manager, follow-up): no opt-in needed,
    /// but capped and kept out of quiet hours.
    Service,
    /// Answers to something the guest just did (booking confirmation): no opt-in, no cap, no quiet hours.
    Transactional,
}

impl MessagePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            MessagePurpose::Marketing => "marketing",
            MessagePurpose::Service => "service",
            MessagePurpose::Transactional => "transactional",
        }
    }
}

/// Customer class A/B/C computed by the profile service (seed 000 §三).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CustomerClass {
    A,
    B,
    C,
}

use maitre_kit::string_id;

string_id!(
    /// A customer's id as issued by the profile service.
    CustomerId
);
string_id!(
    /// A staff member (customer manager) id.
    ManagerId
);
string_id!(
    /// A follow-up plan id as issued by the profile service.
    FollowUpPlanId
);
string_id!(
    /// An automation's id as stored by the notification service.
    AutomationId
);
