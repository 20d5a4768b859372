//! Transfers on both backends: one customer (locks move with them; a departed or full target
//! is refused naming `to_manager_id`), manual lock/unlock, and the resumable bulk transfer.

mod common;

use maitre_kit::on_both_backends;
use std::time::Duration;

use common::*;
use maitre_kit::error::field_of;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use maitre_proto::common::v1::JobState;
use tonic::Code;

async fn transfer_request(
    api: &mut maitre_proto::assignment::v1::assignment_service_client::AssignmentServiceClient<
        tonic::transport::Channel,
    >,
    customer: &str,
    to: &str,
    request_id: &str,
) -> Result<pb::Ownership, tonic::Status> {
    api.transfer_customer(req(pb::TransferCustomerRequest {
        customer_id: customer.into(),
        to_manager_id: to.into(),
        note: "guest asked for a new manager".into(),
        request_id: request_id.into(),
    }))
    .await
    .map(|r| r.into_inner().ownership.expect("ownership"))
}

async fn single_transfer(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    add_manager(&mut api, "full", &[STORE], 1).await;
    add_manager(&mut api, "gone", &[STORE], 0).await;
    api.set_manager_status(req(pb::SetManagerStatusRequest {
        manager_id: "gone".into(),
        status: pb::ManagerStatus::Left as i32,
        request_id: String::new(),
    }))
    .await
    .expect("left");
    contact(
        &mut api,
        Contact {
            customer: "k",
            via: "wang",
            amount_fen: 0,
            at: at(0),
            event: "k1",
        },
    )
    .await;
    contact(
        &mut api,
        Contact {
            customer: "other",
            via: "full",
            amount_fen: 0,
            at: at(1),
            event: "o1",
        },
    )
    .await;
    let locked = api
        .lock_customer(req(pb::LockCustomerRequest {
            customer_id: "k".into(),
            note: "VIP".into(),
        }))
        .await
        .expect("lock")
        .into_inner()
        .ownership
        .expect("ownership");
    assert!(locked.locked);

    let left = transfer_request(&mut api, "k", "gone", "t0")
        .await
        .expect_err("left");
    assert_eq!(left.code(), Code::FailedPrecondition);
    assert_eq!(field_of(&left).as_deref(), Some("to_manager_id"));
    let full = transfer_request(&mut api, "k", "full", "t1")
        .await
        .expect_err("full");
    assert_eq!(full.code(), Code::FailedPrecondition);
    assert_eq!(field_of(&full).as_deref(), Some("to_manager_id"));
    let ghost = transfer_request(&mut api, "k", "ghost", "t2")
        .await
        .expect_err("unknown");
    assert_eq!(ghost.code(), Code::NotFound);
    assert_eq!(ownership(&mut api, "k").await.manager_id, "wang");

    let moved = transfer_request(&mut api, "k", "zhang", "t3")
        .await
        .expect("transfer");
    assert_eq!(moved.manager_id, "zhang");
    assert!(moved.locked, "the lock moves with the customer");
    // Retried with the same request id: same answer, one history line.
    let again = transfer_request(&mut api, "k", "zhang", "t3")
        .await
        .expect("retry");
    assert_eq!(again.manager_id, "zhang");
    let why = history(&mut api, "k").await;
    let reasons: Vec<pb::Reason> = why.iter().map(reason).collect();
    assert_eq!(
        reasons,
        [
            pb::Reason::LastContact,
            pb::Reason::ManualLock,
            pb::Reason::Transfer
        ]
    );
    assert_eq!(why[2].actor, "hq-1");
    assert!(
        why[2].explanation.contains("guest asked"),
        "{}",
        why[2].explanation
    );

    // Locked to Zhang: Wang's booking does not move them; after an unlock it does.
    contact(
        &mut api,
        Contact {
            customer: "k",
            via: "wang",
            amount_fen: 0,
            at: at(100),
            event: "k2",
        },
    )
    .await;
    assert_eq!(ownership(&mut api, "k").await.manager_id, "zhang");
    let unlocked = api
        .unlock_customer(req(pb::UnlockCustomerRequest {
            customer_id: "k".into(),
            note: String::new(),
        }))
        .await
        .expect("unlock")
        .into_inner()
        .ownership
        .expect("ownership");
    assert!(!unlocked.locked);
    contact(
        &mut api,
        Contact {
            customer: "k",
            via: "wang",
            amount_fen: 0,
            at: at(200),
            event: "k3",
        },
    )
    .await;
    assert_eq!(ownership(&mut api, "k").await.manager_id, "wang");
    assert_eq!(manager(&mut api, "zhang").await.owned_count, 0);
    assert_eq!(manager(&mut api, "wang").await.owned_count, 1);
}

on_both_backends!(single_transfer);

async fn wait_for_job(h: &Harness, job_id: &str) -> pb::GetBulkTransferResponse {
    let mut api = h.api();
    for _ in 0..400 {
        let job = api
            .get_bulk_transfer(req(pb::GetBulkTransferRequest {
                job_id: job_id.into(),
            }))
            .await
            .expect("job")
            .into_inner();
        let state = job.progress.as_ref().map(|p| p.state);
        if state != Some(JobState::Running as i32) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("bulk transfer {job_id} did not finish");
}

async fn bulk_transfer(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    for id in ["leaver", "t1", "t2", "t3"] {
        add_manager(&mut api, id, &[STORE], 0).await;
    }
    for i in 0..25 {
        let customer = format!("b{i:02}");
        let event = format!("e{i:02}");
        contact(
            &mut api,
            Contact {
                customer: &customer,
                via: "leaver",
                amount_fen: 0,
                at: at(i),
                event: &event,
            },
        )
        .await;
    }
    api.lock_customer(req(pb::LockCustomerRequest {
        customer_id: "b00".into(),
        note: String::new(),
    }))
    .await
    .expect("lock");
    api.set_manager_status(req(pb::SetManagerStatusRequest {
        manager_id: "leaver".into(),
        status: pb::ManagerStatus::Left as i32,
        request_id: String::new(),
    }))
    .await
    .expect("left");
    let to: Vec<String> = ["t1", "t2", "t3"].iter().map(|s| (*s).to_owned()).collect();
    let start = |request_id: &str| pb::StartBulkTransferRequest {
        from_manager_id: "leaver".into(),
        to_manager_ids: to.clone(),
        request_id: request_id.into(),
    };
    let started = api
        .start_bulk_transfer(req(start("bulk-1")))
        .await
        .expect("start")
        .into_inner();
    let job_id = started.progress.expect("progress").job_id;
    // The same request id resumes the same job (here: it may still be running).
    let resumed = api
        .start_bulk_transfer(req(start("bulk-1")))
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(resumed.progress.map(|p| p.job_id), Some(job_id.clone()));
    let done = wait_for_job(&h, &job_id).await;
    let progress = done.progress.expect("progress");
    assert_eq!(progress.state, JobState::Succeeded as i32);
    assert_eq!(
        (progress.done, progress.total, progress.failed),
        (25, 25, 0)
    );
    let mut moved: Vec<i64> = done.moved_per_manager.values().copied().collect();
    moved.sort();
    assert_eq!(moved, [8, 8, 9]);
    assert_eq!(manager(&mut api, "leaver").await.owned_count, 0);
    let b00 = ownership(&mut api, "b00").await;
    assert!(b00.locked, "the lock moved with the customer");
    assert_eq!(
        pb::Reason::try_from(b00.reason),
        Ok(pb::Reason::BulkTransfer)
    );
    // Retrying after success changes nothing.
    let retried = api
        .start_bulk_transfer(req(start("bulk-1")))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(
        retried.progress.map(|p| (p.job_id, p.done)),
        Some((job_id, 25))
    );
    let total: i64 = {
        let mut sum = 0;
        for id in ["t1", "t2", "t3"] {
            sum += manager(&mut api, id).await.owned_count;
        }
        sum
    };
    assert_eq!(total, 25);
    // A target that left is refused before anything moves.
    let refused = api
        .start_bulk_transfer(req(pb::StartBulkTransferRequest {
            from_manager_id: "t1".into(),
            to_manager_ids: vec!["leaver".into()],
            request_id: "bulk-2".into(),
        }))
        .await
        .expect_err("target left");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(field_of(&refused).as_deref(), Some("to_manager_ids"));
}

on_both_backends!(bulk_transfer);

/// A job interrupted halfway (its executor died after one move) is resumed by the same
/// `request_id`: the remaining moves run, the done one is not repeated.
async fn bulk_transfer_resumes(backend: Backend) {
    use maitre_assignment::storage::jobs::{self, JobRow};
    use sea_orm::TransactionTrait;

    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    for id in ["leaver", "t1", "t2"] {
        add_manager(&mut api, id, &[STORE], 0).await;
    }
    for i in 0..6 {
        let customer = format!("r{i}");
        let event = format!("re{i}");
        contact(
            &mut api,
            Contact {
                customer: &customer,
                via: "leaver",
                amount_fen: 0,
                at: at(i),
                event: &event,
            },
        )
        .await;
    }
    // The state a crashed executor leaves: the job and its plan stored, r0 already moved.
    let runtime = maitre_kit::runtime::Runtime::start::<maitre_assignment::storage::Migrator>(
        h.config.config.clone(),
    )
    .await
    .expect("runtime");
    let txn = runtime.db.begin().await.expect("txn");
    let job = JobRow {
        kind: maitre_assignment::storage::jobs::KIND_BULK_TRANSFER.to_owned(),
        job_id: "job-x".into(),
        request_id: "resume-1".into(),
        from_manager_id: "leaver".into(),
        state: "running".into(),
        total: 6,
        done: 0,
        failed: 0,
        error: String::new(),
        actor: "hq-1".into(),
    };
    assert!(jobs::insert(&txn, CHAIN, &job, 0).await.expect("job"));
    for i in 0..6 {
        let to = if i % 2 == 0 { "t1" } else { "t2" };
        jobs::insert_move(&txn, CHAIN, "job-x", &format!("r{i}"), to)
            .await
            .expect("move");
    }
    assert!(
        jobs::finish_move(&txn, CHAIN, "job-x", "r0", "moved")
            .await
            .expect("done")
    );
    txn.commit().await.expect("commit");
    transfer_request(&mut api, "r0", "t1", "")
        .await
        .expect("r0 moved before the crash");

    let resumed = api
        .start_bulk_transfer(req(pb::StartBulkTransferRequest {
            from_manager_id: "leaver".into(),
            to_manager_ids: vec!["t1".into(), "t2".into()],
            request_id: "resume-1".into(),
        }))
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(resumed.progress.map(|p| p.job_id).as_deref(), Some("job-x"));
    let done = wait_for_job(&h, "job-x").await;
    let progress = done.progress.expect("progress");
    assert_eq!((progress.done, progress.total, progress.failed), (6, 6, 0));
    assert_eq!(done.moved_per_manager.get("t1"), Some(&3));
    assert_eq!(done.moved_per_manager.get("t2"), Some(&3));
    assert_eq!(manager(&mut api, "leaver").await.owned_count, 0);
    let r0: Vec<pb::Reason> = history(&mut api, "r0").await.iter().map(reason).collect();
    assert_eq!(
        r0,
        [pb::Reason::LastContact, pb::Reason::Transfer],
        "r0 not moved twice"
    );
    let r1: Vec<pb::Reason> = history(&mut api, "r1").await.iter().map(reason).collect();
    assert_eq!(r1, [pb::Reason::LastContact, pb::Reason::BulkTransfer]);
}

on_both_backends!(bulk_transfer_resumes);
