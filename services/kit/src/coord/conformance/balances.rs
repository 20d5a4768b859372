//! Properties of balances: seeding, picks (even split, rotation, ceilings) and concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::sleep;

use super::{LONG_TTL, PAST_SHORT_TTL, SHORT_TTL, ok};
use crate::coord::{CoordError, Coordination, Pick};

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn entries(scores: &[(&str, i64)]) -> Vec<(String, i64)> {
    scores
        .iter()
        .map(|(member, score)| ((*member).to_owned(), *score))
        .collect()
}

fn plain_pick<'a>(balance: &'a str, candidates: &'a [String], tie_offset: u64) -> Pick<'a> {
    Pick {
        balance,
        candidates,
        tie_offset,
        ceiling: None,
        also_increment: &[],
        ttl: Some(LONG_TTL),
        seeded_only: false,
    }
}

async fn seed(c: &dyn Coordination, key: &str, scores: &[(&str, i64)]) {
    let seeded = ok(
        c.balance_seed(key, &entries(scores), Some(LONG_TTL)).await,
        "seed",
    );
    assert!(seeded, "seeding the absent balance {key} must succeed");
}

async fn score_of(c: &dyn Coordination, key: &str, member: &str) -> Option<i64> {
    ok(c.balance_scores(key).await, "scores")
        .into_iter()
        .find(|(name, _)| name == member)
        .map(|(_, score)| score)
}

/// The lowest score wins and is incremented; a member missing from the balance scores 0;
/// balance members that are not candidates are ignored.
pub async fn balance_pick_prefers_lowest(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:pick:lowest";
    seed(c, key, &[("a", 3), ("b", 1), ("c", 2), ("outsider", -5)]).await;
    let candidates = members(&["a", "b", "c"]);
    let picked = ok(
        c.balance_pick(plain_pick(key, &candidates, 0)).await,
        "pick",
    );
    assert_eq!(
        picked,
        Some(("b".to_owned(), 2)),
        "lowest score must win, +1"
    );
    let with_new = members(&["a", "b", "newcomer"]);
    let picked = ok(
        c.balance_pick(plain_pick(key, &with_new, 0)).await,
        "pick newcomer",
    );
    assert_eq!(
        picked,
        Some(("newcomer".to_owned(), 1)),
        "a missing member scores 0"
    );
}

/// Ties go to the first tied candidate at or after `tie_offset % len`, wrapping around.
pub async fn balance_pick_rotates_ties(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let candidates = members(&["a", "b", "c", "d"]);
    let all_tied = [("a", 0), ("b", 0), ("c", 0), ("d", 0)];
    // (balance, seeded scores, tie_offset, expected winner)
    let cases = [
        ("conformance:tie:offset", all_tied, 2, "c"),
        ("conformance:tie:modulo", all_tied, 5, "b"),
        (
            "conformance:tie:skip",
            [("a", 1), ("b", 0), ("c", 1), ("d", 0)],
            2,
            "d",
        ),
        (
            "conformance:tie:wrap",
            [("a", 0), ("b", 1), ("c", 1), ("d", 1)],
            2,
            "a",
        ),
        ("conformance:tie:huge", all_tied, u64::MAX, "d"),
    ];
    for (key, scores, tie_offset, expected) in cases {
        seed(c, key, &scores).await;
        let picked = ok(
            c.balance_pick(plain_pick(key, &candidates, tie_offset))
                .await,
            key,
        );
        assert_eq!(
            picked.map(|(member, _)| member).as_deref(),
            Some(expected),
            "{key}: tie_offset {tie_offset} must pick {expected}"
        );
    }
}

/// Candidates at or over the ceiling in the other balance are skipped (and the ceiling
/// balance is not incremented); all at the ceiling gives None.
pub async fn balance_pick_respects_ceiling(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let daily = "conformance:ceiling:daily";
    let capacity = "conformance:ceiling:open";
    seed(c, daily, &[("a", 0), ("b", 3)]).await;
    seed(c, capacity, &[("a", 5), ("b", 2)]).await;
    let candidates = members(&["a", "b"]);
    let pick = Pick {
        ceiling: Some((capacity, 5)),
        ..plain_pick(daily, &candidates, 0)
    };
    assert_eq!(
        ok(c.balance_pick(pick).await, "pick under ceiling"),
        Some(("b".to_owned(), 4)),
        "a candidate at the ceiling must be skipped even with the lowest score"
    );
    assert_eq!(
        score_of(c, capacity, "b").await,
        Some(2),
        "ceiling balance is only read"
    );
    let full = Pick {
        ceiling: Some((capacity, 2)),
        ..plain_pick(daily, &candidates, 0)
    };
    assert_eq!(
        ok(c.balance_pick(full).await, "pick all full"),
        None,
        "no candidate under the ceiling must give None"
    );
    assert_eq!(
        score_of(c, daily, "b").await,
        Some(4),
        "a None pick must change nothing"
    );
}

/// The winner is also counted in every `also_increment` balance (missing member -> 1).
pub async fn balance_pick_also_increments(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let daily = "conformance:also:daily";
    let monthly = "conformance:also:monthly";
    let yearly = "conformance:also:yearly";
    seed(c, daily, &[("a", 1), ("b", 0)]).await;
    seed(c, monthly, &[("a", 10), ("b", 7)]).await;
    let candidates = members(&["a", "b"]);
    let also = [monthly, yearly];
    let pick = Pick {
        also_increment: &also,
        ..plain_pick(daily, &candidates, 0)
    };
    assert_eq!(
        ok(c.balance_pick(pick).await, "pick"),
        Some(("b".to_owned(), 1))
    );
    assert_eq!(
        score_of(c, monthly, "b").await,
        Some(8),
        "also_increment must add 1"
    );
    assert_eq!(
        score_of(c, monthly, "a").await,
        Some(10),
        "only the winner is counted"
    );
    assert_eq!(
        score_of(c, yearly, "b").await,
        Some(1),
        "a missing balance starts at 0"
    );
}

/// A seeded-only pick refuses a missing balance (also a missing companion) and writes
/// nothing; on seeded balances it picks as any pick.
pub async fn balance_pick_seeded_only(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let (day, month) = ("conformance:seeded:day", "conformance:seeded:month");
    let candidates = vec!["a".to_owned(), "b".to_owned()];
    let also = [month];
    let pick = Pick {
        also_increment: &also,
        seeded_only: true,
        ..plain_pick(day, &candidates, 0)
    };
    match c.balance_pick(pick).await {
        Err(CoordError::Unseeded { key }) => assert_eq!(key, day),
        other => panic!("a pick on a missing balance must be refused, got {other:?}"),
    }
    seed(c, day, &[("a", 1), ("b", 0)]).await;
    match c.balance_pick(pick).await {
        Err(CoordError::Unseeded { key }) => assert_eq!(key, month),
        other => panic!("a pick with a missing companion must be refused, got {other:?}"),
    }
    assert_eq!(
        ok(c.balance_scores(day).await, "scores after refusals"),
        entries(&[("b", 0), ("a", 1)]),
        "a refused pick writes nothing"
    );
    assert!(!ok(c.balance_exists(month).await, "month exists"));
    seed(c, month, &[("a", 0), ("b", 0)]).await;
    assert_eq!(
        ok(c.balance_pick(pick).await, "seeded pick"),
        Some(("b".to_owned(), 1))
    );
    assert_eq!(
        ok(c.balance_scores(month).await, "month after the pick"),
        entries(&[("a", 0), ("b", 1)])
    );
}

/// No candidates: None, and nothing is written.
pub async fn balance_pick_without_candidates(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:pick:none";
    let none: Vec<String> = Vec::new();
    assert_eq!(
        ok(
            c.balance_pick(plain_pick(key, &none, 3)).await,
            "empty pick"
        ),
        None
    );
    assert!(
        !ok(c.balance_exists(key).await, "exists"),
        "an empty pick must not create state"
    );
}

/// Seeding writes only an absent balance; empty entries store nothing.
pub async fn balance_seed_only_when_absent(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:seed";
    assert!(
        !ok(c.balance_exists(key).await, "exists before"),
        "fresh balance must be absent"
    );
    seed(c, key, &[("a", 2), ("b", 0)]).await;
    assert!(
        ok(c.balance_exists(key).await, "exists after"),
        "seeded balance must exist"
    );
    let overwrite = entries(&[("a", 100)]);
    let again = c.balance_seed(key, &overwrite, Some(LONG_TTL)).await;
    assert!(
        !ok(again, "reseed"),
        "seeding a present balance must be refused"
    );
    assert_eq!(
        ok(c.balance_scores(key).await, "scores"),
        entries(&[("b", 0), ("a", 2)]),
        "a refused seed must not overwrite"
    );
    let empty = "conformance:seed:empty";
    assert!(!ok(c.balance_seed(empty, &[], None).await, "empty seed"));
    assert!(
        !ok(c.balance_exists(empty).await, "empty exists"),
        "empty seed stores nothing"
    );
}

/// balance_add returns the new score (negative deltas too); scores list by score then member.
pub async fn balance_add_and_scores(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:add";
    assert_eq!(
        ok(c.balance_add(key, "m", 3, Some(LONG_TTL)).await, "add"),
        3
    );
    assert_eq!(ok(c.balance_add(key, "m", -1, None).await, "subtract"), 2);
    assert_eq!(ok(c.balance_add(key, "k", 2, None).await, "add k"), 2);
    assert_eq!(ok(c.balance_add(key, "z", -4, None).await, "add z"), -4);
    assert_eq!(
        ok(c.balance_scores(key).await, "scores"),
        entries(&[("z", -4), ("k", 2), ("m", 2)]),
        "scores must be ordered by score, then member"
    );
    assert!(ok(c.balance_scores("conformance:add:absent").await, "absent").is_empty());
}

/// TTLs of seeds and picks apply to every balance they touch.
pub async fn balances_expire_after_ttl(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let seeded = "conformance:bttl:seeded";
    let picked = "conformance:bttl:picked";
    let also = "conformance:bttl:also";
    let entries = entries(&[("a", 1)]);
    assert!(ok(
        c.balance_seed(seeded, &entries, Some(SHORT_TTL)).await,
        "seed"
    ));
    let candidates = members(&["a"]);
    let also_increment = [also];
    let pick = Pick {
        also_increment: &also_increment,
        ttl: Some(SHORT_TTL),
        ..plain_pick(picked, &candidates, 0)
    };
    assert!(ok(c.balance_pick(pick).await, "pick").is_some());
    sleep(PAST_SHORT_TTL).await;
    for key in [seeded, picked, also] {
        assert!(
            !ok(c.balance_exists(key).await, key),
            "{key} must expire with its TTL"
        );
    }
}

/// 200 concurrent picks over 7 candidates end within one of even (ARCHITECTURE.md: "even
/// splits stay within one customer of even").
pub async fn even_split_stays_within_one(coordination: Arc<dyn Coordination>) {
    const PICKS: u64 = 200;
    let key = "conformance:even";
    let candidates = Arc::new(members(&["m1", "m2", "m3", "m4", "m5", "m6", "m7"]));
    let mut tasks = Vec::new();
    for pick_number in 0..PICKS {
        let (coordination, candidates) = (Arc::clone(&coordination), Arc::clone(&candidates));
        tasks.push(tokio::spawn(async move {
            let pick = plain_pick(key, &candidates, pick_number);
            ok(coordination.balance_pick(pick).await, "concurrent pick")
        }));
    }
    let mut winners: HashMap<String, i64> = HashMap::new();
    for task in tasks {
        let picked = task.await.expect("pick task must not panic");
        let (member, _) = picked.expect("every pick has candidates");
        *winners.entry(member).or_default() += 1;
    }
    let scores: HashMap<String, i64> = ok(c_scores(&coordination, key).await, "scores");
    assert_eq!(scores, winners, "balance must equal the picks handed out");
    assert_eq!(
        scores.len(),
        candidates.len(),
        "every candidate must receive some"
    );
    let (low, high) = (scores.values().min(), scores.values().max());
    let (Some(low), Some(high)) = (low, high) else {
        panic!("no scores after {PICKS} picks");
    };
    assert!(
        high - low <= 1,
        "even split off by more than one: {scores:?}"
    );
    assert_eq!(
        scores.values().sum::<i64>(),
        PICKS as i64,
        "every pick is counted once"
    );
}

async fn c_scores(
    coordination: &Arc<dyn Coordination>,
    key: &str,
) -> crate::coord::CoordResult<HashMap<String, i64>> {
    Ok(coordination
        .balance_scores(key)
        .await?
        .into_iter()
        .collect())
}
