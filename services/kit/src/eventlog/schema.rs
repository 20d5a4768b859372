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

/// Migration leaving unpublished outbox rows out of the sequence indexes (PostgreSQL).
///
/// A row is inserted without a sequence and numbered once by the publisher. Indexed with
/// its NULL sequence, each row cost two index entries at insert that only the numbering
/// made obsolete; an import writing three events per guest spent most of its WAL on the
/// outbox. Readers ask for `seq > n` and `max(seq)`, which imply `seq IS NOT NULL`, so the
/// partial indexes serve them. SQLite keeps its indexes: its column `UNIQUE` cannot be
/// dropped without rebuilding the table, and its writes are not the bottleneck.
pub struct PublishedSequenceIndexes;

impl MigrationName for PublishedSequenceIndexes {
    fn name(&self) -> &str {
        "m0000_kit_published_sequence_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PublishedSequenceIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        for sql in [
            "CREATE UNIQUE INDEX IF NOT EXISTS kit_outbox_published_seq ON kit_outbox (seq) \
             WHERE seq IS NOT NULL",
            "ALTER TABLE kit_outbox DROP CONSTRAINT IF EXISTS kit_outbox_seq_key",
            "CREATE INDEX IF NOT EXISTS kit_outbox_published_chain_seq ON kit_outbox (chain_id, seq) \
             WHERE seq IS NOT NULL",
            "DROP INDEX IF EXISTS kit_outbox_chain_seq",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        for sql in [
            "ALTER TABLE kit_outbox ADD CONSTRAINT kit_outbox_seq_key UNIQUE (seq)",
            "CREATE INDEX IF NOT EXISTS kit_outbox_chain_seq ON kit_outbox (chain_id, seq)",
            "DROP INDEX IF EXISTS kit_outbox_published_seq",
            "DROP INDEX IF EXISTS kit_outbox_published_chain_seq",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// Migration creating the partition leases of consumers shared among replicas
/// (`kit_consumer_lease`: holder and fencing epoch per partition) and their members
/// (`kit_consumer_member`); see `eventlog::partition`.
pub struct ConsumerLeases;

impl MigrationName for ConsumerLeases {
    fn name(&self) -> &str {
        "m0000_kit_consumer_leases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ConsumerLeases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE IF NOT EXISTS kit_consumer_lease (
                consumer TEXT NOT NULL,
                part INTEGER NOT NULL,
                holder TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                expires_at_us BIGINT NOT NULL,
                PRIMARY KEY (consumer, part))",
            "CREATE TABLE IF NOT EXISTS kit_consumer_member (
                consumer TEXT NOT NULL,
                holder TEXT NOT NULL,
                expires_at_us BIGINT NOT NULL,
                PRIMARY KEY (consumer, holder))",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["kit_consumer_member", "kit_consumer_lease"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
