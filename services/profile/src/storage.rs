//! Storage of the profile service: its migrations (the kit's tables first).

use maitre_kit::eventlog::KitTables;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// The service's migrations, applied at start and by `maitre migrate`.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(KitTables)]
    }
}
