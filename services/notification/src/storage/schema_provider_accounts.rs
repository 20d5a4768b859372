//! The provider-accounts migration (issue 24): each chain's provider account per channel
//! (`notif_provider_accounts`: kind, settings, the secrets sealed under a key from the
//! environment beside that key's id), and each template's binding to the provider's approved
//! template (`notif_templates.provider`, JSON).

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding provider accounts and template bindings.
pub struct ProviderAccounts;

impl MigrationName for ProviderAccounts {
    fn name(&self) -> &str {
        "m0008_provider_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProviderAccounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE IF NOT EXISTS notif_provider_accounts (
               chain_id TEXT NOT NULL,
               channel TEXT NOT NULL,
               kind TEXT NOT NULL,
               settings TEXT NOT NULL,
               secret_names TEXT NOT NULL,
               sealed TEXT NOT NULL,
               key_id TEXT NOT NULL,
               update_time_us BIGINT NOT NULL,
               PRIMARY KEY (chain_id, channel))",
            "ALTER TABLE notif_templates ADD COLUMN provider TEXT NOT NULL DEFAULT ''",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE notif_templates DROP COLUMN provider",
            "DROP TABLE IF EXISTS notif_provider_accounts",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
