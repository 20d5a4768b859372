//! A guest's interactions with the chain, apart from visits (seed 002 §1: "互动偏好(如对促销
//! 短信的反应、是否打开活动邮件)", and §2's "营销活动高响应者"): campaign responses, replies
//! to messages, opens of messages, reviews. Each is one dated occurrence; the rule language counts them over a
//! window (`campaign_responses(90d)`), with the same half-open window as visits.

use super::day::EpochDay;

/// What kind of interaction a guest had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InteractionKind {
    /// Responded to a campaign: an explicit response event naming it (coupon redeemed, link
    /// clicked) or a reply to its message; one per campaign.
    CampaignResponse,
    /// Replied to a message (campaign or automation) sent to them.
    MessageReply,
    /// Opened a message sent to them (the first open of each message).
    MessageOpen,
    /// Wrote a review.
    Review,
}

impl InteractionKind {
    /// The stored name (`tag_interaction.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::CampaignResponse => "campaign_response",
            InteractionKind::MessageReply => "message_reply",
            InteractionKind::MessageOpen => "message_open",
            InteractionKind::Review => "review",
        }
    }

    pub fn parse(name: &str) -> Option<InteractionKind> {
        [
            InteractionKind::CampaignResponse,
            InteractionKind::MessageReply,
            InteractionKind::MessageOpen,
            InteractionKind::Review,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// A guest's interactions, sorted by day.
#[derive(Debug, Clone, Default)]
pub struct Interactions {
    by_day: Vec<(EpochDay, InteractionKind)>,
}

impl Interactions {
    pub fn clear(&mut self) {
        self.by_day.clear();
    }

    /// Records one interaction; any order, appending in day order is O(1).
    pub fn add(&mut self, kind: InteractionKind, day: EpochDay) {
        let at = self.by_day.partition_point(|(d, _)| *d <= day);
        self.by_day.insert(at, (day, kind));
    }

    /// Interactions of `kind` with `day` in `(today − window_days, today]`, the window
    /// visits use; later days (a clock ahead of the store's) are ignored.
    pub fn count_in_window(&self, kind: InteractionKind, today: EpochDay, window_days: u32) -> u64 {
        let first_day_excluded = i64::from(today) - i64::from(window_days);
        let lo = self
            .by_day
            .partition_point(|(d, _)| i64::from(*d) <= first_day_excluded);
        let hi = self.by_day.partition_point(|(d, _)| *d <= today);
        self.by_day
            .get(lo..hi)
            .unwrap_or(&[])
            .iter()
            .filter(|(_, k)| *k == kind)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_one_kind_in_the_half_open_window() {
        let mut all = Interactions::default();
        for (day, kind) in [
            (100, InteractionKind::CampaignResponse),
            (70, InteractionKind::CampaignResponse),
            (71, InteractionKind::CampaignResponse),
            (95, InteractionKind::Review),
            (101, InteractionKind::CampaignResponse),
        ] {
            all.add(kind, day);
        }
        // (100 − 30, 100] = 71..=100: day 70 is out, the future day 101 is out.
        assert_eq!(
            all.count_in_window(InteractionKind::CampaignResponse, 100, 30),
            2
        );
        assert_eq!(all.count_in_window(InteractionKind::Review, 100, 30), 1);
        assert_eq!(all.count_in_window(InteractionKind::Review, 100, 5), 0);
        assert_eq!(
            all.count_in_window(InteractionKind::MessageReply, 100, 3650),
            0
        );
        assert_eq!(
            all.count_in_window(InteractionKind::CampaignResponse, i32::MIN, 3650),
            0
        );
        all.clear();
        assert_eq!(
            all.count_in_window(InteractionKind::CampaignResponse, 100, 30),
            0
        );
    }

    #[test]
    fn kinds_round_trip_their_stored_names() {
        for kind in [
            InteractionKind::CampaignResponse,
            InteractionKind::MessageReply,
            InteractionKind::MessageOpen,
            InteractionKind::Review,
        ] {
            assert_eq!(InteractionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(InteractionKind::parse("opened"), None);
    }
}
