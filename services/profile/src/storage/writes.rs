//! Writes gathered to go to the database together: on PostgreSQL as few statements as
//! the bind limit allows (independent INSERT/UPDATEs as data-modifying CTEs of one
//! statement, one round trip), on SQLite one statement each.
//!
//! Only for writes that do not read each other's effects: the parts of one statement see
//! the same snapshot and run in no set order.

use maitre_kit::db::{is_postgres, stmt, value_rows};
use sea_orm::{ConnectionTrait, Value};

use crate::error::Result;

/// Bound parameters per part: under SQLite's 32,766.
const PART_PARAMS: usize = 30_000;
/// Bound parameters per combined PostgreSQL statement: under its 65,535.
const STATEMENT_PARAMS: usize = 60_000;

/// Statements (SQL with `$1…` numbered from one, and their values) to run together.
#[derive(Default)]
pub struct Writes {
    parts: Vec<(String, Vec<Value>)>,
}

impl Writes {
    /// Adds one statement.
    pub fn add(&mut self, sql: impl Into<String>, values: Vec<Value>) {
        self.parts.push((sql.into(), values));
    }

    /// Adds a multi-row `{head} VALUES (…), (…) {tail}` of `values` taken `width` at a time
    /// (several statements when they would pass the bind limit); nothing without values.
    pub fn add_rows(&mut self, head: &str, tail: &str, width: usize, values: Vec<Value>) {
        let per_part = (PART_PARAMS / width) * width;
        let mut values = values.into_iter().peekable();
        while values.peek().is_some() {
            let part: Vec<Value> = values.by_ref().take(per_part).collect();
            let sql = format!(
                "{head} VALUES {} {tail}",
                value_rows(part.len() / width, width)
            );
            self.parts.push((sql, part));
        }
    }

    /// Runs every statement added.
    pub async fn run(self, conn: &impl ConnectionTrait) -> Result<()> {
        if !is_postgres(conn) {
            for (sql, values) in self.parts {
                conn.execute_raw(stmt(conn, &sql, values)).await?;
            }
            return Ok(());
        }
        let mut group: Vec<(String, Vec<Value>)> = Vec::new();
        let mut params = 0;
        for part in self.parts {
            if !group.is_empty() && params + part.1.len() > STATEMENT_PARAMS {
                run_combined(conn, std::mem::take(&mut group)).await?;
                params = 0;
            }
            params += part.1.len();
            group.push(part);
        }
        if !group.is_empty() {
            run_combined(conn, group).await?;
        }
        Ok(())
    }
}

async fn run_combined(conn: &impl ConnectionTrait, parts: Vec<(String, Vec<Value>)>) -> Result<()> {
    if parts.len() == 1 {
        let (sql, values) = parts.into_iter().next().unwrap_or_default();
        conn.execute_raw(stmt(conn, &sql, values)).await?;
        return Ok(());
    }
    let mut sql = String::from("WITH ");
    let mut all: Vec<Value> = Vec::new();
    for (i, (part, values)) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{i} AS ({})", renumber(&part, all.len())));
        all.extend(values);
    }
    sql.push_str(" SELECT 1");
    conn.execute_raw(stmt(conn, &sql, all)).await?;
    Ok(())
}

/// `sql` with every placeholder `$n` moved to `$(n + offset)`. The statements given to
/// [`Writes`] are the service's own and have no `$` inside literals.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_past_the_earlier_parts() {
        assert_eq!(
            renumber("INSERT INTO t VALUES ($1, $2), ($3, $10)", 7),
            "INSERT INTO t VALUES ($8, $9), ($10, $17)"
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
    }

    #[test]
    fn rows_are_split_at_the_bind_limit() {
        let mut writes = Writes::default();
        writes.add_rows(
            "INSERT INTO t (a, b)",
            "",
            2,
            vec![Value::from(1_i64); 40_000],
        );
        writes.add_rows("INSERT INTO u (a)", "", 1, Vec::new());
        let sizes: Vec<usize> = writes.parts.iter().map(|(_, v)| v.len()).collect();
        assert_eq!(sizes, [30_000, 10_000]);
        assert!(writes.parts[1].0.ends_with("($9999, $10000) "));
    }
}
