//! The API keys migration: integrations' credentials (`storage::api_keys`), kept by profile
//! because it owns the chain's stores a key is scoped to.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding `api_keys`.
pub struct ApiKeys;

impl MigrationName for ApiKeys {
    fn name(&self) -> &str {
        "m0003_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ApiKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = match db.get_database_backend() {
            DatabaseBackend::Postgres => "BYTEA",
            _ => "BLOB",
        };
        // key_id is unique across chains: the resolver finds a key by the id in its secret
        // before it knows the chain.
        for statement in [
            format!(
                "CREATE TABLE IF NOT EXISTS api_keys (
                key_id TEXT NOT NULL PRIMARY KEY, chain_id TEXT NOT NULL, name TEXT NOT NULL,
                role TEXT NOT NULL, store_ids TEXT NOT NULL, secret_sha256 {blob} NOT NULL,
                created_at_us BIGINT NOT NULL, created_by TEXT NOT NULL,
                revoked_at_us BIGINT, revoked_by TEXT NOT NULL, request_id TEXT NOT NULL)"
            ),
            "CREATE INDEX IF NOT EXISTS api_keys_chain ON api_keys (chain_id, created_at_us)"
                .to_owned(),
            "CREATE UNIQUE INDEX IF NOT EXISTS api_keys_request ON api_keys (chain_id, request_id) WHERE request_id <> ''"
                .to_owned(),
        ] {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS api_keys")
            .await?;
        Ok(())
    }
}
