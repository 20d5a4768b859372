//! The even split has one rule, `maitre_kit::coord::pick_winner`, which the in-process
//! coordinator runs; the Redis backend runs the same rule inside its Lua script (the pick and
//! the increment have to be one atomic step next to the data). This property test proves the
//! two agree on random rosters, histories, ceilings and tie offsets
//! (`conformance::agreement`), shrinking any disagreement to its smallest history.
//!
//! Needs Redis (`MAITRE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`); each run uses its
//! own key prefix, so it shares the server with other tests.

use std::sync::atomic::{AtomicU64, Ordering};

use maitre_kit::coord::conformance::{pick_history, same_picks};
use maitre_kit::coord::{MemoryCoordination, RedisCoordination};
use proptest::prelude::*;

fn redis_url() -> String {
    std::env::var("MAITRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn redis_script_and_pick_winner_make_the_same_picks(history in pick_history()) {
        static CASE: AtomicU64 = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let prefix = format!("maitre-test-agree-{:016x}", rand::random::<u64>());
            let redis = RedisCoordination::connect(&redis_url(), &prefix)
                .await
                .unwrap_or_else(|error| panic!("Redis at {} must be reachable: {error}", redis_url()));
            let keys = format!("case{}", CASE.fetch_add(1, Ordering::Relaxed));
            same_picks(&MemoryCoordination::new(), &redis, &history, &keys).await;
            redis.clear_namespace().await.expect("cleanup of the test namespace");
        });
    }
}
