//! The audit trail: who changed what in a chain's configuration, with the target before and
//! after the change.
//!
//! Each service records its own changes in its own `kit_audit` table, **in the transaction
//! that makes the change** ([`record`]): a change that rolls back (refused, failed, raced)
//! leaves no entry, and a committed change cannot lose its entry. Each service answers
//! `maitre.events.v1.EventLogService/ListAuditEntries` over its table ([`list`], served by
//! `eventlog::service`), and the gateway merges the four answers at `GET /v1/audit`. The
//! page token is one total order over every service's entries (time, service, id; all
//! descending), so the merged trail pages exactly: each service is asked for what lies
//! after the last entry the caller saw, whichever service wrote it.
//!
//! Secrets never enter the trail: [`record`] replaces the value of every field named like a
//! secret (`secret`, `password`, `hash`, `token`, `private_key`, `credential`, `sealed`, …)
//! with `"[redacted]"` at any depth, whatever the caller passed.

use maitre_proto::events::v1::{AuditEntry, ListAuditEntriesRequest};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};
use serde_json::Value;

use crate::{
    auth::Caller,
    db::{DbError, stmt},
};

/// What stands in a redacted field.
pub const REDACTED: &str = "[redacted]";

/// Page size when the request names none, and the largest one served.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 200;

/// One change, as the handler making it describes it.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// `<service>.<target>.<verb>`, e.g. `assignment.policy.update`.
    pub action: &'a str,
    /// The kind of target, e.g. `policy`.
    pub target_type: &'a str,
    /// Which target, e.g. a store id.
    pub target_id: &'a str,
    /// The target before (usually its API representation as proto3 JSON); `None` = new.
    pub before: Option<Value>,
    /// The target after; `None` = deleted.
    pub after: Option<Value>,
}

/// A message as proto3 JSON for [`Change::before`]/[`Change::after`] (`None` if the message
/// is not part of the contract, which a test of the caller would catch).
pub fn json_of<M: prost::Message + prost::Name>(message: &M) -> Option<Value> {
    maitre_proto::json::to_json(message).ok()
}

/// Is a field of this name a secret? (`keyHash`, `secret_hash`, `appSecret`, `password`, …)
/// Names of secrets are not (`secretsSet`, `replacedSecretNames`).
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace(['_', '-'], "");
    if name.ends_with("names") || name.ends_with("set") {
        return false;
    }
    [
        "secret",
        "password",
        "passwd",
        "hash",
        "token",
        "privatekey",
        "credential",
        "sealed",
        "ciphertext",
        "signingkey",
        "apikey",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// `value` with every secret-named field's value replaced by [`REDACTED`], at any depth.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| {
                    if is_secret_name(&name) && !matches!(value, Value::Null) {
                        (name, Value::String(REDACTED.into()))
                    } else {
                        (name, redact(value))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// Who made a change: the caller's subject (staff id, `api_key:<id>`, a service) and role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub role: String,
}

impl Actor {
    pub fn of(caller: &Caller) -> Self {
        Self {
            id: caller.staff_id.clone(),
            role: caller.role.as_str().to_owned(),
        }
    }
}

/// Records `change` to `chain_id` by `actor`. Call it on the transaction that makes the
/// change, after the change succeeded, so both commit or neither does.
pub async fn record(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    chain_id: &str,
    change: Change<'_>,
) -> Result<(), DbError> {
    let text = |v: Option<Value>| v.map(|v| redact(v).to_string()).unwrap_or_default();
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO kit_audit (chain_id, at_us, actor, actor_role, action, target_type, \
         target_id, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            chain_id.into(),
            chrono::Utc::now().timestamp_micros().into(),
            actor.id.clone().into(),
            actor.role.clone().into(),
            change.action.into(),
            change.target_type.into(),
            change.target_id.into(),
            text(change.before).into(),
            text(change.after).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// A position in the merged trail: the last entry seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub at_us: i64,
    pub service: String,
    pub id: i64,
}

impl PageToken {
    /// The token after `entry` (an entry of [`list`]).
    pub fn after(entry: &AuditEntry) -> Self {
        let at_us = entry
            .time
            .as_ref()
            .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
            .unwrap_or(0);
        let id = entry
            .id
            .rsplit(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Self {
            at_us,
            service: entry.service.clone(),
            id,
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.at_us, self.id, self.service)
    }

    pub fn decode(token: &str) -> Option<Self> {
        let mut parts = token.splitn(3, '.');
        let at_us = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        let service = parts.next()?.to_owned();
        (!service.is_empty()).then_some(Self { at_us, service, id })
    }

    /// Sort key of an entry in the merged order (newest first = largest first).
    pub fn key(&self) -> (i64, &str, i64) {
        (self.at_us, self.service.as_str(), self.id)
    }
}

/// Why a list request was refused (the field named).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadRequest {
    pub field: &'static str,
    pub message: String,
}

/// One page of `service`'s trail of `chain` (`None` = every chain), newest first, with the
/// next page's token.
pub async fn list(
    conn: &impl ConnectionTrait,
    service: &str,
    chain: Option<&str>,
    request: &ListAuditEntriesRequest,
) -> Result<Result<(Vec<AuditEntry>, String), BadRequest>, DbError> {
    let page_size = match request.page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        _ => {
            return Ok(Err(BadRequest {
                field: "page_size",
                message: format!("must be between 1 and {MAX_PAGE_SIZE}"),
            }));
        }
    };
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    // Binds a value; its placeholder.
    let mut arg = |value: sea_orm::Value| {
        values.push(value);
        format!("${}", values.len())
    };
    if let Some(chain) = chain {
        clauses.push(format!("chain_id = {}", arg(chain.into())));
    }
    if !request.page_token.is_empty() {
        let Some(token) = PageToken::decode(&request.page_token) else {
            return Ok(Err(BadRequest {
                field: "page_token",
                message: "is not a token this API issued".into(),
            }));
        };
        // (at_us, service, id) < token, with this service's name fixed.
        clauses.push(match service.cmp(token.service.as_str()) {
            std::cmp::Ordering::Less => format!("at_us <= {}", arg(token.at_us.into())),
            std::cmp::Ordering::Greater => format!("at_us < {}", arg(token.at_us.into())),
            std::cmp::Ordering::Equal => {
                let at = arg(token.at_us.into());
                let id = arg(token.id.into());
                format!("(at_us < {at} OR (at_us = {at} AND id < {id}))")
            }
        });
    }
    let action = request.action.trim();
    if !action.is_empty() {
        if action.ends_with('.') {
            let len = arg((action.chars().count() as i64).into());
            clauses.push(format!(
                "substr(action, 1, CAST({len} AS INTEGER)) = {}",
                arg(action.into())
            ));
        } else {
            clauses.push(format!("action = {}", arg(action.into())));
        }
    }
    for (column, value) in [
        ("target_type", request.target_type.trim()),
        ("target_id", request.target_id.trim()),
        ("actor", request.actor.trim()),
    ] {
        if !value.is_empty() {
            clauses.push(format!("{column} = {}", arg(value.into())));
        }
    }
    let micros = |t: &prost_types::Timestamp| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000;
    if let Some(since) = &request.since {
        clauses.push(format!("at_us >= {}", arg(micros(since).into())));
    }
    if let Some(until) = &request.until {
        clauses.push(format!("at_us < {}", arg(micros(until).into())));
    }
    let limit = arg(i64::from(page_size + 1).into());
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT id, chain_id, at_us, actor, actor_role, action, target_type, target_id, \
         before_json, after_json FROM kit_audit {filter} ORDER BY at_us DESC, id DESC LIMIT {limit}"
    );
    let rows = conn.query_all_raw(stmt(conn, &sql, values)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get_by_index(0)?;
        let at_us: i64 = row.try_get_by_index(2)?;
        entries.push(AuditEntry {
            id: format!("{service}:{id}"),
            service: service.to_owned(),
            chain_id: row.try_get_by_index(1)?,
            actor: row.try_get_by_index(3)?,
            actor_role: row.try_get_by_index(4)?,
            time: Some(prost_types::Timestamp {
                seconds: at_us.div_euclid(1_000_000),
                nanos: (at_us.rem_euclid(1_000_000) * 1_000) as i32,
            }),
            action: row.try_get_by_index(5)?,
            target_type: row.try_get_by_index(6)?,
            target_id: row.try_get_by_index(7)?,
            before_json: row.try_get_by_index(8)?,
            after_json: row.try_get_by_index(9)?,
        });
    }
    let next = if entries.len() > page_size as usize {
        entries.truncate(page_size as usize);
        entries
            .last()
            .map(|last| PageToken::after(last).encode())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Ok((entries, next)))
}

/// Migration creating `kit_audit` (every service's audit trail, same shape).
pub struct AuditTable;

impl MigrationName for AuditTable {
    fn name(&self) -> &str {
        "m0000_kit_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AuditTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let id = match db.get_database_backend() {
            DatabaseBackend::Postgres => "BIGSERIAL PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        for sql in [
            format!(
                "CREATE TABLE IF NOT EXISTS kit_audit (
                    id {id},
                    chain_id TEXT NOT NULL,
                    at_us BIGINT NOT NULL,
                    actor TEXT NOT NULL,
                    actor_role TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target_type TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    before_json TEXT NOT NULL,
                    after_json TEXT NOT NULL)"
            ),
            "CREATE INDEX IF NOT EXISTS kit_audit_chain_time ON kit_audit (chain_id, at_us, id)"
                .into(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS kit_audit")
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let value = json!({
            "name": "pos",
            "keyHash": "abc",
            "secret": "mk_live_x",
            "settings": {"appSecret": "s", "secretId": "id", "region": "ap-guangzhou"},
            "accounts": [{"password": "p", "user": "u"}],
            "unset": null,
            "secretsSet": ["secret_key"],
            "replacedSecretNames": ["secret_key"],
        });
        assert_eq!(
            redact(value),
            json!({
                "name": "pos",
                "keyHash": REDACTED,
                "secret": REDACTED,
                "settings": {"appSecret": REDACTED, "secretId": REDACTED, "region": "ap-guangzhou"},
                "accounts": [{"password": REDACTED, "user": "u"}],
                "unset": null,
                "secretsSet": ["secret_key"],
                "replacedSecretNames": ["secret_key"],
            })
        );
    }

    #[test]
    fn page_tokens_round_trip_and_order_across_services() {
        let a = PageToken {
            at_us: 1_700_000_000_000_001,
            service: "tagging".into(),
            id: 7,
        };
        assert_eq!(PageToken::decode(&a.encode()), Some(a.clone()));
        assert_eq!(PageToken::decode("garbage"), None);
        let b = PageToken {
            service: "assignment".into(),
            id: 9,
            ..a.clone()
        };
        assert!(b.key() < a.key());
    }
}
