//! The kit's own tables, migrated first by every service: outbox, consumer cursors,
//! idempotency records.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating `kit_outbox`, `kit_consumer_cursor` and `kit_idempotency`.
pub struct KitTables;

impl MigrationName for KitTables {
    fn name(&self) -> &str {
        "m0000_kit_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for KitTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (id, blob) = match db.get_database_backend() {
            DatabaseBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        };
        for sql in [
            format!(
                "CREATE TABLE IF NOT EXISTS kit_outbox (
                    id {id},
                    seq BIGINT UNIQUE,
                    chain_id TEXT NOT NULL,
                    payload {blob} NOT NULL,
                    created_at_us BIGINT NOT NULL)"
            ),
            "CREATE INDEX IF NOT EXISTS kit_outbox_unpublished ON kit_outbox (id) WHERE seq IS NULL".into(),
            "CREATE INDEX IF NOT EXISTS kit_outbox_chain_seq ON kit_outbox (chain_id, seq)".into(),
            "CREATE TABLE IF NOT EXISTS kit_consumer_cursor (
                consumer TEXT PRIMARY KEY,
                position BIGINT NOT NULL,
                updated_at_us BIGINT NOT NULL)"
                .into(),
            format!(
                "CREATE TABLE IF NOT EXISTS kit_idempotency (
                    chain_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    response {blob} NOT NULL,
                    created_at_us BIGINT NOT NULL,
                    PRIMARY KEY (chain_id, scope, request_id))"
            ),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["kit_idempotency", "kit_consumer_cursor", "kit_outbox"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
