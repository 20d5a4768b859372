//! The profile service's tables (after the kit's): stores, customers and their identity
//! links, contact events, merges, classification, follow-ups, menu.
//!
//! Plain SQL that runs on PostgreSQL and SQLite alike; every table is keyed by `chain_id`
//! first. Times are BIGINT microseconds (UTC), money BIGINT fen, flags 0/1 integers,
//! structured values JSON text (domain types) or protobuf bytes (contract types).

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating every profile table.
pub struct ProfileTables;

impl MigrationName for ProfileTables {
    fn name(&self) -> &str {
        "m0001_profile_tables"
    }
}

const TABLES: &[&str] = &[
    "dishes",
    "followup_plans",
    "followup_records",
    "rfm_cutoffs",
    "class_policy",
    "merge_log",
    "contact_events",
    "blocked_keys",
    "identity_links",
    "customer_stores",
    "customers",
    "stores",
];

#[async_trait::async_trait]
impl MigrationTrait for ProfileTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = match db.get_database_backend() {
            DatabaseBackend::Postgres => "BYTEA",
            _ => "BLOB",
        };
        let statements = [
            "CREATE TABLE IF NOT EXISTS stores (
                chain_id TEXT NOT NULL, store_id TEXT NOT NULL, name TEXT NOT NULL,
                time_zone TEXT NOT NULL, code TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, store_id))"
                .to_owned(),
            "CREATE UNIQUE INDEX IF NOT EXISTS stores_code ON stores (chain_id, code) WHERE code <> ''"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS customers (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                created_at_us BIGINT NOT NULL, updated_at_us BIGINT NOT NULL,
                home_store_id TEXT NOT NULL, profile TEXT NOT NULL, aggregates TEXT NOT NULL,
                visits BIGINT NOT NULL, spend_fen BIGINT NOT NULL, last_visit_us BIGINT,
                bookings BIGINT NOT NULL, class INTEGER NOT NULL, classification {blob},
                owner_manager_id TEXT NOT NULL, erased INTEGER NOT NULL, merged_into TEXT,
                PRIMARY KEY (chain_id, customer_id))"
            ),
            "CREATE INDEX IF NOT EXISTS customers_class ON customers (chain_id, class)".to_owned(),
            "CREATE INDEX IF NOT EXISTS customers_owner ON customers (chain_id, owner_manager_id)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS customer_stores (
                chain_id TEXT NOT NULL, store_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                PRIMARY KEY (chain_id, store_id, customer_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS customer_stores_customer ON customer_stores (chain_id, customer_id)"
                .to_owned(),
            // Links are not unique per key: legacy imports carry shared numbers, and the
            // resolution guards must see every customer a key names (domain::resolution).
            "CREATE TABLE IF NOT EXISTS identity_links (
                chain_id TEXT NOT NULL, identity_key TEXT NOT NULL, customer_id TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, identity_key, customer_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS identity_links_customer ON identity_links (chain_id, customer_id)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS blocked_keys (
                chain_id TEXT NOT NULL, identity_key TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, identity_key))"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS contact_events (
                chain_id TEXT NOT NULL, event_id TEXT NOT NULL, channel INTEGER NOT NULL,
                external_id TEXT NOT NULL, customer_id TEXT NOT NULL, kind INTEGER NOT NULL,
                store_id TEXT NOT NULL, occurred_at_us BIGINT NOT NULL, amount_fen BIGINT NOT NULL,
                payload {blob} NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, event_id))"
            ),
            // Idempotency of contact events: (chain, channel, external id) is recorded once.
            "CREATE UNIQUE INDEX IF NOT EXISTS contact_events_external ON contact_events (chain_id, channel, external_id)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS contact_events_customer ON contact_events (chain_id, customer_id, occurred_at_us)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS merge_log (
                chain_id TEXT NOT NULL, absorbed_id TEXT NOT NULL, survivor_id TEXT NOT NULL,
                reason TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, absorbed_id))"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS class_policy (
                chain_id TEXT PRIMARY KEY, policy {blob} NOT NULL, updated_at_us BIGINT NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS rfm_cutoffs (
                chain_id TEXT PRIMARY KEY, cutoffs TEXT NOT NULL, population BIGINT NOT NULL,
                computed_at_us BIGINT NOT NULL)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS followup_records (
                chain_id TEXT NOT NULL, record_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                manager_id TEXT NOT NULL, kind INTEGER NOT NULL, content TEXT NOT NULL,
                occurred_at_us BIGINT NOT NULL, plan_id TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, record_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS followup_records_customer ON followup_records (chain_id, customer_id)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS followup_plans (
                chain_id TEXT NOT NULL, plan_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                manager_id TEXT NOT NULL, kind INTEGER NOT NULL, title TEXT NOT NULL,
                due_at_us BIGINT NOT NULL, source TEXT NOT NULL, completed_at_us BIGINT,
                record_id TEXT NOT NULL, source_event_id TEXT NOT NULL, created_at_us BIGINT NOT NULL,
                due_announced INTEGER NOT NULL DEFAULT 0, overdue_announced INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (chain_id, plan_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS followup_plans_manager ON followup_plans (chain_id, manager_id, due_at_us)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS followup_plans_customer ON followup_plans (chain_id, customer_id)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS followup_plans_unannounced ON followup_plans (due_at_us) \
             WHERE completed_at_us IS NULL AND overdue_announced = 0"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS dishes (
                chain_id TEXT NOT NULL, dish_id TEXT NOT NULL, name TEXT NOT NULL,
                category TEXT NOT NULL, ingredients TEXT NOT NULL, launch_date TEXT NOT NULL,
                price_fen BIGINT NOT NULL, active INTEGER NOT NULL, updated_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, dish_id))"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS dishes_name ON dishes (chain_id, name)".to_owned(),
        ];
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
