//! The fifth notification migration: who each guest is (`notif_customer_facts.guest`: what
//! profile's stream tells of name, gender and favourites, as JSON) and each store's name
//! (`notif_stores.name`), so messages address the guest and name their store. Guests this service
//! already knew from profile (a home store recorded) are marked known, so their messages are not
//! held waiting for profile's stream.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding the guest facts and store names.
pub struct GuestFacts;

impl MigrationName for GuestFacts {
    fn name(&self) -> &str {
        "m0005_guest_facts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for GuestFacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // `WHERE true`: SQLite reads `ON CONFLICT` after a bare SELECT as a join constraint.
        for sql in [
            "ALTER TABLE notif_customer_facts ADD COLUMN guest TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE notif_stores ADD COLUMN name TEXT NOT NULL DEFAULT ''",
            "INSERT INTO notif_customer_facts
               (chain_id, customer_id, tags, owner_id, birthday, class, update_time_us, guest)
             SELECT chain_id, customer_id, '[]', '', '', '', update_time_us, '{\"known\":true}'
               FROM notif_customer_stores WHERE true
             ON CONFLICT (chain_id, customer_id) DO UPDATE SET guest = excluded.guest",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE notif_customer_facts DROP COLUMN guest",
            "ALTER TABLE notif_stores DROP COLUMN name",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
