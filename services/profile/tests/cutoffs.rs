//! Class cut-offs due for a recompute (quintiles of a young chain, a minute old) are
//! recomputed off the request path: calls answer at once with the stored cut-offs, and the
//! new ones are stored moments later. Both backends.

use maitre_kit::on_both_backends;
use std::time::Duration;

use chrono::Utc;
use maitre_kit::testing::{Backend, TestDb};
use maitre_profile::app::cache::Caches;
use maitre_profile::domain::rfm::RfmCutoffs;
use maitre_profile::storage::{Migrator, policy};

const CHAIN: &str = "chain-1";

async fn due_quintiles_are_recomputed_off_the_request_path(backend: Backend) {
    let db = TestDb::new::<Migrator>(backend).await;
    let db = &db.db;
    // Cut-offs no quintile computation gives, computed two minutes ago over no customers:
    // due (a young chain's quintiles are recomputed every minute).
    let stored = RfmCutoffs {
        recency_max_days: [1, 2, 3, 4],
        frequency_min_visits: [11, 12, 13, 14],
        monetary_min_fen: [21, 22, 23, 24],
        dish_share_min_permille: [31, 32, 33, 34],
    };
    let computed_at_us = Utc::now().timestamp_micros() - 120 * 1_000_000;
    policy::put_cutoffs(db, CHAIN, &stored, 0, computed_at_us)
        .await
        .expect("stored cut-offs");

    // The call answers with the stored cut-offs and leaves the recompute to a task of its own.
    let caches = Caches::default();
    let ctx = caches.class(db, CHAIN).await.expect("class context");
    assert_eq!(ctx.cutoffs, stored);

    let mut recomputed = None;
    for _ in 0..100 {
        let now = policy::cutoffs(db, CHAIN)
            .await
            .expect("read")
            .expect("row");
        if now.computed_at_us > computed_at_us {
            recomputed = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recomputed = recomputed.expect("the due cut-offs are recomputed in the background");
    assert_ne!(recomputed.cutoffs, stored);
}

on_both_backends!(due_quintiles_are_recomputed_off_the_request_path);
