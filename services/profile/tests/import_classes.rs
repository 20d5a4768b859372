//! A history import leaves classes current: guests imported into a young chain are classed
//! against the chain they are part of (the quintiles over the imported guests), exactly as
//! re-saving the policy would class them, not against the cut-offs of the empty chain the
//! import started with. Both backends.

mod common;

use std::collections::BTreeMap;

use common::*;
use maitre_kit::{on_both_backends, testing::Backend};
use maitre_proto::profile::v1 as pb;

on_both_backends!(imported_guests_are_classed_against_the_chain_after_the_import);

/// `(class, recency, frequency, monetary)` of every guest, by phone.
async fn classes(h: &Harness, guests: usize) -> BTreeMap<usize, (i32, i32, i32, i32)> {
    let mut out = BTreeMap::new();
    for i in 0..guests {
        let c = h
            .lookup_phone(&format!("1380014{i:04}"))
            .await
            .classification
            .expect("classified");
        out.insert(
            i,
            (
                c.class,
                c.recency_score,
                c.frequency_score,
                c.monetary_score,
            ),
        );
    }
    out
}

async fn imported_guests_are_classed_against_the_chain_after_the_import(backend: Backend) {
    let h = Harness::start(backend).await;
    // Guest i visits i + 1 times on distinct days, spending more the more they come.
    let guests = 20;
    let events: Vec<pb::ContactEvent> = (0..guests)
        .flat_map(|i| {
            (0..=i).map(move |v| {
                days_earlier(
                    visit(
                        &format!("imp-{i}-{v}"),
                        vec![phone(&format!("1380014{i:04}"))],
                        10_000 * (i as i64 + 1),
                    ),
                    v as i64 * 3,
                )
            })
        })
        .collect();
    let response = h
        .api()
        .record_events_batch(req(pb::RecordEventsBatchRequest { events }, &hq()))
        .await
        .expect("imported")
        .into_inner();
    assert_eq!(response.rejected, 0);
    let after_import = classes(&h, guests).await;
    let distinct: std::collections::BTreeSet<_> = after_import.values().collect();
    assert!(
        distinct.len() > 1,
        "the imported guests are told apart: {after_import:?}"
    );

    // Re-saving the policy recomputes every class: nothing is left for it to change.
    let policy = h
        .api()
        .get_classification_policy(req(pb::GetClassificationPolicyRequest {}, &hq()))
        .await
        .expect("policy")
        .into_inner()
        .policy;
    h.api()
        .update_classification_policy(req(pb::UpdateClassificationPolicyRequest { policy }, &hq()))
        .await
        .expect("re-saved");
    assert_eq!(classes(&h, guests).await, after_import);
}
