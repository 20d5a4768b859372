//! Storage of the tagging service: its migrations (the kit's tables first) and the SQL
//! of each table family. Raw statements through `kit::db::stmt` (upserts, ranges and
//! aggregates that sea-orm's builder would obscure), valid on PostgreSQL and SQLite.

pub mod bitmaps;
pub mod campaigns;
pub mod catalog;
pub mod facts;
pub mod interactions;
pub mod jobs;
pub mod membership;
pub mod menu;
mod model_schema;
pub mod models;
mod place_schema;
pub mod places;
pub mod predictions;
pub mod roster;
pub mod ruleset;
mod schema;
pub mod segments;
pub mod watched;

use maitre_kit::eventlog::{ConsumerLeases, KitTables, PublishedSequenceIndexes};
use sea_orm::{DbErr, QueryResult, TryGetable};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

pub use model_schema::ModelTables;
pub use place_schema::PlaceTables;
pub use schema::TaggingTables;

/// The service's migrations, applied at start and by `maitre migrate`.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(TaggingTables),
            Box::new(ModelTables),
            Box::new(PlaceTables),
            Box::new(PublishedSequenceIndexes),
            Box::new(interactions::InteractionTables),
            Box::new(ConsumerLeases),
            Box::new(maitre_kit::audit::AuditTable),
        ]
    }
}

/// Column `i` of a row.
pub(crate) fn col<T: TryGetable>(row: &QueryResult, i: usize) -> Result<T, DbErr> {
    row.try_get_by_index::<T>(i)
}

pub use maitre_kit::db::begin_write;

/// Rows per multi-row statement: well inside SQLite's and PostgreSQL's parameter limits for
/// the widest row written this way (9 columns).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// The placeholders `$from, $from+1, …` of an `IN (…)` list of `n` values.
pub(crate) fn in_list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `chain_id` then `ids`, as the parameters of `chain_id = $1 AND customer_id IN (in_list(2, n))`.
pub(crate) fn chain_and(chain_id: &str, ids: &[String]) -> Vec<sea_orm::Value> {
    std::iter::once(chain_id.into())
        .chain(ids.iter().map(|id| id.clone().into()))
        .collect()
}
