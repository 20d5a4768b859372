//! The balance pick: the one rule shared by the Redis script (atomic across replicas) and
//! the in-process coordinator, so both can be checked against this pure version.
//!
//! Rule: among the candidates not at their ceiling, the lowest score wins; ties are broken
//! by rotation — the first tied candidate at or after index `tie_offset % len` in roster
//! order, cyclic, where `len` is the number of candidates passed (capped ones included).
//! A candidate missing from `scores` (or from the ceiling counts) scores 0. A candidate
//! with no entry in the ceiling limits has no ceiling.
//!
//! Fairness comes from the caller's `tie_offset`: pass a per-store counter that advances
//! with every pick and is never reset by day or month. Resetting it daily would give
//! roster position 0 the first tie of every day and so the remainder of every uneven day.

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
/// candidates or all are at their ceiling. See the module docs for the exact rule.
pub fn pick_even(
    scores: &Tally,
    candidates: &[ManagerId],
    tie_offset: u64,
    ceiling: Option<Ceiling<'_>>,
) -> Option<usize> {
    let len = candidates.len();
    if len == 0 {
        return None;
    }
    let open = |candidate: &ManagerId| ceiling.is_none_or(|c| !c.is_reached(candidate));
    let lowest = candidates
        .iter()
        .filter(|c| open(c))
        .map(|c| tally_of(scores, c))
        .min()?;
    // `len` fits in u64 on every supported target, and the remainder is < len.
    let start = usize::try_from(tie_offset % len as u64).unwrap_or(0);
    (0..len).map(|step| (start + step) % len).find(|&index| {
        let candidate = &candidates[index];
        open(candidate) && tally_of(scores, candidate) == lowest
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        /// The winner has the lowest open score, and no open tied candidate lies between
        /// the rotation start and the winner (cyclically).
        #[test]
        fn pick_matches_the_rule(
            scores in proptest::collection::vec(0u64..4, 1..8),
            counts in proptest::collection::vec(0u64..4, 8),
            limits in proptest::collection::vec(proptest::option::of(0u64..4), 8),
            tie_offset in any::<u64>(),
        ) {
            let candidates: Vec<ManagerId> = (0..scores.len()).map(|i| ManagerId::new(format!("m{i}"))).collect();
            let score_tally: Tally = candidates.iter().cloned().zip(scores.iter().copied()).collect();
            let count_tally: Tally = candidates.iter().cloned().zip(counts.iter().copied()).collect();
            let limit_tally: Tally = candidates.iter().cloned().zip(limits.iter().copied())
                .filter_map(|(c, l)| l.map(|l| (c, l))).collect();
            let ceiling = Ceiling { counts: &count_tally, limits: &limit_tally };
            let len = candidates.len();
            let open: Vec<bool> = candidates.iter().map(|c| !ceiling.is_reached(c)).collect();
            match pick_even(&score_tally, &candidates, tie_offset, Some(ceiling)) {
                None => prop_assert!(open.iter().all(|o| !o)),
                Some(winner) => {
                    prop_assert!(open[winner]);
                    let lowest = (0..len).filter(|&i| open[i]).map(|i| scores[i]).min();
                    prop_assert_eq!(Some(scores[winner]), lowest);
                    let start = (tie_offset % len as u64) as usize;
                    let mut index = start;
                    while index != winner {
                        prop_assert!(!(open[index] && scores[index] == scores[winner]));
                        index = (index + 1) % len;
                    }
                }
            }
        }
    }
}
