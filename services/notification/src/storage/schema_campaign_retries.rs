//! The campaign-retry migration: a campaign whose dispatch fails keeps why (`failure_reason`), how
//! often it was tried (`attempts`) and when it may be tried again (`next_attempt_at_us`), so a
//! failing campaign waits its backoff out of the way of every other chain's campaigns.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding the retry columns of `notif_campaigns`.
pub struct CampaignRetries;

impl MigrationName for CampaignRetries {
    fn name(&self) -> &str {
        "m0005_campaign_retries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CampaignRetries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE notif_campaigns ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE notif_campaigns ADD COLUMN next_attempt_at_us BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE notif_campaigns ADD COLUMN failure_reason TEXT NOT NULL DEFAULT ''",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in ["attempts", "next_attempt_at_us", "failure_reason"] {
            db.execute_unprepared(&format!("ALTER TABLE notif_campaigns DROP COLUMN {column}"))
                .await?;
        }
        Ok(())
    }
}
