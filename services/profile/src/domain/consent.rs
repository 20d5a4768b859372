//! One marketing consent per guest and channel, whichever door it came through: the profile
//! (create, PATCH) or notification (an unsubscribe reply such as "退订", its preferences API).
//! Each side records every choice with its time and tells the other; on each channel the
//! latest choice stands, so replays and late arrivals change nothing (ARCHITECTURE.md
//! "Notification and automation": consent per channel, latest explicit choice wins).

use super::profile::{MarketingChannel, Profile};

/// A guest's marketing choice on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChoice {
    /// Never asked, or an earlier choice withdrawn.
    None,
    OptedIn,
    OptedOut,
}

impl MarketingChannel {
    /// Every channel a guest can consent on.
    pub const ALL: [MarketingChannel; 4] = [
        MarketingChannel::Sms,
        MarketingChannel::Wechat,
        MarketingChannel::Email,
        MarketingChannel::AppPush,
    ];
}

impl Profile {
    /// The guest's current choice on `channel` (an opt-out outranks a stale opt-in flag).
    pub fn consent_choice(&self, channel: MarketingChannel) -> ConsentChoice {
        if self.opted_out.allows(channel) {
            ConsentChoice::OptedOut
        } else if self.consent.allows(channel) {
            ConsentChoice::OptedIn
        } else {
            ConsentChoice::None
        }
    }

    /// When the guest's current choice on `channel` was made (µs since the epoch), if ever.
    pub fn consent_choice_time_us(&self, channel: MarketingChannel) -> Option<i64> {
        self.consent_times.get(&channel).copied()
    }

    fn set_consent_choice(&mut self, channel: MarketingChannel, choice: ConsentChoice) {
        let (opt_in, opt_out) = match channel {
            MarketingChannel::Sms => (&mut self.consent.sms, &mut self.opted_out.sms),
            MarketingChannel::Wechat => (&mut self.consent.wechat, &mut self.opted_out.wechat),
            MarketingChannel::Email => (&mut self.consent.email, &mut self.opted_out.email),
            MarketingChannel::AppPush => (&mut self.consent.app_push, &mut self.opted_out.app_push),
        };
        *opt_in = choice == ConsentChoice::OptedIn;
        *opt_out = choice == ConsentChoice::OptedOut;
    }
}

/// Stamps `at_us` as the choice time of every channel whose choice differs from `before`'s
/// (a profile edit is a choice made now).
pub fn stamp_consent_changes(before: &Profile, after: &mut Profile, at_us: i64) {
    for channel in MarketingChannel::ALL {
        if before.consent_choice(channel) != after.consent_choice(channel) {
            after.consent_times.insert(channel, at_us);
        }
    }
}

/// Follows a choice made elsewhere at `at_us`: it stands unless a later choice on the channel
/// is known here. Returns whether the profile changed (a replay changes nothing).
pub fn follow_consent_choice(
    profile: &mut Profile,
    channel: MarketingChannel,
    choice: ConsentChoice,
    at_us: i64,
) -> bool {
    if profile
        .consent_choice_time_us(channel)
        .is_some_and(|known| known > at_us)
    {
        return false;
    }
    let changed = profile.consent_choice(channel) != choice
        || profile.consent_choice_time_us(channel) != Some(at_us);
    profile.set_consent_choice(channel, choice);
    profile.consent_times.insert(channel, at_us);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_stamps_only_the_channels_it_changed() {
        let before = Profile::default();
        let mut after = before.clone();
        after.consent.sms = true;
        stamp_consent_changes(&before, &mut after, 7);
        assert_eq!(after.consent_choice_time_us(MarketingChannel::Sms), Some(7));
        assert_eq!(after.consent_choice_time_us(MarketingChannel::Wechat), None);
    }

    #[test]
    fn a_later_choice_from_elsewhere_wins_and_an_older_one_does_not() {
        let mut profile = Profile::default();
        profile.consent.sms = true;
        profile.consent_times.insert(MarketingChannel::Sms, 10);
        // A reply "退订" made after the opt-in.
        assert!(follow_consent_choice(
            &mut profile,
            MarketingChannel::Sms,
            ConsentChoice::OptedOut,
            20
        ));
        assert_eq!(
            profile.consent_choice(MarketingChannel::Sms),
            ConsentChoice::OptedOut
        );
        assert!(!profile.consent.sms);
        // Replayed: nothing changes.
        assert!(!follow_consent_choice(
            &mut profile,
            MarketingChannel::Sms,
            ConsentChoice::OptedOut,
            20
        ));
        // An older opt-in arriving late does not undo it.
        assert!(!follow_consent_choice(
            &mut profile,
            MarketingChannel::Sms,
            ConsentChoice::OptedIn,
            15
        ));
        assert_eq!(
            profile.consent_choice(MarketingChannel::Sms),
            ConsentChoice::OptedOut
        );
    }
}
