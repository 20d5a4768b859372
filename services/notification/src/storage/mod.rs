//! Storage of the notification service: migrations (the kit's tables first, then ours) and the SQL of
//! each table family. Every table is keyed by `chain_id` first and every query filters by it.

mod schema;
mod schema2;
mod schema3;
mod schema4;
mod schema5;
mod schema_callback_lookups;
mod schema_campaign_retries;
mod schema_message_opens;
mod schema_provider_accounts;
mod schema_send_claims;

pub mod actions;

pub mod automations;
pub mod awaiting;
pub mod campaigns;
pub mod claims;
pub mod facts;
pub mod inbox;
pub mod messages;
pub mod policy;
pub mod provider_accounts;
pub mod queue;
pub mod secrets;
pub mod settle;
pub mod stores;
pub mod templates;

use maitre_kit::eventlog::{ConsumerLeases, KitTables, PublishedSequenceIndexes};
use sea_orm::{ConnectionTrait, QueryResult};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::error::Result;

/// The service's migrations, applied at start and by `maitre migrate`.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(schema::NotificationTables),
            Box::new(schema2::ActionAndStoreTables),
            Box::new(schema3::QueueIndexes),
            Box::new(schema4::AwaitingOwner),
            Box::new(PublishedSequenceIndexes),
            Box::new(schema5::GuestFacts),
            Box::new(schema_campaign_retries::CampaignRetries),
            Box::new(schema_send_claims::SendClaims),
            Box::new(schema_provider_accounts::ProviderAccounts),
            Box::new(ConsumerLeases),
            Box::new(maitre_kit::audit::AuditTable),
            Box::new(schema_message_opens::MessageOpens),
            Box::new(schema_callback_lookups::CallbackLookups),
        ]
    }
}

/// Runs a statement and returns the rows it affected.
pub(crate) async fn exec(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<u64> {
    let result = conn
        .execute_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?;
    Ok(result.rows_affected())
}

/// Runs a query and returns every row.
pub(crate) async fn query_all(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<Vec<QueryResult>> {
    Ok(conn
        .query_all_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?)
}

/// Runs a query and returns the first row, if any.
pub(crate) async fn query_one(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<Option<QueryResult>> {
    Ok(conn
        .query_one_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?)
}
