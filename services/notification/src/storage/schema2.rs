//! The second notification migration: the queue of automation actions that call other systems
//! (`notif_actions`: follow-up plans in profile, webhooks — performed after the consumer's commit, never
//! inside it) and what the service knows about stores' time zones (`notif_stores`) and each customer's
//! home store (`notif_customer_stores`), so quiet hours and "today" are store-local.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating the action queue and the store time-zone tables.
pub struct ActionAndStoreTables;

impl MigrationName for ActionAndStoreTables {
    fn name(&self) -> &str {
        "m0002_actions_and_stores"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ActionAndStoreTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = [
            // UNIQUE (chain_id, dedup_key): one plan / one webhook call per occurrence, whatever the
            // retries of the consumer or the scan.
            "CREATE TABLE IF NOT EXISTS notif_actions (
                action_id TEXT PRIMARY KEY, chain_id TEXT NOT NULL, kind TEXT NOT NULL,
                customer_id TEXT NOT NULL, automation_id TEXT NOT NULL, dedup_key TEXT NOT NULL,
                payload TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
                attempts INTEGER NOT NULL, next_attempt_at_us BIGINT NOT NULL, claimed_at_us BIGINT,
                result TEXT NOT NULL, created_at_us BIGINT NOT NULL, updated_at_us BIGINT NOT NULL,
                UNIQUE (chain_id, dedup_key))",
            "CREATE INDEX IF NOT EXISTS notif_actions_due ON notif_actions (status, next_attempt_at_us)",
            "CREATE TABLE IF NOT EXISTS notif_stores (
                chain_id TEXT NOT NULL, store_id TEXT NOT NULL, time_zone TEXT NOT NULL,
                update_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, store_id))",
            "CREATE TABLE IF NOT EXISTS notif_customer_stores (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, store_id TEXT NOT NULL,
                update_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, customer_id))",
        ];
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["notif_customer_stores", "notif_stores", "notif_actions"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
