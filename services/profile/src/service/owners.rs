//! Keeps each customer's `owner_manager_id` current from assignment's log: transfers,
//! bulk transfers, allocations and merge decisions all arrive as `OwnerChanged`. The owner
//! decides what a customer manager may see unmasked ("own customers"), so it must not go
//! stale between contacts. A new owner also receives the customer's follow-up plans nobody
//! holds — as on `AssignOnContact`'s answer, so an owner decided on the stream (an import, a
//! failed call) gets them too.

use maitre_kit::{
    db::stmt,
    eventlog::{ConsumeError, EventHandler},
};
use maitre_proto::events::v1::{Event, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

/// The cursor name of this consumer.
pub const CONSUMER: &str = "profile<-assignment";

/// Applies `OwnerChanged` events to the customers table.
pub struct OwnerEvents;

#[async_trait::async_trait]
impl EventHandler for OwnerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        if let Some(Payload::OwnerChanged(change)) = &event.payload {
            txn.execute_raw(stmt(
                txn,
                "UPDATE customers SET owner_manager_id = $1 WHERE chain_id = $2 AND customer_id = $3",
                [
                    change.to_manager_id.clone().into(),
                    event.chain_id.clone().into(),
                    change.customer_id.clone().into(),
                ],
            ))
            .await?;
            crate::storage::followups::hand_unheld_plans_to_owner(
                txn,
                &event.chain_id,
                &change.customer_id,
                &change.to_manager_id,
            )
            .await?;
        }
        Ok(())
    }
}
