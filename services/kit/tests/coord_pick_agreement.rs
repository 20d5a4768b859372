//! The even split has one rule, `maitre_kit::coord::pick_winner`, which the in-process
//! coordinator runs; the Redis backend must run the same rule inside its Lua script (the pick
//! and the increment have to be one atomic step next to the data). This test proves the two
//! agree: on random rosters, random histories (scores, members missing from the balance,
//! ceilings) and random tie offsets, a sequence of picks on both backends gives the same
//! winner and the same new score at every step, and the same balances at the end.
//!
//! Needs Redis (`MAITRE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`); each run uses its
//! own key prefix, so it shares the server with other tests.

use std::time::Duration;

use maitre_kit::coord::{Coordination, MemoryCoordination, Pick, RedisCoordination};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: u64 = 200;
const PICKS_PER_CASE: usize = 12;
const TTL: Duration = Duration::from_secs(60);

fn redis_url() -> String {
    std::env::var("MAITRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One random case: a roster, the history already in the balances, and a ceiling.
struct Case {
    candidates: Vec<String>,
    /// Members seeded into the day balance (a member left out scores 0).
    day: Vec<(String, i64)>,
    /// The ceiling balance and its maximum, when the case has one.
    ceiling: Option<(Vec<(String, i64)>, i64)>,
    tie_offset: u64,
}

fn random_case(rng: &mut StdRng) -> Case {
    let len = rng.random_range(0..7usize);
    let candidates: Vec<String> = (0..len).map(|i| format!("m{i}")).collect();
    // Some history belongs to members no longer on the roster: the pick must ignore them.
    let mut day: Vec<(String, i64)> = Vec::new();
    for candidate in &candidates {
        if rng.random_bool(0.7) {
            day.push((candidate.clone(), rng.random_range(0..4)));
        }
    }
    if rng.random_bool(0.3) {
        day.push(("left-the-store".to_owned(), 0));
    }
    let ceiling = if rng.random_bool(0.4) {
        let mut counts = Vec::new();
        for candidate in &candidates {
            if rng.random_bool(0.8) {
                counts.push((candidate.clone(), rng.random_range(0..5)));
            }
        }
        Some((counts, rng.random_range(1..5)))
    } else {
        None
    };
    // Large offsets too: the rotation start is the offset modulo the roster size.
    let tie_offset = if rng.random_bool(0.2) {
        u64::MAX - rng.random_range(0..10)
    } else {
        rng.random_range(0..50)
    };
    Case {
        candidates,
        day,
        ceiling,
        tie_offset,
    }
}

async fn seed(c: &dyn Coordination, key: &str, entries: &[(String, i64)]) {
    if !entries.is_empty() {
        c.balance_seed(key, entries, Some(TTL))
            .await
            .expect("seed a balance");
    }
}

/// Runs the case's picks on one backend and returns every step's outcome and the end state.
async fn run(
    c: &dyn Coordination,
    case: &Case,
    prefix: &str,
) -> (Vec<Option<(String, i64)>>, Vec<(String, i64)>) {
    let day = format!("{prefix}-day");
    let month = format!("{prefix}-month");
    let cap = format!("{prefix}-cap");
    seed(c, &day, &case.day).await;
    if let Some((counts, _)) = &case.ceiling {
        seed(c, &cap, counts).await;
    }
    let also = [month.as_str()];
    let mut outcomes = Vec::with_capacity(PICKS_PER_CASE);
    for step in 0..PICKS_PER_CASE {
        let pick = Pick {
            balance: &day,
            candidates: &case.candidates,
            tie_offset: case.tie_offset.wrapping_add(step as u64),
            ceiling: case.ceiling.as_ref().map(|(_, max)| (cap.as_str(), *max)),
            also_increment: &also,
            ttl: Some(TTL),
        };
        outcomes.push(c.balance_pick(pick).await.expect("pick"));
        // The ceiling fills up as a monthly cap would: count the winner there too.
        if let (Some(Some((winner, _))), Some(_)) = (outcomes.last(), &case.ceiling) {
            c.balance_add(&cap, winner, 1, Some(TTL))
                .await
                .expect("count toward the ceiling");
        }
    }
    let mut end = c.balance_scores(&day).await.expect("day scores");
    end.extend(c.balance_scores(&month).await.expect("month scores"));
    (outcomes, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_script_and_pick_winner_make_the_same_picks() {
    let prefix = format!("maitre-test-agree-{:016x}", rand::random::<u64>());
    let redis = RedisCoordination::connect(&redis_url(), &prefix)
        .await
        .unwrap_or_else(|error| panic!("Redis at {} must be reachable: {error}", redis_url()));
    let memory = MemoryCoordination::new();
    let seed = rand::random::<u64>();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picks_compared = 0;
    for case_number in 0..CASES {
        let case = random_case(&mut rng);
        let keys = format!("case{case_number}");
        let in_process = run(&memory, &case, &keys).await;
        let scripted = run(&redis, &case, &keys).await;
        assert_eq!(
            in_process, scripted,
            "seed {seed}, case {case_number}: the Redis script and pick_winner disagree on \
             roster {:?}, history {:?}, ceiling {:?}, tie offset {}",
            case.candidates, case.day, case.ceiling, case.tie_offset
        );
        picks_compared += in_process.0.iter().filter(|o| o.is_some()).count();
    }
    // The generator must exercise real picks, not only empty rosters.
    assert!(
        picks_compared > CASES as usize,
        "only {picks_compared} picks compared"
    );
    redis
        .clear_namespace()
        .await
        .expect("cleanup of the test namespace");
}
