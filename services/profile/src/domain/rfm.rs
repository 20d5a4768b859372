//! RFM scores 1–5: recency, frequency, monetary, plus dish preference.
//!
//! Scores come from cut-offs of one shape, [`RfmCutoffs`], whether the chain
//! fixes them by hand or derives them as quintiles over its own customers
//! ([`score_quintiles`]). Quintile ties go down: guests with equal values get
//! equal scores, the lower of the quintiles they straddle, so a chain where
//! most guests visited once does not hand them all a frequency of 5.
//!
//! Dish preference (seed 000 §三 names 菜品偏好 beside frequency and recency):
//! the share of a guest's visits that included their favourite dish. A guest
//! who keeps coming back for the same dish has a preference staff can serve;
//! a single visit shows no preference yet and scores 1.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::aggregates::Aggregates;

/// One customer's scores, each 1 (weakest) to 5 (strongest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmScores {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
    pub dish_preference: u8,
}

impl RfmScores {
    /// Scores of a guest with no visit yet.
    pub const LOWEST: RfmScores = RfmScores {
        recency: 1,
        frequency: 1,
        monetary: 1,
        dish_preference: 1,
    };
}

/// Cut-offs for scores 5..2 (recency) or 2..5 (the others), each ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmCutoffs {
    /// Recency scores one point for every entry the days since the last visit
    /// are at or below: `[7, 30, 90, 180]` gives 5 within a week, 1 after 180.
    pub recency_max_days: [i64; 4],
    /// Frequency scores one point above 1 for every entry reached.
    pub frequency_min_visits: [u64; 4],
    /// Monetary (lifetime spend) scores one point above 1 per entry reached.
    pub monetary_min_fen: [i64; 4],
    /// Dish preference: favourite-dish share of visits, in per mille.
    pub dish_share_min_permille: [u32; 4],
}

/// Favourite-dish share buckets used unless a chain sets its own: 20 %, 40 %,
/// 60 %, 80 % of visits.
pub const DEFAULT_DISH_SHARE_MIN_PERMILLE: [u32; 4] = [200, 400, 600, 800];

/// Days since the last visit as of `as_of` (never negative); `None` before
/// the first visit.
pub fn days_since_last_visit(aggregates: &Aggregates, as_of: DateTime<Utc>) -> Option<i64> {
    aggregates
        .last_visit_at
        .map(|last| (as_of - last).num_days().max(0))
}

/// Share of visits that included the favourite dish, in per mille.
pub fn favourite_dish_share_permille(aggregates: &Aggregates) -> u32 {
    let top = aggregates
        .favourite_dishes(1)
        .first()
        .map_or(0, |(_, count)| *count);
    if aggregates.visit_count == 0 {
        return 0;
    }
    let permille = u128::from(top) * 1000 / u128::from(aggregates.visit_count);
    u32::try_from(permille.min(1000)).unwrap_or(1000)
}

/// Scores one customer against `cutoffs` as of `as_of`.
pub fn score_rfm(aggregates: &Aggregates, as_of: DateTime<Utc>, cutoffs: &RfmCutoffs) -> RfmScores {
    let Some(days) = days_since_last_visit(aggregates, as_of) else {
        return RfmScores::LOWEST;
    };
    // One visit cannot show a repeated preference (module docs).
    let dish_preference = if aggregates.visit_count < 2 {
        1
    } else {
        points(
            |t| favourite_dish_share_permille(aggregates) >= *t,
            &cutoffs.dish_share_min_permille,
        )
    };
    RfmScores {
        recency: points(|t| days <= *t, &cutoffs.recency_max_days),
        frequency: points(
            |t| aggregates.visit_count >= *t,
            &cutoffs.frequency_min_visits,
        ),
        monetary: points(|t| aggregates.spend_fen >= *t, &cutoffs.monetary_min_fen),
        dish_preference,
    }
}

fn points<T>(reached: impl Fn(&T) -> bool, cutoffs: &[T; 4]) -> u8 {
    1 + cutoffs.iter().filter(|t| reached(t)).count() as u8
}

/// Quintile cut-offs over the chain's customers as of `as_of`.
///
/// Customers without a visit are left out (they score 1 everywhere). Dish
/// preference keeps the given share buckets: a share is already relative.
pub fn score_quintiles<'a>(
    population: impl IntoIterator<Item = &'a Aggregates>,
    as_of: DateTime<Utc>,
    dish_share_min_permille: [u32; 4],
) -> RfmCutoffs {
    let mut minus_days = Vec::new();
    let mut visits = Vec::new();
    let mut spend = Vec::new();
    for aggregates in population {
        if let Some(days) = days_since_last_visit(aggregates, as_of) {
            // Fewer days is better: negate so that higher is better throughout.
            minus_days.push(-i128::from(days));
            visits.push(i128::from(aggregates.visit_count));
            spend.push(i128::from(aggregates.spend_fen));
        }
    }
    let recency_floors = quintile_floors(minus_days);
    RfmCutoffs {
        recency_max_days: [3, 2, 1, 0].map(|k| clamp_i64(-recency_floors[k])),
        frequency_min_visits: quintile_floors(visits)
            .map(|v| u64::try_from(v.max(0)).unwrap_or(u64::MAX)),
        monetary_min_fen: quintile_floors(spend).map(clamp_i64),
        dish_share_min_permille,
    }
}

/// The smallest value that reaches scores 2, 3, 4 and 5 when higher is
/// better: one above the largest value of quintiles 1..4, so ties go down.
/// An empty population yields floors nobody reaches.
fn quintile_floors(mut values: Vec<i128>) -> [i128; 4] {
    values.sort_unstable();
    let n = values.len();
    [1usize, 2, 3, 4].map(|quintile| {
        // Last index inside the first `quintile` fifths: ceil(n*q/5) - 1.
        let last = (n * quintile).div_ceil(5).checked_sub(1);
        last.and_then(|i| values.get(i))
            .map_or(i128::MAX, |v| v + 1)
    })
}

fn clamp_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{
        aggregates::{DishOrdered, VisitFacts},
        ids::StoreId,
    };

    fn as_of() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
    }

    fn guest(days_ago: &[i64], amount_fen: i64, dish: &str) -> Aggregates {
        let visits: Vec<VisitFacts> = days_ago
            .iter()
            .map(|days| VisitFacts {
                store_id: StoreId::new("s"),
                visited_at: as_of() - Duration::days(*days),
                local_day: maitre_kit::visits::visit_day(
                    as_of() - Duration::days(*days),
                    chrono_tz::Asia::Shanghai,
                ),
                amount_fen,
                dishes: vec![DishOrdered {
                    dish_key: dish.into(),
                    category: "c".into(),
                }],
            })
            .collect();
        Aggregates::from_visits(&visits)
    }

    fn fixed() -> RfmCutoffs {
        RfmCutoffs {
            recency_max_days: [7, 30, 90, 180],
            frequency_min_visits: [2, 4, 8, 16],
            monetary_min_fen: [50_000, 100_000, 300_000, 1_000_000],
            dish_share_min_permille: DEFAULT_DISH_SHARE_MIN_PERMILLE,
        }
    }

    #[test]
    fn fixed_thresholds_score_each_dimension() {
        let regular = guest(&[3, 10, 20, 40], 30_000, "鱼");
        assert_eq!(
            score_rfm(&regular, as_of(), &fixed()),
            RfmScores {
                recency: 5,
                frequency: 3,
                monetary: 3,
                dish_preference: 5
            }
        );
        let lapsed = guest(&[200], 10_000, "鱼");
        assert_eq!(
            score_rfm(&lapsed, as_of(), &fixed()),
            RfmScores {
                recency: 1,
                frequency: 1,
                monetary: 1,
                dish_preference: 1
            }
        );
        assert_eq!(
            score_rfm(&Aggregates::default(), as_of(), &fixed()),
            RfmScores::LOWEST
        );
    }

    #[test]
    fn dish_share_uses_the_favourite_dish() {
        let mut mixed = guest(&[1, 2], 1, "鱼");
        mixed = Aggregates::merge(&mixed, &guest(&[3, 4], 1, "虾"));
        mixed = Aggregates::merge(&mixed, &guest(&[5], 1, "鱼"));
        assert_eq!(favourite_dish_share_permille(&mixed), 600);
        assert_eq!(score_rfm(&mixed, as_of(), &fixed()).dish_preference, 4);
    }

    #[test]
    fn quintiles_spread_ten_guests_two_per_score() {
        let guests: Vec<Aggregates> = (1..=10)
            // n visits on n days, the latest n days ago.
            .map(|n| guest(&(n..2 * n).collect::<Vec<_>>(), 10_000, "鱼"))
            .collect();
        let cutoffs = score_quintiles(&guests, as_of(), DEFAULT_DISH_SHARE_MIN_PERMILLE);
        let frequency: Vec<u8> = guests
            .iter()
            .map(|g| score_rfm(g, as_of(), &cutoffs).frequency)
            .collect();
        assert_eq!(frequency, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // The guest seen 1 day ago is the most recent: recency runs the other way.
        let recency: Vec<u8> = guests
            .iter()
            .map(|g| score_rfm(g, as_of(), &cutoffs).recency)
            .collect();
        assert_eq!(recency, [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    }

    #[test]
    fn quintile_ties_go_down_and_empty_population_reaches_nothing() {
        let same: Vec<Aggregates> = (0..7).map(|_| guest(&[5], 100, "鱼")).collect();
        let cutoffs = score_quintiles(&same, as_of(), DEFAULT_DISH_SHARE_MIN_PERMILLE);
        assert_eq!(score_rfm(&same[0], as_of(), &cutoffs).frequency, 1);
        let empty = score_quintiles(&[], as_of(), DEFAULT_DISH_SHARE_MIN_PERMILLE);
        assert_eq!(score_rfm(&same[0], as_of(), &empty).frequency, 1);
        assert_eq!(score_rfm(&same[0], as_of(), &empty).recency, 1);
    }

    proptest! {
        #[test]
        fn scores_are_in_range_and_monotone_in_visits(
            population in prop::collection::vec((1i64..400, 1usize..30, 0i64..1_000_000), 0..40),
        ) {
            let guests: Vec<Aggregates> = population
                .iter()
                .map(|(days, visits, amount)| guest(&vec![*days; *visits], *amount, "鱼"))
                .collect();
            let cutoffs = score_quintiles(&guests, as_of(), DEFAULT_DISH_SHARE_MIN_PERMILLE);
            for a in &guests {
                let sa = score_rfm(a, as_of(), &cutoffs);
                for s in [sa.recency, sa.frequency, sa.monetary, sa.dish_preference] {
                    prop_assert!((1..=5).contains(&s));
                }
                for b in &guests {
                    if a.visit_count >= b.visit_count {
                        prop_assert!(sa.frequency >= score_rfm(b, as_of(), &cutoffs).frequency);
                    }
                }
            }
        }
    }
}
