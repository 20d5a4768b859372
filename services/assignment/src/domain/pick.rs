//! The balance pick over domain tallies. The rule itself is [`maitre_kit::coord::pick_winner`],
//! the one implementation every path runs (the in-process coordinator, this database
//! fallback, and — proven equal by kit's agreement test — the Redis script). This module only
//! turns tallies and per-manager ceilings into that function's scores.
//!
//! A candidate missing from `scores` (or from the ceiling counts) scores 0. A candidate with
//! no entry in the ceiling limits has no ceiling.

use crate::domain::ids::ManagerId;
use crate::domain::roster::{Tally, tally_of};

/// An upper bound per candidate on another counter (e.g. customers received today under
/// 按月均分, or free capacity during a bulk transfer). A candidate with
/// `counts[c] >= limits[c]` cannot be picked.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling<'a> {
    pub counts: &'a Tally,
    pub limits: &'a Tally,
}

impl Ceiling<'_> {
    pub fn is_reached(&self, manager_id: &ManagerId) -> bool {
        self.limits
            .get(manager_id)
            .is_some_and(|limit| tally_of(self.counts, manager_id) >= *limit)
    }
}

/// The balance pick: the index in `candidates` of the winner, `None` when there are no
/// candidates or all are at their ceiling. See [`maitre_kit::coord::pick_winner`] for the rule.
pub fn pick_even(
    scores: &Tally,
    candidates: &[ManagerId],
    tie_offset: u64,
    ceiling: Option<Ceiling<'_>>,
) -> Option<usize> {
    let scores: Vec<Option<i64>> = candidates
        .iter()
        .map(|candidate| {
            let open = ceiling.is_none_or(|c| !c.is_reached(candidate));
            // Tallies are counts of customers; they never approach i64::MAX.
            open.then(|| i64::try_from(tally_of(scores, candidate)).unwrap_or(i64::MAX))
        })
        .collect();
    maitre_kit::coord::pick_winner(&scores, tie_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<ManagerId> {
        names.iter().map(|n| ManagerId::from(*n)).collect()
    }

    fn tally(pairs: &[(&str, u64)]) -> Tally {
        pairs
            .iter()
            .map(|(n, v)| (ManagerId::from(*n), *v))
            .collect()
    }

    #[test]
    fn lowest_score_wins() {
        let candidates = ids(&["a", "b", "c"]);
        let scores = tally(&[("a", 3), ("b", 1), ("c", 2)]);
        assert_eq!(pick_even(&scores, &candidates, 0, None), Some(1));
        assert_eq!(pick_even(&scores, &candidates, 2, None), Some(1));
    }

    #[test]
    fn ties_rotate_from_the_offset_cyclically() {
        let candidates = ids(&["a", "b", "c", "d"]);
        let scores = tally(&[("a", 1), ("b", 2), ("c", 1), ("d", 2)]);
        // tied: a (0) and c (2)
        assert_eq!(pick_even(&scores, &candidates, 0, None), Some(0));
        assert_eq!(pick_even(&scores, &candidates, 1, None), Some(2));
        assert_eq!(pick_even(&scores, &candidates, 2, None), Some(2));
        assert_eq!(pick_even(&scores, &candidates, 3, None), Some(0));
        assert_eq!(pick_even(&scores, &candidates, 7, None), Some(0));
        assert_eq!(pick_even(&scores, &candidates, u64::MAX, None), Some(0)); // MAX % 4 == 3
    }

    #[test]
    fn missing_scores_count_zero() {
        let candidates = ids(&["a", "b"]);
        let scores = tally(&[("a", 1)]);
        assert_eq!(pick_even(&scores, &candidates, 0, None), Some(1));
    }

    #[test]
    fn ceiling_excludes_and_can_empty_the_pick() {
        let candidates = ids(&["a", "b", "c"]);
        let scores = tally(&[("a", 0), ("b", 5), ("c", 9)]);
        let today = tally(&[("a", 3), ("b", 1)]);
        let limits = tally(&[("a", 3), ("b", 3), ("c", 3)]);
        let ceiling = Ceiling {
            counts: &today,
            limits: &limits,
        };
        assert_eq!(pick_even(&scores, &candidates, 0, Some(ceiling)), Some(1));
        let full = tally(&[("a", 3), ("b", 3), ("c", 4)]);
        let ceiling = Ceiling {
            counts: &full,
            limits: &limits,
        };
        assert_eq!(pick_even(&scores, &candidates, 0, Some(ceiling)), None);
        assert_eq!(pick_even(&scores, &[], 0, None), None);
    }

    #[test]
    fn no_limit_means_no_ceiling() {
        let candidates = ids(&["a"]);
        let counts = tally(&[("a", 1_000)]);
        let limits = Tally::new();
        let ceiling = Ceiling {
            counts: &counts,
            limits: &limits,
        };
        assert_eq!(
            pick_even(&Tally::new(), &candidates, 0, Some(ceiling)),
            Some(0)
        );
    }
}
