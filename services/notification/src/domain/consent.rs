//! Consent per channel: marketing needs the guest's opt-in, service and transactional messages do not,
//! and an unsubscribe reply ("TD", "退订", "unsubscribe") opts the guest out of marketing on that channel
//! (ARCHITECTURE.md "Profile": consent is marketing opt-in per channel; seed 002 §3: reach only the guests
//! who want it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::channel::{Channel, MessagePurpose};

/// The guest's marketing choice on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChannelConsent {
    /// Never asked or never answered: no marketing.
    #[default]
    Unknown,
    OptedIn {
        at: DateTime<Utc>,
    },
    OptedOut {
        at: DateTime<Utc>,
    },
}

/// A guest's consent on every channel; channels not listed are [`ChannelConsent::Unknown`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    channels: BTreeMap<Channel, ChannelConsent>,
}

/// Why consent forbids a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRefusal {
    /// Marketing without an opt-in.
    NoConsent,
    /// Marketing after the guest opted out.
    OptedOut,
}

impl ConsentState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, channel: Channel, consent: ChannelConsent) -> Self {
        self.set(channel, consent);
        self
    }

    pub fn set(&mut self, channel: Channel, consent: ChannelConsent) {
        self.channels.insert(channel, consent);
    }

    pub fn get(&self, channel: Channel) -> ChannelConsent {
        self.channels.get(&channel).copied().unwrap_or_default()
    }

    /// Whether a message of `purpose` may go to the guest on `channel`. Staff inbox messages go to staff
    /// and need no guest consent; non-marketing messages need none either.
    pub fn allows(&self, channel: Channel, purpose: MessagePurpose) -> Result<(), ConsentRefusal> {
        if !channel.reaches_customer() || purpose != MessagePurpose::Marketing {
            return Ok(());
        }
        match self.get(channel) {
            ChannelConsent::OptedIn { .. } => Ok(()),
            ChannelConsent::OptedOut { .. } => Err(ConsentRefusal::OptedOut),
            ChannelConsent::Unknown => Err(ConsentRefusal::NoConsent),
        }
    }

    /// The consent of one guest known under two profiles that were merged: on each channel
    /// the latest explicit choice stands (an opt-out made after an opt-in elsewhere is not
    /// undone by the merge, nor the other way round); at the same instant the opt-out wins.
    pub fn merged(&self, other: &ConsentState) -> ConsentState {
        let mut merged = self.clone();
        for (channel, theirs) in &other.channels {
            let chosen = match (merged.get(*channel), *theirs) {
                (ChannelConsent::Unknown, theirs) => theirs,
                (ours, ChannelConsent::Unknown) => ours,
                (ours, theirs) => {
                    let rank = |c: ChannelConsent| match c {
                        ChannelConsent::OptedIn { at } => (Some(at), 0),
                        ChannelConsent::OptedOut { at } => (Some(at), 1),
                        ChannelConsent::Unknown => (None, 0),
                    };
                    if rank(theirs) > rank(ours) {
                        theirs
                    } else {
                        ours
                    }
                }
            };
            merged.set(*channel, chosen);
        }
        merged
    }

    /// Follows a choice made elsewhere (the profile) at `at`: on its channel it stands unless a
    /// later choice is known here; [`ChannelConsent::Unknown`] withdraws an earlier choice.
    /// Returns whether anything changed (a replay, or an older choice arriving late, changes
    /// nothing).
    pub fn follow(&mut self, channel: Channel, choice: ChannelConsent, at: DateTime<Utc>) -> bool {
        let current = self.get(channel);
        let known_at = match current {
            ChannelConsent::OptedIn { at } | ChannelConsent::OptedOut { at } => Some(at),
            ChannelConsent::Unknown => None,
        };
        if known_at.is_some_and(|known| known > at) {
            return false;
        }
        let next = match choice {
            ChannelConsent::OptedIn { .. } => ChannelConsent::OptedIn { at },
            ChannelConsent::OptedOut { .. } => ChannelConsent::OptedOut { at },
            ChannelConsent::Unknown => ChannelConsent::Unknown,
        };
        if next == current {
            return false;
        }
        match next {
            ChannelConsent::Unknown => {
                self.channels.remove(&channel);
            }
            next => self.set(channel, next),
        }
        true
    }

    /// Applies a guest's reply: an unsubscribe keyword opts them out of marketing on that channel.
    /// Returns whether the reply was an unsubscribe request.
    pub fn apply_reply(&mut self, channel: Channel, reply: &str, at: DateTime<Utc>) -> bool {
        let unsubscribe = is_unsubscribe_reply(reply);
        if unsubscribe {
            self.set(channel, ChannelConsent::OptedOut { at });
        }
        unsubscribe
    }
}

/// Replies that mean "stop marketing", compared after normalisation. "T"/"TD" follow the Chinese carrier
/// convention printed under marketing SMS ("回T退订" / "拒收请回复TD").
const UNSUBSCRIBE_KEYWORDS: [&str; 8] = [
    "t",
    "td",
    "退订",
    "取消订阅",
    "不要再发",
    "unsubscribe",
    "stop",
    "stopall",
];

/// Whether a free-text reply asks to unsubscribe. Full-width letters (ＴＤ) are folded to ASCII, case and
/// surrounding whitespace/punctuation are ignored; a reply containing "退订" anywhere ("请退订谢谢") also
/// counts because the word has no other meaning in a reply.
pub fn is_unsubscribe_reply(reply: &str) -> bool {
    let normalised: String = reply
        .chars()
        .map(fold_full_width)
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .trim_matches(|c: char| {
            c.is_whitespace() || c.is_ascii_punctuation() || "。，！？、".contains(c)
        })
        .to_string();
    UNSUBSCRIBE_KEYWORDS.contains(&normalised.as_str()) || normalised.contains("退订")
}

/// Maps full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space to their ASCII counterparts.
fn fold_full_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 5, 1, 12, 0, 0)
            .single()
            .expect("valid instant")
    }

    #[test]
    fn a_merge_keeps_the_latest_explicit_choice_per_channel() {
        let later = at() + chrono::Duration::days(1);
        let survivor = ConsentState::new()
            .with(Channel::Sms, ChannelConsent::OptedIn { at: at() })
            .with(Channel::Email, ChannelConsent::OptedOut { at: later })
            .with(Channel::AppPush, ChannelConsent::OptedIn { at: at() });
        let absorbed = ConsentState::new()
            .with(Channel::Sms, ChannelConsent::OptedOut { at: later })
            .with(Channel::Email, ChannelConsent::OptedIn { at: at() })
            .with(Channel::Wechat, ChannelConsent::OptedIn { at: at() })
            .with(Channel::AppPush, ChannelConsent::OptedOut { at: at() });
        let merged = survivor.merged(&absorbed);
        // The absorbed profile's later opt-out stands; so does the survivor's.
        assert_eq!(
            merged.get(Channel::Sms),
            ChannelConsent::OptedOut { at: later }
        );
        assert_eq!(
            merged.get(Channel::Email),
            ChannelConsent::OptedOut { at: later }
        );
        // A choice made on only one profile is kept.
        assert_eq!(
            merged.get(Channel::Wechat),
            ChannelConsent::OptedIn { at: at() }
        );
        // At the same instant, the opt-out wins.
        assert_eq!(
            merged.get(Channel::AppPush),
            ChannelConsent::OptedOut { at: at() }
        );
        // Either way round.
        assert_eq!(absorbed.merged(&survivor), merged);
    }

    #[test]
    fn the_latest_choice_from_either_side_stands() {
        let later = at() + chrono::Duration::days(1);
        let mut consent = ConsentState::new();
        // Opted in at the front desk (profile).
        assert!(consent.follow(Channel::Sms, ChannelConsent::OptedIn { at: at() }, at()));
        // The guest replies "退订" later.
        assert!(consent.apply_reply(Channel::Sms, "退订", later));
        // The profile's older opt-in, told again with another change, does not undo it.
        assert!(!consent.follow(Channel::Sms, ChannelConsent::OptedIn { at: at() }, at()));
        assert_eq!(
            consent.get(Channel::Sms),
            ChannelConsent::OptedOut { at: later }
        );
        // The profile echoing the opt-out changes nothing.
        assert!(!consent.follow(Channel::Sms, ChannelConsent::OptedOut { at: later }, later));
        // A later withdrawal in the profile leaves no choice.
        let latest = later + chrono::Duration::days(1);
        assert!(consent.follow(Channel::Sms, ChannelConsent::Unknown, latest));
        assert_eq!(consent.get(Channel::Sms), ChannelConsent::Unknown);
    }

    #[test]
    fn marketing_needs_opt_in() {
        let consent = ConsentState::new().with(Channel::Sms, ChannelConsent::OptedIn { at: at() });
        assert_eq!(
            consent.allows(Channel::Sms, MessagePurpose::Marketing),
            Ok(())
        );
        assert_eq!(
            consent.allows(Channel::Wechat, MessagePurpose::Marketing),
            Err(ConsentRefusal::NoConsent)
        );
    }

    #[test]
    fn opted_out_guest_gets_no_marketing_but_still_service_messages() {
        let consent = ConsentState::new().with(Channel::Sms, ChannelConsent::OptedOut { at: at() });
        assert_eq!(
            consent.allows(Channel::Sms, MessagePurpose::Marketing),
            Err(ConsentRefusal::OptedOut)
        );
        assert_eq!(
            consent.allows(Channel::Sms, MessagePurpose::Service),
            Ok(())
        );
        assert_eq!(
            consent.allows(Channel::Sms, MessagePurpose::Transactional),
            Ok(())
        );
    }

    #[test]
    fn staff_inbox_needs_no_guest_consent() {
        assert_eq!(
            ConsentState::new().allows(Channel::StaffInbox, MessagePurpose::Marketing),
            Ok(())
        );
    }

    #[test]
    fn unsubscribe_keywords_are_recognised() {
        for reply in [
            "TD",
            "td",
            " T ",
            "ＴＤ",
            "退订",
            "请退订，谢谢！",
            "Unsubscribe",
            "STOP.",
            "取消订阅",
        ] {
            assert!(is_unsubscribe_reply(reply), "{reply:?} should unsubscribe");
        }
    }

    #[test]
    fn ordinary_replies_do_not_unsubscribe() {
        for reply in [
            "谢谢",
            "N",
            "TDD",
            "好的，周六见",
            "table for two",
            "",
            "不要辣",
        ] {
            assert!(
                !is_unsubscribe_reply(reply),
                "{reply:?} should not unsubscribe"
            );
        }
    }

    #[test]
    fn unsubscribe_reply_opts_out_only_that_channel() {
        let mut consent = ConsentState::new()
            .with(Channel::Sms, ChannelConsent::OptedIn { at: at() })
            .with(Channel::Wechat, ChannelConsent::OptedIn { at: at() });
        assert!(consent.apply_reply(Channel::Sms, "退订", at()));
        assert_eq!(
            consent.get(Channel::Sms),
            ChannelConsent::OptedOut { at: at() }
        );
        assert_eq!(
            consent.allows(Channel::Wechat, MessagePurpose::Marketing),
            Ok(())
        );
        assert!(!consent.apply_reply(Channel::Wechat, "好的", at()));
        assert_eq!(
            consent.get(Channel::Wechat),
            ChannelConsent::OptedIn { at: at() }
        );
    }
}
