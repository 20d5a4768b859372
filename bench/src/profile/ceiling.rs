//! The storage ceiling of a batch import: how many imported events per second PostgreSQL
//! reaches on this machine when nothing but the import's rows are written.
//!
//! The run measures, from the import it just made, how many rows of each table one event
//! wrote and how wide their variable columns were on average ([`Shape`]). In a fresh schema
//! with the service's own migrations (same tables, same indexes), as many workers as the
//! import had clients then each run one statement per transaction that makes
//! [`EVENTS_PER_TRANSACTION`] events' rows inside PostgreSQL with `generate_series`: no
//! request is decoded, no row encoded or sent, no statement carries more than nine
//! parameters. Two variants: the domain rows alone, and the domain rows with the outbox
//! rows while the kit's own publisher numbers them, as it does under the service.
//!
//! Whatever the service does on top of writing these rows costs more, so the second
//! figure bounds what a batch import on this schema can reach here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use maitre_kit::eventlog::EventLog;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};

use super::load::{LoadResult, closed_loop};

/// Events per transaction: the service's chunk size (`api::batch`).
pub const EVENTS_PER_TRANSACTION: u64 = 500;

/// The tables an imported first visit writes, counted by [`count_rows`].
const TABLES: [&str; 6] = [
    "customers",
    "identity_links",
    "contact_events",
    "customer_stores",
    "kit_outbox",
    "followup_plans",
];

/// Rows per table, in [`TABLES`] order.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowCounts([i64; 6]);

/// Counts the rows of every table an import writes.
pub async fn count_rows(db: &DatabaseConnection) -> Result<RowCounts> {
    let sql = format!(
        "SELECT {}",
        TABLES
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {t})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = db
        .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await?
        .context("row counts")?;
    let mut counts = [0; 6];
    for (i, count) in counts.iter_mut().enumerate() {
        *count = row.try_get_by_index(i)?;
    }
    Ok(RowCounts(counts))
}

/// What one imported event wrote: rows per table and the average width of the columns
/// whose size varies.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Rows per event, in [`TABLES`] order, as measured.
    pub rows_per_event: [f64; 6],
    pub profile_bytes: usize,
    pub aggregates_bytes: usize,
    pub classification_bytes: usize,
    pub event_payload_bytes: usize,
    pub outbox_payload_bytes: usize,
}

impl Shape {
    /// The shape of the `events` events imported between `before` and `after`, with the
    /// average widths of the rows stored in `db`.
    pub async fn measure(
        db: &DatabaseConnection,
        before: RowCounts,
        after: RowCounts,
        events: u64,
    ) -> Result<Self> {
        anyhow::ensure!(events > 0, "no event was imported");
        let mut rows_per_event = [0.0; 6];
        for (i, rate) in rows_per_event.iter_mut().enumerate() {
            *rate = (after.0[i] - before.0[i]) as f64 / events as f64;
        }
        let row = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT \
                   (SELECT COALESCE(AVG(OCTET_LENGTH(profile)), 0)::BIGINT FROM customers), \
                   (SELECT COALESCE(AVG(OCTET_LENGTH(aggregates)), 0)::BIGINT FROM customers), \
                   (SELECT COALESCE(AVG(OCTET_LENGTH(classification)), 0)::BIGINT FROM customers), \
                   (SELECT COALESCE(AVG(OCTET_LENGTH(payload)), 0)::BIGINT FROM contact_events), \
                   (SELECT COALESCE(AVG(OCTET_LENGTH(payload)), 0)::BIGINT FROM kit_outbox)",
            ))
            .await?
            .context("row widths")?;
        let width = |i: usize| -> Result<usize> {
            let bytes: i64 = row.try_get_by_index(i)?;
            Ok(usize::try_from(bytes).unwrap_or(0))
        };
        Ok(Self {
            rows_per_event,
            profile_bytes: width(0)?,
            aggregates_bytes: width(1)?,
            classification_bytes: width(2)?,
            event_payload_bytes: width(3)?,
            outbox_payload_bytes: width(4)?,
        })
    }

    /// Whole rows per event of table `i`, as the generator writes them.
    fn whole(&self, i: usize) -> u64 {
        self.rows_per_event[i].round().max(0.0) as u64
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let rows: Vec<String> = TABLES
            .iter()
            .zip(self.rows_per_event)
            .map(|(t, r)| format!("{t} {r:.2}"))
            .collect();
        format!(
            "rows per imported event: {}; average widths: profile {} B, aggregates {} B, \
             classification {} B, event payload {} B, outbox payload {} B",
            rows.join(", "),
            self.profile_bytes,
            self.aggregates_bytes,
            self.classification_bytes,
            self.event_payload_bytes,
            self.outbox_payload_bytes
        )
    }
}

/// The two ceilings.
pub struct Ceilings {
    pub domain_only: LoadResult,
    pub with_outbox: LoadResult,
}

/// Measures both ceilings, each in its own fresh schema named after `schema`, dropped
/// afterwards.
pub async fn measure(
    url: &str,
    schema: &str,
    shape: &Shape,
    workers: usize,
    duration: Duration,
) -> Result<Ceilings> {
    let domain_only = variant(
        url,
        &format!("{schema}_cd"),
        shape,
        workers,
        duration,
        false,
    )
    .await?;
    let with_outbox = variant(url, &format!("{schema}_co"), shape, workers, duration, true).await?;
    Ok(Ceilings {
        domain_only,
        with_outbox,
    })
}

async fn variant(
    url: &str,
    schema: &str,
    shape: &Shape,
    workers: usize,
    duration: Duration,
    outbox: bool,
) -> Result<LoadResult> {
    let db = maitre_kit::db::connect_and_migrate::<maitre_profile::storage::Migrator>(url, schema)
        .await?;
    db.execute_unprepared("CHECKPOINT").await?;
    let log = EventLog::new(db.clone(), "profile", None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let publisher = outbox.then(|| {
        tokio::spawn(log.clone().run_publisher(async {
            let _ = stopped.await;
        }))
    });
    let sql: Arc<str> = generator_sql(shape, outbox).into();
    let values = Arc::new(generator_values(shape));
    let (db_, log_) = (db.clone(), log.clone());
    let result = closed_loop(workers, duration, u64::MAX, move |worker, call| {
        let (db, log, sql, values) = (db_.clone(), log_.clone(), sql.clone(), values.clone());
        async move {
            let mut params = vec![Value::from((worker as i64) * 1_000_000 + call as i64)];
            params.extend(values.iter().cloned());
            db.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql.as_ref(),
                params,
            ))
            .await
            .map_err(|e| e.to_string())?;
            log.committed();
            Ok(EVENTS_PER_TRANSACTION)
        }
    })
    .await;
    let _ = stop.send(());
    if let Some(publisher) = publisher {
        // Numbering what is left is the settling the import's figure also leaves out.
        publisher.abort();
    }
    db.close().await?;
    maitre_kit::db::drop_schema(url, schema).await?;
    Ok(result)
}

/// Parameters `$2…`: the chain, a timestamp, the store, and the variable-width columns.
fn generator_values(shape: &Shape) -> Vec<Value> {
    vec![
        "bench-chain".into(),
        chrono::Utc::now().timestamp_micros().into(),
        "bench-01".into(),
        "p".repeat(shape.profile_bytes).into(),
        "a".repeat(shape.aggregates_bytes).into(),
        vec![1_u8; shape.classification_bytes].into(),
        vec![2_u8; shape.event_payload_bytes].into(),
        vec![3_u8; shape.outbox_payload_bytes].into(),
    ]
}

/// One statement writing a transaction's worth of events: `$1` numbers the transaction
/// (ids stay unique and grow per worker, as time-ordered ids do), `$2…$9` as
/// [`generator_values`].
fn generator_sql(shape: &Shape, outbox: bool) -> String {
    let id = "LPAD(n::TEXT, 36, '0')";
    let mut parts = vec![format!(
        "ids AS (SELECT $1::BIGINT * 100000 + g AS n FROM generate_series(1, {EVENTS_PER_TRANSACTION}) AS g)"
    )];
    if shape.whole(0) > 0 {
        parts.push(format!(
            "c AS (INSERT INTO customers (chain_id, customer_id, created_at_us, updated_at_us, \
             home_store_id, profile, aggregates, visits, spend_fen, last_visit_us, bookings, \
             class, classification, owner_manager_id, erased, merged_into) \
             SELECT $2, {id}, $3, $3, $4, $5, $6, 1, 15000, $3, 0, 3, $7, '', 0, NULL FROM ids)"
        ));
    }
    let links = shape.whole(1);
    if links > 0 {
        parts.push(format!(
            "l AS (INSERT INTO identity_links (chain_id, identity_key, customer_id, created_at_us) \
             SELECT $2, 'phone:+86' || (n * {links} + k)::TEXT, {id}, $3 \
             FROM ids, generate_series(1, {links}) AS k ON CONFLICT DO NOTHING)"
        ));
    }
    if shape.whole(2) > 0 {
        parts.push(format!(
            "e AS (INSERT INTO contact_events (chain_id, event_id, channel, external_id, \
             customer_id, kind, store_id, occurred_at_us, amount_fen, payload, created_at_us) \
             SELECT $2, 'e' || LPAD(n::TEXT, 35, '0'), 1, 'ceiling-' || n::TEXT, {id}, 2, $4, $3, \
             15000, $8, $3 FROM ids)"
        ));
    }
    let stores = shape.whole(3);
    if stores > 0 {
        parts.push(format!(
            "s AS (INSERT INTO customer_stores (chain_id, store_id, customer_id) \
             SELECT $2, CASE WHEN k = 1 THEN $4 ELSE $4 || k::TEXT END, {id} \
             FROM ids, generate_series(1, {stores}) AS k ON CONFLICT DO NOTHING)"
        ));
    }
    let outbox_rows = if outbox { shape.whole(4) } else { 0 };
    if outbox_rows > 0 {
        parts.push(format!(
            "o AS (INSERT INTO kit_outbox (chain_id, payload, created_at_us) \
             SELECT $2, $9, $3 FROM ids, generate_series(1, {outbox_rows}) AS k)"
        ));
    }
    format!("WITH {} SELECT 1", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rows: [f64; 6]) -> Shape {
        Shape {
            rows_per_event: rows,
            profile_bytes: 10,
            aggregates_bytes: 20,
            classification_bytes: 3,
            event_payload_bytes: 40,
            outbox_payload_bytes: 50,
        }
    }

    #[test]
    fn the_generator_writes_the_measured_rows() {
        let s = shape([1.0, 1.0, 1.0, 1.0, 2.96, 0.0]);
        let with = generator_sql(&s, true);
        assert!(with.contains("INSERT INTO kit_outbox"));
        assert!(with.contains("generate_series(1, 3) AS k)"));
        assert!(!generator_sql(&s, false).contains("kit_outbox"));
        let none = shape([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        let sql = generator_sql(&none, true);
        assert!(!sql.contains("identity_links") && !sql.contains("customer_stores"));
        assert_eq!(generator_values(&s).len(), 8);
    }
}
