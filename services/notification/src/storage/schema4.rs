//! The fourth notification migration: reminders parked until their customer's owner is known. A
//! remind-owner action can fire before the assignment stream has told this service who owns the
//! guest (a new guest tagged at once, assignment restarting); the rendered reminder waits here,
//! keyed by its de-duplication key, and goes to the owner's inbox when OwnerChanged arrives.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding `notif_parked_reminders`.
pub struct ParkedReminders;

impl MigrationName for ParkedReminders {
    fn name(&self) -> &str {
        "m0004_parked_reminders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ParkedReminders {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE IF NOT EXISTS notif_parked_reminders (
                chain_id TEXT NOT NULL, dedup_key TEXT NOT NULL, customer_id TEXT NOT NULL,
                item_id TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
                create_time_us BIGINT NOT NULL, PRIMARY KEY (chain_id, dedup_key))",
            "CREATE INDEX IF NOT EXISTS notif_parked_reminders_customer
               ON notif_parked_reminders (chain_id, customer_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notif_parked_reminders")
            .await?;
        Ok(())
    }
}
