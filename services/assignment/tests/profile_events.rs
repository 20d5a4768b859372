//! Profile's events, driven through the real handler with the kit consumer (cursor committed
//! with the effect): a merge gives the survivor the locked owner and the absorbed record's
//! spend; an erasure drops staff notes; a replayed event changes nothing.

mod common;

use common::*;
use maitre_assignment::{app::Engine, events::ProfileEvents};
use maitre_kit::eventlog::Consumer;
use maitre_kit::on_both_backends;
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use maitre_proto::events::v1::{CustomerErased, CustomerMerged, Event, event::Payload};
use tonic::Code;

fn event(sequence: u64, payload: Payload) -> Event {
    Event {
        sequence,
        event_id: format!("profile-{sequence}"),
        chain_id: CHAIN.into(),
        source: "profile".into(),
        payload: Some(payload),
        ..Default::default()
    }
}

async fn merge_and_erase(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    contact(
        &mut api,
        Contact {
            customer: "survivor",
            via: "wang",
            amount_fen: 30_000,
            at: at(0),
            event: "s1",
        },
    )
    .await;
    contact(
        &mut api,
        Contact {
            customer: "absorbed",
            via: "zhang",
            amount_fen: 20_000,
            at: at(50),
            event: "a1",
        },
    )
    .await;
    api.lock_customer(req(pb::LockCustomerRequest {
        customer_id: "absorbed".into(),
        note: String::new(),
    }))
    .await
    .expect("lock");
    api.transfer_customer(req(pb::TransferCustomerRequest {
        customer_id: "survivor".into(),
        to_manager_id: "zhang".into(),
        note: "Ms Li prefers Zhang".into(),
        request_id: String::new(),
    }))
    .await
    .expect("transfer");
    api.transfer_customer(req(pb::TransferCustomerRequest {
        customer_id: "survivor".into(),
        to_manager_id: "wang".into(),
        note: String::new(),
        request_id: String::new(),
    }))
    .await
    .expect("transfer back");

    // The handler runs beside the service, on the same database.
    let runtime = Runtime::start::<maitre_assignment::storage::Migrator>(h.config.config.clone())
        .await
        .expect("runtime");
    let handler = ProfileEvents {
        engine: Engine::new(runtime.clone()),
    };
    let consumer = Consumer::new("assignment<-profile", runtime.db.clone());
    let merged = event(
        1,
        Payload::CustomerMerged(CustomerMerged {
            survivor_id: "survivor".into(),
            absorbed_ids: vec!["absorbed".into()],
            reason: "shared_identity".into(),
        }),
    );
    consumer
        .apply(&merged, &handler)
        .await
        .expect("merge applied");
    let survivor = ownership(&mut api, "survivor").await;
    assert_eq!(
        survivor.manager_id, "zhang",
        "the locked owner wins the merge"
    );
    assert!(survivor.locked);
    assert_eq!(survivor.counted_spend_fen, 50_000);
    assert_eq!(pb::Reason::try_from(survivor.reason), Ok(pb::Reason::Merge));
    let gone = api
        .get_ownership(req(pb::GetOwnershipRequest {
            customer_id: "absorbed".into(),
        }))
        .await;
    assert_eq!(
        gone.map(|_| ()).expect_err("absorbed").code(),
        Code::NotFound
    );
    assert_eq!(manager(&mut api, "zhang").await.owned_count, 1);
    assert_eq!(manager(&mut api, "wang").await.owned_count, 0);
    let history_len = history(&mut api, "survivor").await.len();

    // Replayed: the cursor is past it, nothing changes.
    let replay = consumer.apply(&merged, &handler).await.expect("replay");
    assert_eq!(format!("{replay:?}"), "Replay");
    assert_eq!(history(&mut api, "survivor").await.len(), history_len);

    let notes_before = history(&mut api, "survivor").await;
    assert!(notes_before.iter().any(|d| d.explanation.contains("Ms Li")));
    let erased = event(
        2,
        Payload::CustomerErased(CustomerErased {
            customer_id: "survivor".into(),
        }),
    );
    consumer
        .apply(&erased, &handler)
        .await
        .expect("erasure applied");
    let notes_after = history(&mut api, "survivor").await;
    assert!(notes_after.iter().all(|d| !d.explanation.contains("Ms Li")));
    assert_eq!(ownership(&mut api, "survivor").await.manager_id, "zhang");
}

on_both_backends!(merge_and_erase);
