//! The tagging tables (PostgreSQL and SQLite alike): catalog and rule versions, the
//! customer facts consumed from profile with their dense per-chain numbers, membership
//! and its history, segments, jobs. Every table is keyed by `chain_id` first; times are
//! BIGINT microseconds (UTC), money BIGINT fen, flags BIGINT 0/1.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating every tagging table.
pub struct TaggingTables;

impl MigrationName for TaggingTables {
    fn name(&self) -> &str {
        "m0001_tagging_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TaggingTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let serial = match db.get_database_backend() {
            DatabaseBackend::Postgres => "BIGSERIAL PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        let statements = [
            "CREATE TABLE IF NOT EXISTS tag_definition (
                chain_id TEXT NOT NULL, tag_id TEXT NOT NULL, name TEXT NOT NULL,
                display_name TEXT NOT NULL, category BIGINT NOT NULL, source BIGINT NOT NULL,
                lifecycle BIGINT NOT NULL, description TEXT NOT NULL, owner TEXT NOT NULL,
                rule TEXT NOT NULL, rule_version BIGINT NOT NULL, rule_refs TEXT NOT NULL,
                time_dependent BIGINT NOT NULL, model TEXT NOT NULL,
                created_at_us BIGINT NOT NULL, updated_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, tag_id))"
                .to_owned(),
            "CREATE UNIQUE INDEX IF NOT EXISTS tag_definition_name ON tag_definition (chain_id, name)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_rule_version (
                chain_id TEXT NOT NULL, tag_id TEXT NOT NULL, version BIGINT NOT NULL,
                rule TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, tag_id, version))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_chain (
                chain_id TEXT PRIMARY KEY, next_number BIGINT NOT NULL,
                roster_version BIGINT NOT NULL, time_rules_day BIGINT NOT NULL)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_customer (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, number BIGINT NOT NULL,
                birthday_month BIGINT NOT NULL, birthday_day BIGINT NOT NULL, class TEXT,
                erased BIGINT NOT NULL, updated_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, customer_id))"
                .to_owned(),
            "CREATE UNIQUE INDEX IF NOT EXISTS tag_customer_number ON tag_customer (chain_id, number)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_customer_attribute (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, name TEXT NOT NULL,
                value TEXT NOT NULL, PRIMARY KEY (chain_id, customer_id, name))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS tag_customer_attribute_value ON tag_customer_attribute (chain_id, name, value)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_visit (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, event_id TEXT NOT NULL,
                day BIGINT NOT NULL, amount_fen BIGINT NOT NULL, store_id TEXT NOT NULL,
                dish_categories TEXT NOT NULL, dish_lines BIGINT NOT NULL,
                PRIMARY KEY (chain_id, customer_id, event_id))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_membership (
                chain_id TEXT NOT NULL, tag_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                number BIGINT NOT NULL, source BIGINT NOT NULL, rule_version BIGINT NOT NULL,
                actor TEXT NOT NULL, added_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, tag_id, customer_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS tag_membership_customer ON tag_membership (chain_id, customer_id)"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS tag_history (
                    id {serial}, chain_id TEXT NOT NULL, tag_id TEXT NOT NULL,
                    customer_id TEXT NOT NULL, added BIGINT NOT NULL, actor TEXT NOT NULL,
                    reason TEXT NOT NULL, changed_at_us BIGINT NOT NULL)"
            ),
            "CREATE INDEX IF NOT EXISTS tag_history_customer ON tag_history (chain_id, customer_id, id)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS tag_history_tag ON tag_history (chain_id, tag_id, id)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_segment (
                chain_id TEXT NOT NULL, segment_id TEXT NOT NULL, name TEXT NOT NULL,
                expression TEXT NOT NULL, description TEXT NOT NULL, watched BIGINT NOT NULL,
                created_at_us BIGINT NOT NULL, PRIMARY KEY (chain_id, segment_id))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS tag_job (
                chain_id TEXT NOT NULL, job_id TEXT NOT NULL, kind TEXT NOT NULL,
                state BIGINT NOT NULL, done BIGINT NOT NULL, total BIGINT NOT NULL,
                failed BIGINT NOT NULL, error TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                updated_at_us BIGINT NOT NULL, PRIMARY KEY (chain_id, job_id))"
                .to_owned(),
        ];
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "tag_job",
            "tag_segment",
            "tag_history",
            "tag_membership",
            "tag_visit",
            "tag_customer_attribute",
            "tag_customer",
            "tag_chain",
            "tag_rule_version",
            "tag_definition",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
