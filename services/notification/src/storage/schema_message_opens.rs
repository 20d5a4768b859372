//! The migration recording opens: `notif_messages.opened_at_us`, the first time the guest opened
//! the message (0 = never), so an open is counted once per message whatever the callbacks repeat.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding the first open of each message.
pub struct MessageOpens;

impl MigrationName for MessageOpens {
    fn name(&self) -> &str {
        "m0009_message_opens"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MessageOpens {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE notif_messages ADD COLUMN opened_at_us BIGINT NOT NULL DEFAULT 0",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE notif_messages DROP COLUMN opened_at_us")
            .await?;
        Ok(())
    }
}
