//! The tag catalog: `tag_definition` (one row per tag, the current rule and version) and
//! `tag_rule_version` (every version of every rule, for history and explanations).
//! Enum columns hold the proto enum numbers.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use super::col;

/// Source numbers (proto `TagSource`).
pub const SOURCE_MANUAL: i64 = 1;
pub const SOURCE_RULE: i64 = 2;
pub const SOURCE_MODEL: i64 = 3;
/// Lifecycle numbers (proto `TagLifecycle`).
pub const LIFECYCLE_DRAFT: i64 = 1;
pub const LIFECYCLE_ACTIVE: i64 = 2;
pub const LIFECYCLE_DEPRECATED: i64 = 3;
pub const LIFECYCLE_RETIRED: i64 = 4;

/// One catalog row.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRow {
    pub chain_id: String,
    pub tag_id: String,
    pub name: String,
    pub display_name: String,
    pub category: i64,
    pub source: i64,
    pub lifecycle: i64,
    pub description: String,
    pub owner: String,
    pub rule: String,
    pub rule_version: i64,
    /// Tags the rule reads (`has_tag`), for cycle checks and evaluation order.
    pub rule_refs: Vec<String>,
    pub time_dependent: bool,
    pub model: String,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

impl TagRow {
    pub fn is_rule(&self) -> bool {
        self.source == SOURCE_RULE
    }

    /// Active or deprecated: members kept, rules evaluated.
    pub fn is_applied(&self) -> bool {
        self.lifecycle == LIFECYCLE_ACTIVE || self.lifecycle == LIFECYCLE_DEPRECATED
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.chain_id.clone().into(),
            self.tag_id.clone().into(),
            self.name.clone().into(),
            self.display_name.clone().into(),
            self.category.into(),
            self.source.into(),
            self.lifecycle.into(),
            self.description.clone().into(),
            self.owner.clone().into(),
            self.rule.clone().into(),
            self.rule_version.into(),
            self.rule_refs.join("\n").into(),
            i64::from(self.time_dependent).into(),
            self.model.clone().into(),
            self.created_at_us.into(),
            self.updated_at_us.into(),
        ]
    }
}

const COLUMNS: &str = "chain_id, tag_id, name, display_name, category, source, lifecycle, description, owner, rule, rule_version, rule_refs, time_dependent, model, created_at_us, updated_at_us";

fn from_row(row: &QueryResult) -> Result<TagRow, DbErr> {
    let refs: String = col(row, 11)?;
    Ok(TagRow {
        chain_id: col(row, 0)?,
        tag_id: col(row, 1)?,
        name: col(row, 2)?,
        display_name: col(row, 3)?,
        category: col(row, 4)?,
        source: col(row, 5)?,
        lifecycle: col(row, 6)?,
        description: col(row, 7)?,
        owner: col(row, 8)?,
        rule: col(row, 9)?,
        rule_version: col(row, 10)?,
        rule_refs: refs
            .split('\n')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        time_dependent: col::<i64>(row, 12)? != 0,
        model: col(row, 13)?,
        created_at_us: col(row, 14)?,
        updated_at_us: col(row, 15)?,
    })
}

pub async fn insert_tag(conn: &impl ConnectionTrait, tag: &TagRow) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO tag_definition ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ),
        tag.values(),
    ))
    .await?;
    if tag.is_rule() {
        insert_rule_version(conn, tag).await?;
    }
    Ok(())
}

/// Rewrites every mutable column of the row (key: chain_id, tag_id).
pub async fn update_tag(conn: &impl ConnectionTrait, tag: &TagRow) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_definition SET name = $3, display_name = $4, category = $5, source = $6,
            lifecycle = $7, description = $8, owner = $9, rule = $10, rule_version = $11,
            rule_refs = $12, time_dependent = $13, model = $14, created_at_us = $15,
            updated_at_us = $16
         WHERE chain_id = $1 AND tag_id = $2",
        tag.values(),
    ))
    .await?;
    Ok(())
}

/// Records the tag's current rule as its version `rule_version`.
pub async fn insert_rule_version(conn: &impl ConnectionTrait, tag: &TagRow) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_rule_version (chain_id, tag_id, version, rule, created_at_us) VALUES ($1, $2, $3, $4, $5)",
        [
            tag.chain_id.clone().into(),
            tag.tag_id.clone().into(),
            tag.rule_version.into(),
            tag.rule.clone().into(),
            tag.updated_at_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get_tag(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
) -> Result<Option<TagRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM tag_definition WHERE chain_id = $1 AND tag_id = $2"),
            [chain_id.into(), tag_id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every tag of the chain, by name.
pub async fn all_tags(conn: &impl ConnectionTrait, chain_id: &str) -> Result<Vec<TagRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM tag_definition WHERE chain_id = $1 ORDER BY name"),
            [chain_id.into()],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// A page of the catalog by name after `after_name`; 0 filters mean "any".
pub async fn list_tags(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    category: i64,
    lifecycle: i64,
    after_name: &str,
    limit: u64,
) -> Result<Vec<TagRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM tag_definition WHERE chain_id = $1
                   AND ($2 = 0 OR category = $2) AND ($3 = 0 OR lifecycle = $3) AND name > $4
                 ORDER BY name LIMIT $5"
            ),
            [
                chain_id.into(),
                category.into(),
                lifecycle.into(),
                after_name.into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// The rule text of one version of a tag's rule.
pub async fn rule_version(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
    version: i64,
) -> Result<Option<String>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT rule FROM tag_rule_version WHERE chain_id = $1 AND tag_id = $2 AND version = $3",
            [chain_id.into(), tag_id.into(), version.into()],
        ))
        .await?;
    row.as_ref().map(|r| col(r, 0)).transpose()
}

/// Chains with at least one applied, time-dependent rule tag (for the daily schedule).
pub async fn chains_with_time_rules(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT DISTINCT chain_id FROM tag_definition
             WHERE source = $1 AND time_dependent = 1 AND lifecycle IN ($2, $3)",
            [
                SOURCE_RULE.into(),
                LIFECYCLE_ACTIVE.into(),
                LIFECYCLE_DEPRECATED.into(),
            ],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}
