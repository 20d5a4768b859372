//! The notification tables, in SQL that runs on PostgreSQL and SQLite alike (times in BIGINT µs UTC,
//! booleans as 0/1 integers). The `UNIQUE (chain_id, dedup_key)` constraints are what make "never
//! twice for one occurrence" hold across retries, replicas and restarts.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating the notification tables.
pub struct NotificationTables;

impl MigrationName for NotificationTables {
    fn name(&self) -> &str {
        "m0001_notification_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NotificationTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (id, blob) = match db.get_database_backend() {
            DatabaseBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        };
        let statements = [
            "CREATE TABLE IF NOT EXISTS notif_templates (
                chain_id TEXT NOT NULL, template_id TEXT NOT NULL, name TEXT NOT NULL,
                channel TEXT NOT NULL, locale TEXT NOT NULL, subject TEXT, body TEXT NOT NULL,
                purpose TEXT NOT NULL, update_time_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, template_id))"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS notif_policy (
                    chain_id TEXT PRIMARY KEY, policy {blob} NOT NULL, update_time_us BIGINT NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS notif_preferences (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, consent TEXT NOT NULL,
                locale TEXT NOT NULL, update_time_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, customer_id))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS notif_messages (
                message_id TEXT PRIMARY KEY, chain_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                staff_id TEXT NOT NULL, channel TEXT NOT NULL, purpose TEXT NOT NULL,
                template_id TEXT NOT NULL, variables TEXT NOT NULL, subject TEXT NOT NULL,
                body TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
                campaign_id TEXT NOT NULL, automation_id TEXT NOT NULL, dedup_key TEXT NOT NULL,
                attempts INTEGER NOT NULL, next_attempt_at_us BIGINT NOT NULL,
                counted_at_us BIGINT, claimed_at_us BIGINT, provider_message_id TEXT NOT NULL,
                created_at_us BIGINT NOT NULL, updated_at_us BIGINT NOT NULL,
                UNIQUE (chain_id, dedup_key))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS notif_messages_due ON notif_messages (status, next_attempt_at_us)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS notif_messages_counted ON notif_messages (chain_id, customer_id, channel, counted_at_us)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS notif_messages_campaign ON notif_messages (chain_id, campaign_id, status)"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS notif_message_history (
                    id {id}, chain_id TEXT NOT NULL, message_id TEXT NOT NULL, status TEXT NOT NULL,
                    reason TEXT NOT NULL, change_time_us BIGINT NOT NULL)"
            ),
            "CREATE INDEX IF NOT EXISTS notif_message_history_message ON notif_message_history (message_id, id)"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS notif_inbox (
                    id {id}, chain_id TEXT NOT NULL, item_id TEXT NOT NULL UNIQUE,
                    staff_id TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
                    customer_id TEXT NOT NULL, read INTEGER NOT NULL, dedup_key TEXT NOT NULL,
                    create_time_us BIGINT NOT NULL, UNIQUE (chain_id, dedup_key))"
            ),
            "CREATE INDEX IF NOT EXISTS notif_inbox_staff ON notif_inbox (chain_id, staff_id, id)"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS notif_automations (
                    chain_id TEXT NOT NULL, automation_id TEXT NOT NULL, definition {blob} NOT NULL,
                    enabled INTEGER NOT NULL, trigger_kind INTEGER NOT NULL,
                    update_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, automation_id))"
            ),
            "CREATE TABLE IF NOT EXISTS notif_campaigns (
                chain_id TEXT NOT NULL, campaign_id TEXT NOT NULL, name TEXT NOT NULL,
                segment TEXT NOT NULL, template_id TEXT NOT NULL, coupon TEXT NOT NULL,
                scheduled_at_us BIGINT NOT NULL, state TEXT NOT NULL, targeted BIGINT NOT NULL,
                create_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, campaign_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS notif_campaigns_state ON notif_campaigns (state, scheduled_at_us)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS notif_customer_facts (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, tags TEXT NOT NULL,
                owner_id TEXT NOT NULL, birthday TEXT NOT NULL, class TEXT NOT NULL,
                update_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, customer_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS notif_customer_facts_birthday ON notif_customer_facts (birthday)"
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
            "notif_customer_facts",
            "notif_campaigns",
            "notif_automations",
            "notif_inbox",
            "notif_message_history",
            "notif_messages",
            "notif_preferences",
            "notif_policy",
            "notif_templates",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
