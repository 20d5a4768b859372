//! The provider-callbacks migration (issue 24): what a provider's callback names must be found by
//! an index, not a scan — a delivery report names the provider's id of the message
//! (`notif_messages.provider_message_id`), an inbound SMS the sender's phone
//! (`notif_customer_facts.phone_e164`, copied from the guest's contacts on every write and
//! back-filled here from the stored ones).

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration adding the look-ups of provider callbacks.
pub struct CallbackLookups;

impl MigrationName for CallbackLookups {
    fn name(&self) -> &str {
        "m0010_callback_lookups"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CallbackLookups {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backfill = match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                "UPDATE notif_customer_facts SET phone_e164 = \
                 COALESCE(guest::jsonb -> 'contacts' ->> 'phone_e164', '') \
                 WHERE guest LIKE '{%'"
            }
            _ => {
                "UPDATE notif_customer_facts SET phone_e164 = \
                 COALESCE(json_extract(guest, '$.contacts.phone_e164'), '') \
                 WHERE guest LIKE '{%'"
            }
        };
        for sql in [
            "ALTER TABLE notif_customer_facts ADD COLUMN phone_e164 TEXT NOT NULL DEFAULT ''",
            backfill,
            "CREATE INDEX IF NOT EXISTS notif_customer_facts_phone \
             ON notif_customer_facts (chain_id, phone_e164)",
            "CREATE INDEX IF NOT EXISTS notif_messages_provider_id \
             ON notif_messages (chain_id, provider_message_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS notif_messages_provider_id",
            "DROP INDEX IF EXISTS notif_customer_facts_phone",
            "ALTER TABLE notif_customer_facts DROP COLUMN phone_e164",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
