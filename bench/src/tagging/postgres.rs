//! The PostgreSQL side: one connection, a schema of its own (`maitre_bench_tagging_<pid>_<ns>`,
//! dropped by [`PgBench::drop_schema`]), the chain and the tag memberships loaded with
//! `COPY`, indexed, vacuumed and analysed, then the statements of [`super::sql`] timed.
//! The session gets generous memory (`work_mem`, `maintenance_work_mem`) so PostgreSQL
//! is judged at its best, not at its defaults.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection, Row};

use super::chain::{Gender, TaggingChain};
use super::rules::RULE_COUNT;
use super::segments::{TAG_COUNT, TagBitmaps, tag_name};
use super::sql::{self, RuleOutput};

/// Where PostgreSQL is: `MAITRE_BENCH_DATABASE_URL`, else the tests' database
/// (`maitre_kit::testing::postgres_url`).
pub fn database_url() -> String {
    std::env::var("MAITRE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| maitre_kit::testing::postgres_url())
}

/// Rows are sent to `COPY` in chunks of about this many bytes.
const COPY_CHUNK_BYTES: usize = 4 << 20;

pub struct PgBench {
    conn: PgConnection,
    pub schema: String,
}

impl PgBench {
    /// Connects, creates the schema and its tables, and sets the session's memory.
    pub async fn connect(url: &str) -> Result<PgBench> {
        let conn = PgConnection::connect(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!("maitre_bench_tagging_{}_{nanos}", std::process::id());
        let mut bench = PgBench { conn, schema };
        let mut setup = vec![
            "SET work_mem = '1GB'".to_owned(),
            "SET maintenance_work_mem = '2GB'".to_owned(),
            "SET max_parallel_maintenance_workers = 2".to_owned(),
            format!("CREATE SCHEMA {}", bench.schema),
        ];
        setup.extend(sql::create_tables(&bench.schema));
        bench.execute_all(&setup).await?;
        Ok(bench)
    }

    async fn execute_all(&mut self, statements: &[String]) -> Result<()> {
        for statement in statements {
            sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
                .execute(&mut self.conn)
                .await
                .with_context(|| format!("running {statement}"))?;
        }
        Ok(())
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(&mut self) -> Result<()> {
        let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        self.execute_all(&[statement]).await
    }

    async fn copy_rows(
        &mut self,
        statement: &str,
        mut write_rows: impl FnMut(&mut Vec<u8>) -> Result<bool>,
    ) -> Result<u64> {
        let mut copy = self.conn.copy_in_raw(statement).await?;
        let mut buffer = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
        loop {
            let more = write_rows(&mut buffer)?;
            if buffer.len() >= COPY_CHUNK_BYTES || !more {
                copy.send(std::mem::take(&mut buffer)).await?;
                buffer.reserve(COPY_CHUNK_BYTES + 4096);
            }
            if !more {
                break;
            }
        }
        Ok(copy.finish().await?)
    }

    /// Loads guests and visits with `COPY`, then indexes, vacuums and analyses them.
    /// Returns the time it took.
    pub async fn load_chain(&mut self, chain: &TaggingChain) -> Result<Duration> {
        let started = Instant::now();
        let schema = self.schema.clone();
        let mut next = 0usize;
        let guests = self
            .copy_rows(&format!("COPY {schema}.customers FROM STDIN"), |out| {
                let Some(guest) = chain.guests.get(next) else {
                    return Ok(false);
                };
                let (month, day) = guest
                    .birthday
                    .map_or(("\\N".to_owned(), "\\N".to_owned()), |(m, d)| {
                        (m.to_string(), d.to_string())
                    });
                let gender = match guest.gender {
                    Gender::Unset => "\\N",
                    other => other.attribute().unwrap_or("\\N"),
                };
                let class = guest.class.map_or("\\N".to_owned(), |c| c.to_string());
                writeln!(
                    out,
                    "{next}\t{month}\t{day}\t{gender}\t{class}\t{}\t{}",
                    guest.vip, guest.churned
                )?;
                next += 1;
                Ok(true)
            })
            .await?;
        ensure!(
            guests as usize == chain.customers(),
            "customers COPY lost rows"
        );
        let mut next = 0usize;
        let visits = self
            .copy_rows(&format!("COPY {schema}.visits FROM STDIN"), |out| {
                // One guest's visits per call (a few dozen rows).
                if next >= chain.customers() {
                    return Ok(false);
                }
                for visit in chain.visits_of(next) {
                    let date = maitre_tagging::domain::rule::date_of(visit.day)
                        .context("visit day out of the calendar")?;
                    write!(
                        out,
                        "{next}\t{}\t{}\t{}\t{}\t{{",
                        date.format("%Y-%m-%d"),
                        visit.amount_fen,
                        visit.store,
                        visit.dish_lines
                    )?;
                    for (i, lines) in visit.category_lines.iter().enumerate() {
                        let separator = if i == 0 { "" } else { "," };
                        write!(out, "{separator}{lines}")?;
                    }
                    out.extend_from_slice(b"}\n");
                }
                next += 1;
                Ok(true)
            })
            .await?;
        ensure!(
            visits as usize == chain.visit_count(),
            "visits COPY lost rows"
        );
        self.execute_all(&sql::visit_indexes(&schema)).await?;
        Ok(started.elapsed())
    }

    /// Loads every tag's members with `COPY`, then the primary key, vacuum and analyse.
    pub async fn load_tags(&mut self, bitmaps: &TagBitmaps) -> Result<Duration> {
        let started = Instant::now();
        let schema = self.schema.clone();
        let mut tag = 0u16;
        let rows = self
            .copy_rows(&format!("COPY {schema}.tag_member FROM STDIN"), |out| {
                if tag >= TAG_COUNT {
                    return Ok(false);
                }
                if let Some(members) = bitmaps.tags.get(&tag_name(tag)) {
                    for customer in members {
                        writeln!(out, "{tag}\t{customer}")?;
                    }
                }
                tag += 1;
                Ok(true)
            })
            .await?;
        ensure!(rows == bitmaps.memberships(), "tag_member COPY lost rows");
        self.execute_all(&sql::tag_indexes(&schema)).await?;
        Ok(started.elapsed())
    }

    /// The full recompute: every rule's member count, in [`super::rules::RULES`] order.
    pub async fn rule_counts(&mut self, statement: &str) -> Result<[u64; RULE_COUNT]> {
        let row = sqlx::query(AssertSqlSafe(statement))
            .fetch_one(&mut self.conn)
            .await?;
        let mut counts = [0u64; RULE_COUNT];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = u64::try_from(row.try_get::<i64, _>(i)?)?;
        }
        Ok(counts)
    }

    /// The live path: which rules hold for one customer (`statement` from
    /// [`rules_statement`](sql::rules_statement) with [`RuleOutput::OneCustomer`]).
    pub async fn rules_of(&mut self, statement: &str, customer: i32) -> Result<[bool; RULE_COUNT]> {
        let row = sqlx::query(AssertSqlSafe(statement))
            .bind(customer)
            .fetch_one(&mut self.conn)
            .await?;
        let mut holds = [false; RULE_COUNT];
        for (i, value) in holds.iter_mut().enumerate() {
            *value = row.try_get::<bool, _>(i)?;
        }
        Ok(holds)
    }

    /// Runs a `SELECT count(*) …` and returns the count.
    pub async fn count(&mut self, statement: &str) -> Result<u64> {
        let row = sqlx::query(AssertSqlSafe(statement))
            .fetch_one(&mut self.conn)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?)?)
    }
}

/// The same statement for [`RuleOutput`] callers that hold a chain.
pub fn rules_statement_for(schema: &str, chain: &TaggingChain, output: RuleOutput) -> String {
    sql::rules_statement(schema, chain.today_date, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::chain::{TaggingChainSpec, generate_tagging_chain};
    use crate::tagging::rules::RuleBook;
    use crate::tagging::segments::{count_segment, generate_tag_bitmaps};
    use crate::tagging::sql::ThreeTermSegment;
    use maitre_tagging::domain::rule::CustomerFacts;

    /// The SQL means what the rule language means: on a small chain, PostgreSQL's counts
    /// and per-customer answers equal the engine's, and both segment formulations count
    /// what the bitmaps count. Needs the test database (skipped, with a message on stderr,
    /// when it is not reachable: the benchmark itself reports the same disagreement).
    #[test]
    fn postgres_agrees_with_the_engine_on_a_small_chain() {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            panic!("no runtime");
        };
        let chain =
            generate_tagging_chain(&TaggingChainSpec::two_years(3_000, 5), 2).expect("drawn");
        let book = RuleBook::compile().expect("compiles");
        let mut facts = CustomerFacts::new();
        let engine: Vec<[bool; RULE_COUNT]> = (0..chain.customers())
            .map(|c| {
                book.load_facts(&chain, c, None, &mut facts);
                book.evaluate(&mut facts, chain.today)
            })
            .collect();
        let mut expected = [0u64; RULE_COUNT];
        for holds in &engine {
            for (count, h) in expected.iter_mut().zip(holds) {
                *count += u64::from(*h);
            }
        }
        assert!(
            expected.iter().all(|&c| c > 0),
            "every rule has members: {expected:?}"
        );
        let bitmaps = generate_tag_bitmaps(20_000, 5, 2).expect("drawn");
        let outcome = runtime.block_on(async {
            let mut pg = match PgBench::connect(&database_url()).await {
                Ok(pg) => pg,
                Err(e) => {
                    eprintln!("PostgreSQL not reachable, cross-check skipped: {e:#}");
                    return Ok(None);
                }
            };
            let result = async {
                pg.load_chain(&chain).await?;
                let counts = pg
                    .rule_counts(&rules_statement_for(&pg.schema, &chain, RuleOutput::Counts))
                    .await?;
                let one = rules_statement_for(&pg.schema, &chain, RuleOutput::OneCustomer);
                let mut per_customer = Vec::new();
                for c in (0..chain.customers()).step_by(97) {
                    per_customer.push((c, pg.rules_of(&one, i32::try_from(c)?).await?));
                }
                pg.load_tags(&bitmaps).await?;
                let segment = ThreeTermSegment {
                    all_of: 27,
                    any_of: [54, 81],
                    none_of: 8,
                };
                let mut segment_counts = Vec::new();
                for (_, statement) in segment.count_statements(&pg.schema) {
                    segment_counts.push(pg.count(&statement).await?);
                }
                anyhow::Ok((counts, per_customer, segment.expression(), segment_counts))
            }
            .await;
            pg.drop_schema().await?;
            result.map(Some)
        });
        let Some((counts, per_customer, expression, segment_counts)) =
            outcome.expect("PostgreSQL side ran")
        else {
            return;
        };
        assert_eq!(counts, expected);
        for (c, holds) in per_customer {
            assert_eq!(holds, engine[c], "customer {c}");
        }
        let ours = count_segment(&expression, &bitmaps).expect("counted");
        assert_eq!(segment_counts, vec![ours, ours]);
    }
}
