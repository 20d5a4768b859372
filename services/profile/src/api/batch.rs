//! RecordEventsBatch (bulk history import): one transaction per chunk, no assignment calls.
//! Independent events of a chunk are recorded set-based (`service::bulk`); the others one
//! by one, each in a savepoint so a rejected one writes nothing.

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::profile::v1::{self as pb, ContactEvent};
use sea_orm::TransactionTrait;

use super::{
    ProfileServiceApi,
    events::{guards, in_event, lock_names, prepare},
};
use crate::{
    convert::event::EventInput,
    error::{Error, Result},
    service::{
        begin_write,
        bulk::{self, Chunk, Item},
        classify::ClassContext,
        ingest::{IngestContext, record as record_event},
        is_retryable,
        locks::lock_in_transaction,
    },
};

/// Largest batch accepted by RecordEventsBatch.
const MAX_BATCH: usize = 10_000;
/// Events per transaction in a batch.
const CHUNK: usize = 500;
/// Attempts of one transaction that met a retryable conflict.
const ATTEMPTS: usize = 5;

fn rejected(index: usize, error: &Error) -> pb::BatchItemResult {
    let (field, message) = match error {
        Error::InvalidArgument { field, message }
        | Error::FailedPrecondition { field, message } => (field.clone(), message.clone()),
        other => (String::new(), other.to_string()),
    };
    pb::BatchItemResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        error: message,
        error_field: field,
        ..pb::BatchItemResult::default()
    }
}

fn is_item_error(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidArgument { .. }
            | Error::FailedPrecondition { .. }
            | Error::NotFound { .. }
            | Error::PermissionDenied(_)
    ) || matches!(error, Error::Status(s) if s.code() == tonic::Code::PermissionDenied)
}

pub(super) async fn record_batch(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::RecordEventsBatchRequest,
) -> Result<pb::RecordEventsBatchResponse> {
    let chain = caller.chain()?;
    if r.events.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!("at most {MAX_BATCH} events per batch"),
        ));
    }
    let class = api.caches.class(&api.runtime.db, chain).await?;
    let mut response = pb::RecordEventsBatchResponse::default();
    let mut index = 0;
    for chunk in r.events.chunks(CHUNK) {
        let mut prepared = Vec::with_capacity(chunk.len());
        for event in chunk {
            match prepare(api, caller, chain, event.clone()).await {
                Ok(p) => prepared.push((index, p)),
                Err(e) if is_item_error(&e) => {
                    response.rejected += 1;
                    response.results.push(rejected(index, &e));
                }
                Err(e) => return Err(e),
            }
            index += 1;
        }
        let (recorded, duplicates, failures) = record_chunk(api, chain, &class, &prepared).await?;
        response.recorded += recorded;
        response.duplicates += duplicates;
        response.rejected += i64::try_from(failures.len()).unwrap_or(i64::MAX);
        response.results.extend(failures);
        api.runtime.events.committed();
    }
    Ok(response)
}

type Prepared = (usize, (ContactEvent, EventInput, chrono_tz::Tz));

/// One transaction for a chunk: its independent events set-based, then the others in the
/// chunk's order, each in a savepoint so a rejected one writes nothing.
async fn record_chunk(
    api: &ProfileServiceApi,
    chain: &str,
    class: &ClassContext,
    items: &[Prepared],
) -> Result<(i64, i64, Vec<pb::BatchItemResult>)> {
    let guards = guards(api, chain).await?;
    let names: Vec<String> = items
        .iter()
        .flat_map(|(_, (_, input, _))| lock_names(chain, input))
        .collect();
    let bulk_items: Vec<Item<'_>> = items
        .iter()
        .map(|(_, (event, input, zone))| Item {
            event,
            input,
            zone: *zone,
        })
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let txn = begin_write(&api.runtime.db).await?;
            lock_in_transaction(&txn, &names).await?;
            let chunk = Chunk {
                log: &api.runtime.events,
                chain,
                class,
                guards: &guards,
                now: Utc::now(),
            };
            let outcome = bulk::record_independent(&txn, &chunk, &bulk_items).await?;
            let (mut recorded, mut duplicates, mut failures) =
                (outcome.recorded, outcome.duplicates, Vec::new());
            for pos in outcome.rest {
                let (index, (event, input, zone)) = &items[pos];
                let ctx = IngestContext {
                    log: &api.runtime.events,
                    chain,
                    class,
                    guards: &guards,
                    store_zone: *zone,
                    now: Utc::now(),
                };
                let savepoint = txn.begin().await?;
                match record_event(&savepoint, &ctx, input, event).await {
                    Ok(r) => {
                        savepoint.commit().await?;
                        if r.duplicate {
                            duplicates += 1
                        } else {
                            recorded += 1
                        }
                    }
                    Err(e) if is_item_error(&e) => {
                        savepoint.rollback().await?;
                        failures.push(rejected(*index, &in_event(e)));
                    }
                    Err(e) => return Err(e),
                }
            }
            txn.commit().await?;
            Ok((recorded, duplicates, failures))
        }
        .await;
        match result {
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => continue,
            other => return other,
        }
    }
}
