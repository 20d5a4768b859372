//! The tables of watched segments and store-local time (PostgreSQL and SQLite alike):
//! `tag_segment_member`, `tag_store`, `tag_customer_store`, `tag_time_run`.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating the watched-segment and store tables.
pub struct PlaceTables;

impl MigrationName for PlaceTables {
    fn name(&self) -> &str {
        "m0003_tagging_places"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PlaceTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = [
            "CREATE TABLE IF NOT EXISTS tag_segment_member (
                chain_id TEXT NOT NULL, segment_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                entered_at_us BIGINT NOT NULL, PRIMARY KEY (chain_id, segment_id, customer_id))",
            "CREATE INDEX IF NOT EXISTS tag_segment_member_customer ON tag_segment_member (chain_id, customer_id)",
            "CREATE TABLE IF NOT EXISTS tag_store (
                chain_id TEXT NOT NULL, store_id TEXT NOT NULL, time_zone TEXT NOT NULL,
                name TEXT NOT NULL, PRIMARY KEY (chain_id, store_id))",
            "CREATE TABLE IF NOT EXISTS tag_customer_store (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, store_id TEXT NOT NULL,
                home BIGINT NOT NULL, PRIMARY KEY (chain_id, customer_id, store_id))",
            "CREATE TABLE IF NOT EXISTS tag_time_run (
                chain_id TEXT NOT NULL, time_zone TEXT NOT NULL, day BIGINT NOT NULL,
                PRIMARY KEY (chain_id, time_zone))",
        ];
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "tag_time_run",
            "tag_customer_store",
            "tag_store",
            "tag_segment_member",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
