//! RecordEventsBatch (bulk history import): one transaction per chunk, no assignment calls.
//! A failure after some chunks committed is answered per event (what was not recorded), never
//! as an error that hides the saved part.
//! Independent events of a chunk are recorded set-based (`app::record`); the others one
//! by one, each in a savepoint so a rejected one writes nothing.

use maitre_kit::auth::Caller;
use maitre_proto::profile::v1::{self as pb, ContactEvent};

use super::{
    ProfileServiceApi,
    events::{guards, in_event, lock_names, prepare},
};
use crate::{
    app::{
        classify::{ClassContext, recompute_chain},
        record::{Group, Item, ItemOutcome, is_item_error, record_group},
    },
    convert::event::EventInput,
    error::{Error, Result},
};

/// Largest batch accepted by RecordEventsBatch.
const MAX_BATCH: usize = 10_000;
/// Events per transaction in a batch.
const CHUNK: usize = 500;

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
    let total = r.events.len();
    for (number, chunk) in r.events.chunks(CHUNK).enumerate() {
        let start = number * CHUNK;
        match record_one_chunk(api, caller, chain, &class, start, chunk).await {
            Ok(outcome) => {
                response.recorded += outcome.recorded;
                response.duplicates += outcome.duplicates;
                response.rejected += i64::try_from(outcome.results.len()).unwrap_or(i64::MAX);
                response.results.extend(outcome.results);
                api.runtime.events.committed();
            }
            // Nothing committed yet: the error is the whole answer, and true.
            Err(e) if start == 0 => return Err(e),
            // Earlier chunks are committed: say per event what was not recorded (this chunk
            // rolled back whole) instead of an error that hides the saved part. Re-sending the
            // batch is safe: recorded events come back as duplicates.
            Err(e) => {
                for index in start..total {
                    response.rejected += 1;
                    response.results.push(pb::BatchItemResult {
                        index: i32::try_from(index).unwrap_or(i32::MAX),
                        error: format!(
                            "not recorded ({e}); events before index {start} were recorded: \
                             re-send from here (a re-sent recorded event is a duplicate)"
                        ),
                        error_field: "events".into(),
                        ..pb::BatchItemResult::default()
                    });
                }
                return Ok(response);
            }
        }
    }
    if response.recorded > 0 {
        // The batch was classed with the cut-offs before it (over a chain without the
        // imported guests): bring the cut-offs and every class up to the chain after it, so
        // an import leaves classes current as the live path does.
        if let Err(e) = recompute_chain(
            &api.runtime.db,
            &api.runtime.events,
            chain,
            chrono::Utc::now(),
        )
        .await
        {
            // The events are recorded: an error here would hide that. The classes are
            // brought up to date off the request path instead (and by the daily
            // recompute should that fail too).
            tracing::warn!(chain, error = %e, "classes not recomputed after an import; recomputing in the background");
            api.caches
                .refresh_in_background(&api.runtime.db, chain, &class.policy);
        }
        api.caches.forget_class(chain);
    }
    Ok(response)
}

struct ChunkOutcome {
    recorded: i64,
    duplicates: i64,
    results: Vec<pb::BatchItemResult>,
}

/// Prepares and records one chunk in one transaction (all of it, or nothing on an error).
async fn record_one_chunk(
    api: &ProfileServiceApi,
    caller: &Caller,
    chain: &str,
    class: &ClassContext,
    start: usize,
    chunk: &[ContactEvent],
) -> Result<ChunkOutcome> {
    let mut prepared = Vec::with_capacity(chunk.len());
    let mut results = Vec::new();
    for (offset, event) in chunk.iter().enumerate() {
        let index = start + offset;
        match prepare(api, caller, chain, event.clone()).await {
            Ok(p) => prepared.push((index, p)),
            Err(e) if is_item_error(&e) => results.push(rejected(index, &e)),
            Err(e) => return Err(e),
        }
    }
    let (recorded, duplicates, failures) = record_chunk(api, chain, class, &prepared).await?;
    results.extend(failures);
    results.sort_by_key(|r| r.index);
    Ok(ChunkOutcome {
        recorded,
        duplicates,
        results,
    })
}

type Prepared = (usize, (ContactEvent, EventInput, chrono_tz::Tz));

/// One transaction for a chunk (`app::record::record_group`): `(recorded, duplicates, refusals)`.
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
    let group_items: Vec<Item<'_>> = items
        .iter()
        .map(|(_, (event, input, zone))| Item {
            event,
            input,
            zone: *zone,
        })
        .collect();
    let group = Group {
        db: &api.runtime.db,
        log: &api.runtime.events,
        chain,
        class,
        guards: &guards,
    };
    let outcomes = record_group(&group, &group_items, &names).await?;
    let (mut recorded, mut duplicates, mut refusals) = (0, 0, Vec::new());
    for ((index, _), outcome) in items.iter().zip(outcomes) {
        match outcome {
            ItemOutcome::Recorded(r) if r.duplicate => duplicates += 1,
            ItemOutcome::Recorded(_) => recorded += 1,
            ItemOutcome::Replayed => duplicates += 1,
            ItemOutcome::Refused(e) => refusals.push(rejected(*index, &in_event(e))),
        }
    }
    Ok((recorded, duplicates, refusals))
}
