//! Per-customer aggregates kept current as visits arrive.
//!
//! Visits, spend, average ticket, first/last visit, favourite dishes and
//! categories, and the same figures per store. A visit is what `maitre_kit::visits`
//! says it is: orders on one store-local day count once (the days are kept, so a second
//! order that day adds its spend but no visit). Counts are kept in full (not
//! only the top N) so that [`Aggregates::merge`] of two customers equals
//! recomputing from the union of their visits — the invariant customer
//! merges rely on. Favourites are cut to the top N on read.
//!
//! A dish or category counts once per visit however many portions were
//! ordered: a preference is how often a guest chooses something, and one
//! table ordering ten bowls of rice should not make rice their favourite.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::StoreId;

/// One dish on a visit, keyed by menu id or, failing that, channel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DishOrdered {
    pub dish_key: String,
    pub category: String,
}

/// What one validated visit contributes to the aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitFacts {
    pub store_id: StoreId,
    pub visited_at: DateTime<Utc>,
    /// The store-local day of the order (`maitre_kit::visits::visit_day` in the store's zone).
    pub local_day: i32,
    pub amount_fen: i64,
    pub dishes: Vec<DishOrdered>,
}

/// Visit figures for one store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreFigures {
    pub visit_count: u64,
    /// Store-local days with an order here (days since 1970).
    #[serde(default)]
    pub visit_days: BTreeSet<i32>,
    pub spend_fen: i64,
    pub first_visit_at: Option<DateTime<Utc>>,
    pub last_visit_at: Option<DateTime<Utc>>,
}

impl StoreFigures {
    pub fn average_ticket_fen(&self) -> Option<i64> {
        average_fen(self.spend_fen, self.visit_count)
    }

    fn add(
        &mut self,
        visits: (u64, &BTreeSet<i32>),
        spend_fen: i64,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
    ) {
        self.visit_count = merged_visits((self.visit_count, &self.visit_days), visits);
        self.visit_days.extend(visits.1.iter().copied());
        self.spend_fen = self.spend_fen.saturating_add(spend_fen);
        self.first_visit_at = earliest(self.first_visit_at, first);
        self.last_visit_at = latest(self.last_visit_at, last);
    }
}

/// A customer's aggregates across the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Aggregates {
    pub visit_count: u64,
    /// Store-local days with an order (days since 1970): the visits. Rows written before
    /// days were kept have fewer days than `visit_count`; those visits stay counted.
    pub visit_days: BTreeSet<i32>,
    pub spend_fen: i64,
    pub first_visit_at: Option<DateTime<Utc>>,
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Visits on which each dish was ordered.
    pub dish_visit_counts: BTreeMap<String, u64>,
    /// Visits on which each category was ordered.
    pub category_visit_counts: BTreeMap<String, u64>,
    pub per_store: BTreeMap<StoreId, StoreFigures>,
}

impl Aggregates {
    /// Aggregates recomputed from scratch over `visits`.
    pub fn from_visits<'a>(visits: impl IntoIterator<Item = &'a VisitFacts>) -> Self {
        let mut aggregates = Self::default();
        for visit in visits {
            aggregates.apply_visit(visit);
        }
        aggregates
    }

    /// Adds one visit. Order of application does not matter.
    pub fn apply_visit(&mut self, visit: &VisitFacts) {
        let at = Some(visit.visited_at);
        let day = BTreeSet::from([visit.local_day]);
        self.visit_count = merged_visits((self.visit_count, &self.visit_days), (1, &day));
        self.visit_days.insert(visit.local_day);
        self.spend_fen = self.spend_fen.saturating_add(visit.amount_fen);
        self.first_visit_at = earliest(self.first_visit_at, at);
        self.last_visit_at = latest(self.last_visit_at, at);

        let dishes: BTreeSet<&str> = visit.dishes.iter().map(|d| d.dish_key.as_str()).collect();
        let categories: BTreeSet<&str> = visit.dishes.iter().map(|d| d.category.as_str()).collect();
        for dish in dishes {
            bump(&mut self.dish_visit_counts, dish, 1);
        }
        for category in categories {
            bump(&mut self.category_visit_counts, category, 1);
        }
        self.per_store
            .entry(visit.store_id.clone())
            .or_default()
            .add((1, &day), visit.amount_fen, at, at);
    }

    /// The aggregates of one customer formed by merging two.
    pub fn merge(a: &Aggregates, b: &Aggregates) -> Aggregates {
        let mut merged = a.clone();
        merged.visit_count = merged_visits(
            (a.visit_count, &a.visit_days),
            (b.visit_count, &b.visit_days),
        );
        merged.visit_days.extend(b.visit_days.iter().copied());
        merged.spend_fen = merged.spend_fen.saturating_add(b.spend_fen);
        merged.first_visit_at = earliest(a.first_visit_at, b.first_visit_at);
        merged.last_visit_at = latest(a.last_visit_at, b.last_visit_at);
        for (dish, count) in &b.dish_visit_counts {
            bump(&mut merged.dish_visit_counts, dish, *count);
        }
        for (category, count) in &b.category_visit_counts {
            bump(&mut merged.category_visit_counts, category, *count);
        }
        for (store, figures) in &b.per_store {
            merged.per_store.entry(store.clone()).or_default().add(
                (figures.visit_count, &figures.visit_days),
                figures.spend_fen,
                figures.first_visit_at,
                figures.last_visit_at,
            );
        }
        merged
    }

    /// Spend per visit, rounded half up; `None` before the first visit.
    pub fn average_ticket_fen(&self) -> Option<i64> {
        average_fen(self.spend_fen, self.visit_count)
    }

    /// The `n` dishes ordered on the most visits, ties by key.
    pub fn favourite_dishes(&self, n: usize) -> Vec<(&str, u64)> {
        top_n(&self.dish_visit_counts, n)
    }

    /// The `n` categories ordered on the most visits, ties by name.
    pub fn favourite_categories(&self, n: usize) -> Vec<(&str, u64)> {
        top_n(&self.category_visit_counts, n)
    }
}

/// Visits of two sets of orders together: the distinct days of both
/// (`maitre_kit::visits::count_visits`), plus the visits either counted before days were kept.
fn merged_visits(a: (u64, &BTreeSet<i32>), b: (u64, &BTreeSet<i32>)) -> u64 {
    let undated = |(count, days): (u64, &BTreeSet<i32>)| count.saturating_sub(days.len() as u64);
    let days = maitre_kit::visits::count_visits(a.1.iter().chain(b.1.iter()));
    days.saturating_add(undated(a)).saturating_add(undated(b))
}

fn bump(counts: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    match counts.get_mut(key) {
        Some(count) => *count = count.saturating_add(by),
        None => {
            counts.insert(key.to_owned(), by);
        }
    }
}

fn top_n(counts: &BTreeMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut ranked: Vec<(&str, u64)> = counts.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    // BTreeMap iteration is by key, and the sort is stable: ties stay by key.
    ranked.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    ranked.truncate(n);
    ranked
}

fn average_fen(spend_fen: i64, visits: u64) -> Option<i64> {
    let visits = i128::from(visits);
    if visits == 0 {
        return None;
    }
    let spend = i128::from(spend_fen);
    let rounded = (2 * spend + visits).div_euclid(2 * visits);
    i64::try_from(rounded).ok()
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn visit(store: &str, day: i64, amount_fen: i64, dishes: &[(&str, &str)]) -> VisitFacts {
        let visited_at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + Duration::days(day);
        VisitFacts {
            store_id: StoreId::new(store),
            visited_at,
            local_day: maitre_kit::visits::visit_day(visited_at, chrono_tz::Asia::Shanghai),
            amount_fen,
            dishes: dishes
                .iter()
                .map(|(dish, category)| DishOrdered {
                    dish_key: (*dish).to_owned(),
                    category: (*category).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn apply_visit_keeps_totals_and_dates() {
        let visits = [
            visit(
                "s1",
                5,
                30_000,
                &[("清蒸石斑", "seafood"), ("米饭", "staple")],
            ),
            visit(
                "s1",
                1,
                10_000,
                &[("清蒸石斑", "seafood"), ("清蒸石斑", "seafood")],
            ),
            visit("s2", 9, 20_001, &[("龙虾", "seafood")]),
        ];
        let aggregates = Aggregates::from_visits(&visits);
        assert_eq!(aggregates.visit_count, 3);
        assert_eq!(aggregates.spend_fen, 60_001);
        assert_eq!(aggregates.average_ticket_fen(), Some(20_000));
        assert_eq!(aggregates.first_visit_at, Some(visits[1].visited_at));
        assert_eq!(aggregates.last_visit_at, Some(visits[2].visited_at));
        assert_eq!(aggregates.favourite_dishes(1), [("清蒸石斑", 2)]);
        assert_eq!(
            aggregates.favourite_categories(5),
            [("seafood", 3), ("staple", 1)]
        );
        let s1 = &aggregates.per_store[&StoreId::new("s1")];
        assert_eq!((s1.visit_count, s1.spend_fen), (2, 40_000));
        assert_eq!(s1.average_ticket_fen(), Some(20_000));
        assert_eq!(s1.first_visit_at, Some(visits[1].visited_at));
    }

    #[test]
    fn orders_on_one_store_local_day_are_one_visit() {
        // Two orders on day 3 (lunch and a late supper) and one on day 4.
        let mut late = visit("s1", 3, 5_000, &[]);
        late.visited_at += Duration::hours(3);
        let visits = [
            visit("s1", 3, 10_000, &[]),
            late,
            visit("s1", 4, 6_000, &[]),
        ];
        let aggregates = Aggregates::from_visits(&visits);
        assert_eq!(aggregates.visit_count, 2);
        assert_eq!(aggregates.spend_fen, 21_000);
        assert_eq!(aggregates.average_ticket_fen(), Some(10_500));
        assert_eq!(aggregates.per_store[&StoreId::new("s1")].visit_count, 2);
        // A row stored before days were kept: its 5 counted visits stay counted.
        let legacy = Aggregates {
            visit_count: 5,
            ..Aggregates::default()
        };
        assert_eq!(Aggregates::merge(&legacy, &aggregates).visit_count, 7);
    }

    #[test]
    fn average_ticket_rounds_half_up_and_is_none_without_visits() {
        assert_eq!(Aggregates::default().average_ticket_fen(), None);
        assert_eq!(average_fen(5, 2), Some(3));
        assert_eq!(average_fen(4, 3), Some(1));
    }

    #[test]
    fn favourites_tie_break_by_key() {
        let aggregates = Aggregates::from_visits(&[visit("s", 0, 1, &[("b", "x"), ("a", "x")])]);
        assert_eq!(aggregates.favourite_dishes(2), [("a", 1), ("b", 1)]);
    }

    fn arb_visit() -> impl Strategy<Value = VisitFacts> {
        (
            prop::sample::select(vec!["s1", "s2", "s3"]),
            0i64..400,
            0i64..10_000_000,
            prop::collection::vec(
                (
                    prop::sample::select(vec!["鱼", "虾", "饭", "汤"]),
                    prop::sample::select(vec!["a", "b"]),
                ),
                0..5,
            ),
        )
            .prop_map(|(store, day, amount, dishes)| visit(store, day, amount, &dishes))
    }

    proptest! {
        #[test]
        fn merge_equals_recompute_over_the_union(
            left in prop::collection::vec(arb_visit(), 0..12),
            right in prop::collection::vec(arb_visit(), 0..12),
        ) {
            let merged = Aggregates::merge(&Aggregates::from_visits(&left), &Aggregates::from_visits(&right));
            let union = Aggregates::from_visits(left.iter().chain(&right));
            prop_assert_eq!(&merged, &union);
            let swapped = Aggregates::merge(&Aggregates::from_visits(&right), &Aggregates::from_visits(&left));
            prop_assert_eq!(swapped, union);
        }
    }
}
