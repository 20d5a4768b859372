//! The assignment tables (SQL valid on PostgreSQL and SQLite): [`AssignmentTables`], then
//! [`DerivedOwnedCounts`].
//!
//! - `asg_manager` / `asg_manager_store`: the roster and who serves which store.
//! - `asg_policy`: the chain policy (`store_id = ''`) and store overrides, as JSON fields.
//! - `asg_customer`: current ownership, with a `version` every change bumps (the SQL guard
//!   of concurrent decisions: updates are conditional on the version read).
//! - `asg_contact`: contacts that reached the database, keyed by profile's event id (replays
//!   change nothing) — also the spend ledger of the value lock and of revenue.
//! - `asg_decision`: the history ("why"), with the store-local allocation buckets the even
//!   split balances are re-seeded from after a Redis flush.
//! - `asg_bulk_job` / `asg_bulk_move`: resumable bulk transfers and their persisted plan.
//!
//! Later migrations: [`DerivedOwnedCounts`], [`PoolReasons`], [`JobKinds`].

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

pub struct AssignmentTables;

impl MigrationName for AssignmentTables {
    fn name(&self) -> &str {
        "m0001_assignment_tables"
    }
}

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS asg_manager (
        chain_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        name TEXT NOT NULL,
        capacity BIGINT NOT NULL,
        status TEXT NOT NULL,
        roster_position BIGINT NOT NULL,
        updated_at_us BIGINT NOT NULL,
        PRIMARY KEY (chain_id, manager_id))",
    "CREATE TABLE IF NOT EXISTS asg_manager_store (
        chain_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        PRIMARY KEY (chain_id, store_id, manager_id))",
    "CREATE INDEX IF NOT EXISTS asg_manager_store_by_manager ON asg_manager_store (chain_id, manager_id)",
    "CREATE TABLE IF NOT EXISTS asg_policy (
        chain_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        fields TEXT NOT NULL,
        updated_at_us BIGINT NOT NULL,
        PRIMARY KEY (chain_id, store_id))",
    "CREATE TABLE IF NOT EXISTS asg_customer (
        chain_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        lock_json TEXT NOT NULL,
        reason TEXT NOT NULL,
        since_us BIGINT NOT NULL,
        store_id TEXT NOT NULL,
        last_contact_us BIGINT NOT NULL,
        last_visit_us BIGINT NOT NULL,
        counted_spend_fen BIGINT NOT NULL,
        erased BIGINT NOT NULL DEFAULT 0,
        version BIGINT NOT NULL,
        PRIMARY KEY (chain_id, customer_id))",
    "CREATE INDEX IF NOT EXISTS asg_customer_by_manager ON asg_customer (chain_id, manager_id, customer_id)",
    "CREATE INDEX IF NOT EXISTS asg_customer_pool ON asg_customer (chain_id, reason, store_id, customer_id)",
    "CREATE TABLE IF NOT EXISTS asg_contact (
        chain_id TEXT NOT NULL,
        source_event_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        amount_fen BIGINT NOT NULL,
        occurred_at_us BIGINT NOT NULL,
        PRIMARY KEY (chain_id, source_event_id))",
    "CREATE INDEX IF NOT EXISTS asg_contact_by_customer ON asg_contact (chain_id, customer_id, occurred_at_us)",
    "CREATE TABLE IF NOT EXISTS asg_decision (
        chain_id TEXT NOT NULL,
        decision_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        from_manager_id TEXT NOT NULL,
        to_manager_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        decided_at_us BIGINT NOT NULL,
        explanation TEXT NOT NULL,
        note TEXT NOT NULL,
        source_event_id TEXT NOT NULL,
        locked_after BIGINT NOT NULL,
        store_id TEXT NOT NULL,
        alloc_day TEXT NOT NULL,
        alloc_month TEXT NOT NULL,
        PRIMARY KEY (chain_id, decision_id))",
    "CREATE UNIQUE INDEX IF NOT EXISTS asg_decision_by_customer ON asg_decision (chain_id, customer_id, seq)",
    "CREATE INDEX IF NOT EXISTS asg_decision_day ON asg_decision (chain_id, store_id, alloc_day)",
    "CREATE INDEX IF NOT EXISTS asg_decision_month ON asg_decision (chain_id, store_id, alloc_month)",
    "CREATE INDEX IF NOT EXISTS asg_decision_to ON asg_decision (chain_id, to_manager_id, decided_at_us)",
    "CREATE INDEX IF NOT EXISTS asg_decision_from ON asg_decision (chain_id, from_manager_id, decided_at_us)",
    "CREATE TABLE IF NOT EXISTS asg_bulk_job (
        chain_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        from_manager_id TEXT NOT NULL,
        state TEXT NOT NULL,
        total BIGINT NOT NULL,
        done BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        error TEXT NOT NULL,
        actor TEXT NOT NULL,
        created_at_us BIGINT NOT NULL,
        PRIMARY KEY (chain_id, job_id))",
    "CREATE UNIQUE INDEX IF NOT EXISTS asg_bulk_job_request ON asg_bulk_job (chain_id, request_id)",
    "CREATE TABLE IF NOT EXISTS asg_bulk_move (
        chain_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        to_manager_id TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (chain_id, job_id, customer_id))",
];

#[async_trait::async_trait]
impl MigrationTrait for AssignmentTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in TABLES {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "asg_bulk_move",
            "asg_bulk_job",
            "asg_decision",
            "asg_contact",
            "asg_customer",
            "asg_policy",
            "asg_manager_store",
            "asg_manager",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

/// Drops `asg_manager.owned_count` from schemas made before owned counts were derived from
/// `asg_customer` (see `storage::managers`). New schemas never had it.
pub struct DerivedOwnedCounts;

impl MigrationName for DerivedOwnedCounts {
    fn name(&self) -> &str {
        "m0002_derived_owned_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DerivedOwnedCounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("asg_manager", "owned_count").await? {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE asg_manager DROP COLUMN owned_count")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Adds `asg_customer.pool_reason`: why a customer without an owner waits in the pool
/// (`domain::allocation::PoolReason` names; empty when owned).
pub struct PoolReasons;

impl MigrationName for PoolReasons {
    fn name(&self) -> &str {
        "m0003_pool_reasons"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PoolReasons {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("asg_customer", "pool_reason").await? {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE asg_customer ADD COLUMN pool_reason TEXT NOT NULL DEFAULT ''",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Adds `asg_bulk_job.kind`: the job table serves bulk transfers and lock reviews
/// (`storage::jobs::KIND_*`); jobs made before are bulk transfers.
pub struct JobKinds;

impl MigrationName for JobKinds {
    fn name(&self) -> &str {
        "m0004_job_kinds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for JobKinds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("asg_bulk_job", "kind").await? {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE asg_bulk_job ADD COLUMN kind TEXT NOT NULL DEFAULT 'bulk_transfer'",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
