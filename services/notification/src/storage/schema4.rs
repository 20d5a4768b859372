//! The fourth notification migration: what waits for a customer's owner to be known. A remind-owner
//! or create-follow-up action can fire before the assignment stream has told this service who owns
//! the guest (a new guest tagged at once, assignment restarting); the action waits here, keyed by its
//! de-duplication key, and goes to the owner when OwnerChanged arrives.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding `notif_awaiting_owner`.
pub struct AwaitingOwner;

impl MigrationName for AwaitingOwner {
    fn name(&self) -> &str {
        "m0004_awaiting_owner"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AwaitingOwner {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE IF NOT EXISTS notif_awaiting_owner (
                chain_id TEXT NOT NULL, dedup_key TEXT NOT NULL, customer_id TEXT NOT NULL,
                payload TEXT NOT NULL, create_time_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, dedup_key))",
            "CREATE INDEX IF NOT EXISTS notif_awaiting_owner_customer
               ON notif_awaiting_owner (chain_id, customer_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notif_awaiting_owner")
            .await?;
        Ok(())
    }
}
