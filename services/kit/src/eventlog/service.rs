//! `maitre.events.v1.EventLogService`, served the same way by every service: its own log
//! (`Watch`, `GetLogHead`) and its consumers' lag behind the logs they follow
//! (`GetConsumerStatus`). One implementation here; a service only hands over its runtime.

use std::sync::{Arc, Mutex};

use maitre_proto::events::v1::{
    ConsumerStatus, GetConsumerStatusRequest, GetConsumerStatusResponse, GetLogHeadRequest,
    GetLogHeadResponse, ListAuditEntriesRequest, ListAuditEntriesResponse, WatchRequest,
    event_log_service_client::EventLogServiceClient, event_log_service_server::EventLogService,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::{Request, Response, Status};

use super::{BoxEventStream, Consumer, EventLog, watch_for};
use crate::{
    auth::{ALL_CHAINS, Caller, Minter},
    client::outgoing,
    config::{Config, ServiceName},
    db::{DbError, stmt},
};

/// Pending events are counted up to this many (an exact count of a huge backlog would cost
/// a scan of it on every status call).
const PENDING_COUNT_CAP: i64 = 1_000_000;

/// The consumers one service runs: registered by `follow` as each one starts.
#[derive(Default)]
pub struct ConsumerRegistry {
    consumers: Mutex<Vec<(String, ServiceName)>>,
}

impl ConsumerRegistry {
    /// Records that consumer `name` follows `upstream` (once per name).
    pub fn register(&self, name: &str, upstream: ServiceName) {
        let mut consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        if !consumers.iter().any(|(n, _)| n == name) {
            consumers.push((name.to_owned(), upstream));
        }
    }

    fn list(&self) -> Vec<(String, ServiceName)> {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What lies after a position of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// The highest numbered sequence (a follower's cursor can reach no further yet).
    pub head_sequence: u64,
    /// Events after the position, committed but not yet numbered included.
    pub pending_events: u64,
    /// Microseconds since the epoch; `None` when nothing is pending.
    pub oldest_pending_us: Option<i64>,
}

impl EventLog {
    /// The head of the log (of `chain` when given) and what lies after `after`: the
    /// numbered events past it and the committed ones not numbered yet.
    pub async fn head_after(&self, after: u64, chain: Option<&str>) -> Result<LogHead, DbError> {
        let (filter, mut values): (&str, Vec<sea_orm::Value>) = match chain {
            Some(chain) => ("chain_id = $1 AND ", vec![chain.into()]),
            None => ("", vec![]),
        };
        let n = values.len();
        let head = self
            .db
            .query_one_raw(stmt(
                &self.db,
                &format!(
                    "SELECT COALESCE(MAX(seq), 0) FROM kit_outbox WHERE {filter}seq IS NOT NULL"
                ),
                values.clone(),
            ))
            .await?
            .and_then(|row| row.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        // Committed rows the publisher has not numbered yet are pending too: they are in the
        // log already (every follower will receive them after `after`), only without their
        // number. Leaving them out made a follower look caught up in the moment between an
        // import's commit and its numbering — a refit started then fitted half the import
        // (issue 20, item 9). Few rows wait unnumbered (the publisher runs on every commit),
        // and the partial index `kit_outbox_unpublished` finds them.
        let mut capped = values.clone();
        capped.push(PENDING_COUNT_CAP.into());
        let unnumbered = self
            .db
            .query_one_raw(stmt(
                &self.db,
                &format!(
                    "SELECT COUNT(*), MIN(created_at_us) FROM (SELECT created_at_us FROM kit_outbox WHERE {filter}seq IS NULL ORDER BY id LIMIT ${}) unnumbered",
                    n + 1
                ),
                capped,
            ))
            .await?;
        let (unnumbered, unnumbered_oldest) = unnumbered
            .map(|row| {
                (
                    row.try_get_by_index::<i64>(0).unwrap_or(0),
                    row.try_get_by_index::<Option<i64>>(1).ok().flatten(),
                )
            })
            .unwrap_or((0, None));
        values.push((after as i64).into());
        let numbered_oldest = self
            .db
            .query_one_raw(stmt(
                &self.db,
                &format!(
                    "SELECT created_at_us FROM kit_outbox WHERE {filter}seq > ${} ORDER BY seq LIMIT 1",
                    n + 1
                ),
                values.clone(),
            ))
            .await?
            .and_then(|row| row.try_get_by_index::<i64>(0).ok());
        let numbered = if numbered_oldest.is_none() {
            0
        } else {
            values.push(PENDING_COUNT_CAP.into());
            self.db
                .query_one_raw(stmt(
                    &self.db,
                    &format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM kit_outbox WHERE {filter}seq > ${} LIMIT ${}) pending",
                        n + 1,
                        n + 2
                    ),
                    values,
                ))
                .await?
                .and_then(|row| row.try_get_by_index::<i64>(0).ok())
                .unwrap_or(0)
        };
        let pending = (numbered.max(0) + unnumbered.max(0)).min(PENDING_COUNT_CAP);
        let oldest = match (numbered_oldest, unnumbered_oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(LogHead {
            head_sequence: head.max(0) as u64,
            pending_events: pending as u64,
            oldest_pending_us: oldest,
        })
    }
}

/// How often each service counts its unpublished outbox rows for `/metrics`.
pub const OUTBOX_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The outbox as an operator watches it: rows committed but not yet numbered by the
/// publisher (a publisher that stalls shows here first), the age of the oldest, the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxDepth {
    pub unpublished: u64,
    pub oldest_unpublished_us: Option<i64>,
    pub head_sequence: u64,
}

impl EventLog {
    /// Counts the unpublished rows. Cheap: they are few (the publisher numbers them within
    /// moments) and the partial index `kit_outbox_unpublished` holds only them; the head
    /// is the top of the published-sequence index.
    pub async fn outbox_depth(&self) -> Result<OutboxDepth, DbError> {
        let one = |sql: &str, values: Vec<sea_orm::Value>| {
            let statement = stmt(&self.db, sql, values);
            async move {
                Ok::<_, DbError>(
                    self.db
                        .query_one_raw(statement)
                        .await?
                        .and_then(|row| row.try_get_by_index::<i64>(0).ok()),
                )
            }
        };
        let unpublished = one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM kit_outbox WHERE seq IS NULL LIMIT $1) unpublished",
            vec![PENDING_COUNT_CAP.into()],
        )
        .await?
        .unwrap_or(0);
        let oldest = one(
            "SELECT created_at_us FROM kit_outbox WHERE seq IS NULL ORDER BY id LIMIT 1",
            vec![],
        )
        .await?;
        let head = one(
            "SELECT COALESCE(MAX(seq), 0) FROM kit_outbox WHERE seq IS NOT NULL",
            vec![],
        )
        .await?
        .unwrap_or(0);
        Ok(OutboxDepth {
            unpublished: unpublished.max(0) as u64,
            oldest_unpublished_us: oldest,
            head_sequence: head.max(0) as u64,
        })
    }
}

/// Sets `service`'s outbox gauges every [`OUTBOX_REPORT_EVERY`] (never returns). Labelled by
/// service only: one process may serve all four (`maitre run`), and a chain label would
/// grow with the tenants (a chain's share is `GET /v1/consumers`).
pub async fn report_outbox(log: Arc<EventLog>, service: &'static str) {
    let labels = [("service", service)];
    loop {
        match log.outbox_depth().await {
            Ok(depth) => {
                metrics::gauge!("maitre_outbox_unpublished_events", &labels)
                    .set(depth.unpublished as f64);
                let age = depth.oldest_unpublished_us.map_or(0.0, |at| {
                    ((chrono::Utc::now().timestamp_micros() - at) as f64 / 1e6).max(0.0)
                });
                metrics::gauge!("maitre_outbox_oldest_unpublished_age_seconds", &labels).set(age);
                metrics::gauge!("maitre_outbox_head_sequence", &labels)
                    .set(depth.head_sequence as f64);
            }
            Err(error) => {
                tracing::warn!(%error, "counting the outbox for metrics failed");
                metrics::counter!("maitre_business_metrics_failures_total", &labels).increment(1);
            }
        }
        tokio::time::sleep(OUTBOX_REPORT_EVERY).await;
    }
}

/// The chain a head or status call is about: the caller's own, or (internal identities
/// only) the one named, or every chain.
fn scoped_chain(caller: &Caller, named: &str) -> Result<Option<String>, Status> {
    if !caller.role.is_chain_wide() {
        return Err(Status::permission_denied(
            "the event log's head and consumer lag are for HQ admins and internal services",
        ));
    }
    if caller.is_all_chains() {
        return Ok((!named.is_empty()).then(|| named.to_owned()));
    }
    let own = caller.chain()?;
    if !named.is_empty() && named != own {
        return Err(Status::permission_denied(
            "chain_id: a token scoped to one chain may ask only about that chain",
        ));
    }
    Ok(Some(own.to_owned()))
}

/// The event-log service of one service process.
pub struct EventLogApi {
    log: Arc<EventLog>,
    db: DatabaseConnection,
    consumers: Arc<ConsumerRegistry>,
    config: Config,
    minter: Minter,
}

impl EventLogApi {
    pub fn new(
        log: Arc<EventLog>,
        db: DatabaseConnection,
        consumers: Arc<ConsumerRegistry>,
        config: Config,
        minter: Minter,
    ) -> Self {
        Self {
            log,
            db,
            consumers,
            config,
            minter,
        }
    }

    async fn status_of(
        &self,
        consumer: String,
        upstream: ServiceName,
        chain: Option<&str>,
    ) -> Result<ConsumerStatus, Status> {
        let cursor = Consumer::new(consumer.clone(), self.db.clone())
            .cursor()
            .await
            .map_err(crate::error::internal)?;
        let mut status = ConsumerStatus {
            consumer,
            service: self.config.service.as_str().to_owned(),
            upstream: upstream.as_str().to_owned(),
            cursor,
            ..ConsumerStatus::default()
        };
        match upstream_head(&self.config, &self.minter, upstream, cursor, chain).await {
            Ok(head) => {
                status.upstream_head_sequence = head.head_sequence;
                status.pending_events = head.pending_events;
                status.oldest_pending_age_ms = head
                    .oldest_pending_time
                    .map(|t| {
                        let at_ms = t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000;
                        (chrono::Utc::now().timestamp_millis() - at_ms).max(0)
                    })
                    .unwrap_or(0);
                status.caught_up = head.pending_events == 0;
            }
            Err(e) => status.upstream_error = e,
        }
        Ok(status)
    }
}

/// Asks `upstream` what lies after `cursor` in its log, with this service's own identity.
pub async fn upstream_head(
    config: &Config,
    minter: &Minter,
    upstream: ServiceName,
    cursor: u64,
    chain: Option<&str>,
) -> Result<GetLogHeadResponse, String> {
    let channel = crate::client::lazy_channel(config.upstream(upstream))
        .map_err(|e| format!("{} is not configured: {e}", upstream.as_str()))?;
    let token = minter
        .service_token(config.service.as_str(), ALL_CHAINS)
        .map_err(|e| e.to_string())?;
    let request = outgoing(
        GetLogHeadRequest {
            after_sequence: cursor,
            chain_id: chain.unwrap_or_default().to_owned(),
        },
        &token,
    );
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        EventLogServiceClient::new(channel).get_log_head(request),
    )
    .await
    .map_err(|_| format!("{} did not answer within 3 s", upstream.as_str()))?;
    answer
        .map(Response::into_inner)
        .map_err(|status| format!("{}: {}", upstream.as_str(), status.message()))
}

#[tonic::async_trait]
impl EventLogService for EventLogApi {
    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<BoxEventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let stream = watch_for(&self.log, &caller, request.get_ref().from_sequence)?;
        Ok(Response::new(stream))
    }

    async fn get_log_head(
        &self,
        request: Request<GetLogHeadRequest>,
    ) -> Result<Response<GetLogHeadResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let request = request.into_inner();
        let chain = scoped_chain(&caller, &request.chain_id)?;
        let head = self
            .log
            .head_after(request.after_sequence, chain.as_deref())
            .await
            .map_err(crate::error::internal)?;
        Ok(Response::new(GetLogHeadResponse {
            head_sequence: head.head_sequence,
            pending_events: head.pending_events,
            oldest_pending_time: head.oldest_pending_us.map(|us| prost_types::Timestamp {
                seconds: us.div_euclid(1_000_000),
                nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
            }),
        }))
    }

    async fn get_consumer_status(
        &self,
        request: Request<GetConsumerStatusRequest>,
    ) -> Result<Response<GetConsumerStatusResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = scoped_chain(&caller, "")?;
        let asks = self
            .consumers
            .list()
            .into_iter()
            .map(|(name, upstream)| self.status_of(name, upstream, chain.as_deref()));
        let consumers = futures::future::try_join_all(asks).await?;
        Ok(Response::new(GetConsumerStatusResponse { consumers }))
    }

    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        if !caller.role.is_chain_wide() {
            return Err(Status::permission_denied(
                "the audit trail is for HQ admins and internal services",
            ));
        }
        let chain = scoped_chain(&caller, "")?;
        let (entries, next_page_token) = crate::audit::list(
            &self.db,
            self.config.service.as_str(),
            chain.as_deref(),
            request.get_ref(),
        )
        .await
        .map_err(crate::error::internal)?
        .map_err(|bad| crate::error::invalid_argument(bad.field, bad.message))?;
        Ok(Response::new(ListAuditEntriesResponse {
            entries,
            next_page_token,
        }))
    }
}
