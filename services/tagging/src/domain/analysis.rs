//! The analysis figures of seed 002 §4 (对比分析、库存联动、对新品接受度) and campaign
//! responsiveness, as pure functions over plain rows: dish and category preference, expected
//! covers, new-dish trials, campaign response observations and group figures. The engine
//! loads rows and fits the beta priors ([`super::model::beta_binomial`]).

use std::collections::{BTreeMap, HashMap};

use super::model::{BetaPrior, RateObservation};
use super::rule::EpochDay;

/// A guest "prefers" a dish (or category) when it is at least this share of their dish
/// lines in the preference window (seed 002 §4 gives no figure; 30% is the brief's).
pub const PREFERENCE_SHARE: f64 = 0.3;
/// The preference window: the last 180 days of dish lines.
pub const PREFERENCE_WINDOW_DAYS: i32 = 180;
/// Days after a send within which a visit counts as a response (default; configurable).
pub const DEFAULT_RESPONSE_WINDOW_DAYS: i32 = 7;
/// The prior when a chain has too few guests to fit one: Beta(1, 1), Laplace's rule of
/// succession, so a rate is never the raw 0/0 or 1/1.
pub const FALLBACK_PRIOR: BetaPrior = BetaPrior {
    alpha: 1.0,
    beta: 1.0,
};

/// One guest's preferred item and its share of their lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Preference {
    pub customer_id: String,
    pub key: String,
    pub share: f64,
}

/// The items (dishes or categories) each guest prefers, from `(customer, item)` dish lines;
/// lines with an empty item count towards the guest's total only.
pub fn preferences<'a>(lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Preference> {
    let mut totals: BTreeMap<&str, u32> = BTreeMap::new();
    let mut counts: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for (customer, item) in lines {
        *totals.entry(customer).or_default() += 1;
        if !item.is_empty() {
            *counts.entry((customer, item)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter_map(|((customer, item), n)| {
            let share = f64::from(n) / f64::from(*totals.get(customer)?);
            (share >= PREFERENCE_SHARE).then(|| Preference {
                customer_id: customer.to_owned(),
                key: item.to_owned(),
                share,
            })
        })
        .collect()
}

/// Demand of one item: the guests who prefer it and their expected covers, Σ expected
/// visits in the horizon × the item's share of the guest's lines (a guest who orders it on
/// a third of their lines is expected to order it on a third of their visits).
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub key: String,
    pub customers: i64,
    pub expected_covers: f64,
}

/// Demand per item; `expected_visits(customer)` is the guest's expected visits in the
/// horizon (guests without a score contribute 0 covers but are counted).
pub fn demand(prefs: &[Preference], expected_visits: impl Fn(&str) -> f64) -> Vec<Demand> {
    let mut by_key: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for p in prefs {
        let entry = by_key.entry(&p.key).or_default();
        entry.0 += 1;
        let visits = expected_visits(&p.customer_id);
        if visits.is_finite() && visits >= 0.0 {
            entry.1 += visits * p.share;
        }
    }
    by_key
        .into_iter()
        .map(|(key, (customers, covers))| Demand {
            key: key.to_owned(),
            customers,
            expected_covers: covers,
        })
        .collect()
}

/// A guest's record around one launch: visit days within the window and the days of
/// those on which they ordered the new dish.
pub fn launch_trials(
    launch_day: EpochDay,
    window_days: i32,
    visit_days: &[EpochDay],
    tried_days: &[EpochDay],
) -> RateObservation {
    let within = |d: &EpochDay| *d >= launch_day && *d <= launch_day.saturating_add(window_days);
    let mut visits: Vec<EpochDay> = visit_days.iter().copied().filter(within).collect();
    visits.sort_unstable();
    visits.dedup();
    let tried = visits.iter().filter(|d| tried_days.contains(d)).count();
    RateObservation {
        successes: u32::try_from(tried).unwrap_or(u32::MAX),
        trials: u32::try_from(visits.len()).unwrap_or(u32::MAX),
    }
}

/// Adds two observations of one guest (several launches, several sends).
pub fn combine(a: RateObservation, b: RateObservation) -> RateObservation {
    RateObservation {
        successes: a.successes.saturating_add(b.successes),
        trials: a.trials.saturating_add(b.trials),
    }
}

/// One campaign send of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Send {
    pub sent_day: EpochDay,
    pub responded: bool,
}

/// A guest's campaign record: a send is a response when the guest responded to it or
/// visited within `window_days` after it (the send day included).
pub fn response_observation(
    sends: &[Send],
    visit_days: &[EpochDay],
    window_days: i32,
) -> RateObservation {
    let responses = sends
        .iter()
        .filter(|s| {
            s.responded
                || visit_days
                    .iter()
                    .any(|d| *d >= s.sent_day && *d <= s.sent_day.saturating_add(window_days))
        })
        .count();
    RateObservation {
        successes: u32::try_from(responses).unwrap_or(u32::MAX),
        trials: u32::try_from(sends.len()).unwrap_or(u32::MAX),
    }
}

/// A guest's visits in a comparison window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowActivity {
    pub visit_days: u32,
    pub spend_fen: i64,
    pub sends: u32,
    pub responses: u32,
}

/// Figures of one group over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupFigures {
    pub size: i64,
    pub visits_per_month: f64,
    pub average_ticket_fen: i64,
    pub spend_share: f64,
    pub response_rate: f64,
}

/// Size, visit days per member per 30 days, spend per visit day, share of the chain's
/// spend in the window, and responses / sends (raw: groups are large enough).
pub fn group_figures<'a>(
    members: impl IntoIterator<Item = Option<&'a WindowActivity>>,
    window_days: i32,
    chain_spend_fen: i64,
) -> GroupFigures {
    let (mut size, mut visits, mut spend, mut sends, mut responses) =
        (0i64, 0u64, 0i64, 0u64, 0u64);
    for activity in members {
        size += 1;
        if let Some(a) = activity {
            visits += u64::from(a.visit_days);
            spend = spend.saturating_add(a.spend_fen);
            sends += u64::from(a.sends);
            responses += u64::from(a.responses);
        }
    }
    let months = f64::from(window_days.max(1)) / 30.0;
    GroupFigures {
        size,
        visits_per_month: if size == 0 {
            0.0
        } else {
            visits as f64 / size as f64 / months
        },
        average_ticket_fen: if visits == 0 {
            0
        } else {
            (spend as f64 / visits as f64).round() as i64
        },
        spend_share: if chain_spend_fen <= 0 {
            0.0
        } else {
            spend as f64 / chain_spend_fen as f64
        },
        response_rate: if sends == 0 {
            0.0
        } else {
            responses as f64 / sends as f64
        },
    }
}

/// Groups `(key, value)` pairs into a map of vectors (helper for the engine).
pub fn group_by_key<K: std::hash::Hash + Eq, V>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut map: HashMap<K, Vec<V>> = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_is_a_share_of_the_guests_lines() {
        // Ann: 2 of 4 lines are fish (0.5), 1 duck (0.25), 1 unmatched; Bo: 1 of 3 duck.
        let lines = [
            ("ann", "fish"),
            ("ann", "fish"),
            ("ann", "duck"),
            ("ann", ""),
            ("bo", "duck"),
            ("bo", "tea"),
            ("bo", "tea"),
        ];
        let prefs = preferences(lines);
        let got: Vec<(&str, &str)> = prefs
            .iter()
            .map(|p| (p.customer_id.as_str(), p.key.as_str()))
            .collect();
        assert_eq!(got, vec![("ann", "fish"), ("bo", "duck"), ("bo", "tea")]);
        let d = demand(&prefs, |c| if c == "ann" { 2.0 } else { 0.6 });
        assert_eq!(d[0].key, "duck");
        assert_eq!(d[0].customers, 1);
        assert!((d[0].expected_covers - 0.6 / 3.0).abs() < 1e-12);
        assert!((d[1].expected_covers - 1.0).abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn trials_count_visit_days_within_the_launch_window() {
        // Window [100, 130]: days 100 (twice, one visit) and 110 count; 99, 131, 140 do not.
        let obs = launch_trials(100, 30, &[99, 100, 100, 110, 131, 140], &[110, 140]);
        assert_eq!(
            obs,
            RateObservation {
                successes: 1,
                trials: 2
            }
        );
        assert_eq!(
            combine(
                obs,
                RateObservation {
                    successes: 2,
                    trials: 2
                }
            ),
            RateObservation {
                successes: 3,
                trials: 4
            }
        );
    }

    #[test]
    fn a_send_is_answered_by_a_response_or_a_visit_in_the_window() {
        let sends = [
            Send {
                sent_day: 10,
                responded: false,
            },
            Send {
                sent_day: 20,
                responded: true,
            },
            Send {
                sent_day: 40,
                responded: false,
            },
        ];
        let obs = response_observation(&sends, &[15, 48], 7);
        assert_eq!(
            obs,
            RateObservation {
                successes: 2,
                trials: 3
            }
        );
    }

    #[test]
    fn group_figures_by_hand() {
        let a = WindowActivity {
            visit_days: 3,
            spend_fen: 30_000,
            sends: 2,
            responses: 1,
        };
        let b = WindowActivity {
            visit_days: 1,
            spend_fen: 20_000,
            sends: 2,
            responses: 0,
        };
        let f = group_figures([Some(&a), Some(&b), None], 60, 100_000);
        assert_eq!(f.size, 3);
        assert!((f.visits_per_month - 4.0 / 3.0 / 2.0).abs() < 1e-12);
        assert_eq!(f.average_ticket_fen, 12_500);
        assert!((f.spend_share - 0.5).abs() < 1e-12);
        assert!((f.response_rate - 0.25).abs() < 1e-12);
        let empty = group_figures(std::iter::empty(), 90, 0);
        assert_eq!(empty.size, 0);
        assert_eq!(empty.visits_per_month, 0.0);
    }
}
