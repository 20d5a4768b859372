//! The third notification migration: the dispatch queue's indexes for set-based claims. Claims read
//! queued rows in `(next_attempt_at_us, message_id)` order, so the index holds exactly that order and
//! only queued rows (a sent row leaves it instead of lingering in a `(status, …)` index that every
//! claim would walk); lease recovery reads `sending` rows by claim time.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration replacing the queue's `(status, next_attempt_at_us)` index with partial ones.
pub struct QueueIndexes;

impl MigrationName for QueueIndexes {
    fn name(&self) -> &str {
        "m0003_queue_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for QueueIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS notif_messages_queued ON notif_messages (next_attempt_at_us, message_id)
               WHERE status = 'queued'",
            "CREATE INDEX IF NOT EXISTS notif_messages_sending ON notif_messages (claimed_at_us)
               WHERE status = 'sending'",
            "DROP INDEX IF EXISTS notif_messages_due",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS notif_messages_due ON notif_messages (status, next_attempt_at_us)",
            "DROP INDEX IF EXISTS notif_messages_sending",
            "DROP INDEX IF EXISTS notif_messages_queued",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
