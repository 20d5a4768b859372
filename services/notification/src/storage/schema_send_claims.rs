//! The send-claims migration (issue 19 item 7): who claimed a message (`claimed_by`, a dispatcher
//! worker) and whether it was handed to the provider (`handed_at_us`), plus the workers' leases
//! (`notif_workers`). A claim whose worker's lease lapsed is abandoned: if it never reached the
//! provider it is queued again; if it did, its outcome is reconciled, never blindly re-sent.
//! Messages left `sending` by a worker before this migration may have reached the provider, so
//! they are marked handed (their outcome is reconciled, not re-sent).

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding send claims and worker leases.
pub struct SendClaims;

impl MigrationName for SendClaims {
    fn name(&self) -> &str {
        "m0007_send_claims"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SendClaims {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE notif_messages ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE notif_messages ADD COLUMN handed_at_us BIGINT",
            "UPDATE notif_messages SET handed_at_us = claimed_at_us WHERE status = 'sending'",
            "CREATE TABLE IF NOT EXISTS notif_workers (
               worker_id TEXT PRIMARY KEY,
               replica TEXT NOT NULL,
               lease_until_us BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS notif_messages_claims ON notif_messages (claimed_by)
               WHERE status = 'sending'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS notif_messages_claims",
            "DROP TABLE IF EXISTS notif_workers",
            "ALTER TABLE notif_messages DROP COLUMN handed_at_us",
            "ALTER TABLE notif_messages DROP COLUMN claimed_by",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
