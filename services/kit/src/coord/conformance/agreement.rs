//! Agreement of two implementations on the even split: the in-process backend runs
//! [`pick_winner`](crate::coord::pick_winner), the Redis backend runs its Lua twin
//! (`lua/balance_pick.lua`, atomic next to the data). [`same_picks`] replays one random
//! history ([`pick_history`]: a roster, balances already counted, members missing from them
//! or no longer on the roster, a ceiling that fills up, tie offsets near `u64::MAX`) on both
//! and asserts the same winner and new score at every step and the same balances at the end.
//!
//! A property test drives it with proptest (shrinking to the smallest disagreeing history):
//! `proptest! { fn t(history in pick_history()) { block_on(same_picks(a, b, &history, ns)) } }`.

use std::time::Duration;

use proptest::prelude::*;

use crate::coord::{Coordination, Pick};

/// Picks replayed per history (the ceiling fills up, ties rotate).
const PICKS: usize = 12;
const TTL: Duration = Duration::from_secs(60);

/// One random case: a roster, the history already in the balances, and a ceiling.
#[derive(Clone, Debug)]
pub struct PickHistory {
    /// The roster, in order.
    pub candidates: Vec<String>,
    /// Scores seeded into the picked balance (a member left out scores 0; some belong to a
    /// member no longer on the roster, whom the pick must ignore).
    pub counted: Vec<(String, i64)>,
    /// The ceiling balance's scores and its maximum; the winner of each pick is counted there
    /// too, as a monthly cap fills up.
    pub ceiling: Option<(Vec<(String, i64)>, i64)>,
    /// The first pick's tie offset; each later pick adds one.
    pub tie_offset: u64,
}

fn roster(len: usize) -> Vec<String> {
    (0..len).map(|i| format!("m{i}")).collect()
}

/// Scores for some of `len` roster members (`None` = not in the balance).
fn scores(len: usize, max: i64) -> impl Strategy<Value = Vec<(String, i64)>> {
    proptest::collection::vec(proptest::option::weighted(0.75, 0..max), len).prop_map(|scores| {
        scores
            .into_iter()
            .enumerate()
            .filter_map(|(i, score)| score.map(|score| (format!("m{i}"), score)))
            .collect()
    })
}

/// Random rosters (empty included) and histories.
pub fn pick_history() -> impl Strategy<Value = PickHistory> {
    (0usize..7).prop_flat_map(|len| {
        (
            scores(len, 4),
            any::<bool>(),
            proptest::option::weighted(0.4, (scores(len, 5), 1i64..5)),
            prop_oneof![3 => 0u64..50, 1 => (u64::MAX - 10)..=u64::MAX],
        )
            .prop_map(move |(mut counted, departed, ceiling, tie_offset)| {
                if departed {
                    counted.push(("left-the-store".to_owned(), 0));
                }
                PickHistory {
                    candidates: roster(len),
                    counted,
                    ceiling,
                    tie_offset,
                }
            })
    })
}

async fn seed(c: &dyn Coordination, key: &str, entries: &[(String, i64)]) {
    if !entries.is_empty() {
        super::ok(c.balance_seed(key, entries, Some(TTL)).await, "seed");
    }
}

/// Every step's outcome and the balances at the end, for `history` replayed under `keys`.
async fn replay(
    c: &dyn Coordination,
    history: &PickHistory,
    keys: &str,
) -> (Vec<Option<(String, i64)>>, Vec<(String, i64)>) {
    let (day, month, cap) = (
        format!("{keys}:day"),
        format!("{keys}:month"),
        format!("{keys}:cap"),
    );
    seed(c, &day, &history.counted).await;
    if let Some((counts, _)) = &history.ceiling {
        seed(c, &cap, counts).await;
    }
    let also = [month.as_str()];
    let mut outcomes = Vec::with_capacity(PICKS);
    for step in 0..PICKS {
        let pick = Pick {
            balance: &day,
            candidates: &history.candidates,
            tie_offset: history.tie_offset.wrapping_add(step as u64),
            ceiling: history
                .ceiling
                .as_ref()
                .map(|(_, max)| (cap.as_str(), *max)),
            also_increment: &also,
            ttl: Some(TTL),
            seeded_only: false,
        };
        let outcome = super::ok(c.balance_pick(pick).await, "pick");
        if let (Some((winner, _)), Some(_)) = (&outcome, &history.ceiling) {
            super::ok(c.balance_add(&cap, winner, 1, Some(TTL)).await, "ceiling");
        }
        outcomes.push(outcome);
    }
    let mut end = super::ok(c.balance_scores(&day).await, "day scores");
    end.extend(super::ok(c.balance_scores(&month).await, "month scores"));
    (outcomes, end)
}

/// Replays `history` on both implementations under the fresh key namespace `keys` and
/// asserts they pick alike at every step and end with the same balances.
pub async fn same_picks(
    reference: &dyn Coordination,
    other: &dyn Coordination,
    history: &PickHistory,
    keys: &str,
) {
    let expected = replay(reference, history, keys).await;
    let got = replay(other, history, keys).await;
    assert_eq!(
        expected, got,
        "the two coordination backends pick differently for {history:?}"
    );
}
