//! The follow-up supersession migration: a plan superseded by a newer plan of the same source
//! (`domain::followup::supersedes_open_plans`) names it in `superseded_by` and is closed.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding `followup_plans.superseded_by`.
pub struct FollowUpSupersession;

impl MigrationName for FollowUpSupersession {
    fn name(&self) -> &str {
        "m0002_followup_supersession"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FollowUpSupersession {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE followup_plans ADD COLUMN superseded_by TEXT NOT NULL DEFAULT ''",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE followup_plans DROP COLUMN superseded_by")
            .await?;
        Ok(())
    }
}
