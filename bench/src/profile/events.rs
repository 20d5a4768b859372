//! The requests the profile benchmark sends: POS visits of ¥150 with one dish line, one
//! phone per guest. Phones are `+8613` followed by nine digits (a valid mainland mobile
//! range, so libphonenumber in the service accepts them); the guest number picks the digits.

use chrono::Utc;
use maitre_proto::common::v1::{EventChannel, IdentityKey, IdentityKind, Money};
use maitre_proto::events::v1::{ContactKind, OrderLine};
use maitre_proto::profile::v1 as pb;

/// Ticket of every visit, fen (¥150).
pub const TICKET_FEN: i64 = 15_000;
/// Guests recorded one by one through `RecordEvent` are numbered from here, clear of the
/// batch-imported guests (0, 1, 2, …).
pub const SINGLE_EVENT_GUESTS_FROM: u64 = 900_000_000;

/// The E.164 phone of guest `guest` (0 ≤ guest < 10⁹).
pub fn phone_of(guest: u64) -> String {
    format!("+8613{:09}", guest % 1_000_000_000)
}

/// The phone identity key of guest `guest`.
pub fn phone_key(guest: u64) -> IdentityKey {
    IdentityKey {
        kind: IdentityKind::Phone as i32,
        value: phone_of(guest),
        ..Default::default()
    }
}

/// A POS visit an hour ago by guest `guest` at `store_id`, external id `external_id`.
pub fn visit(store_id: &str, guest: u64, external_id: String) -> pb::ContactEvent {
    let at = Utc::now() - chrono::Duration::hours(1);
    pb::ContactEvent {
        channel: EventChannel::Pos as i32,
        external_id,
        kind: ContactKind::Visit as i32,
        identity_keys: vec![phone_key(guest)],
        store_id: store_id.into(),
        amount: Some(Money {
            amount_fen: TICKET_FEN,
            currency: String::new(),
        }),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        party_size: 2,
        lines: vec![OrderLine {
            dish_name: "清蒸石斑".into(),
            category: "seafood".into(),
            quantity: 1,
            amount_fen: TICKET_FEN,
            ..OrderLine::default()
        }],
        ..pb::ContactEvent::default()
    }
}

/// Batch `batch` of `size` first visits at `store_id`: guests `batch·size … batch·size + size − 1`.
pub fn import_batch(store_id: &str, batch: u64, size: u64) -> Vec<pb::ContactEvent> {
    (batch * size..(batch + 1) * size)
        .map(|guest| visit(store_id, guest, format!("import-{guest}")))
        .collect()
}

/// Repeat visits (round `round`) of the guests of import batch `batch`: the same guests
/// as `import_batch(store_id, batch, size)`, new external ids.
pub fn repeat_batch(store_id: &str, batch: u64, size: u64, round: u64) -> Vec<pb::ContactEvent> {
    (batch * size..(batch + 1) * size)
        .map(|guest| visit(store_id, guest, format!("repeat-{round}-{guest}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_distinct_eleven_digit_mobiles() {
        assert_eq!(phone_of(0), "+8613000000000");
        assert_eq!(phone_of(123_456_789), "+8613123456789");
        assert_ne!(phone_of(SINGLE_EVENT_GUESTS_FROM), phone_of(0));
        assert_eq!(phone_of(SINGLE_EVENT_GUESTS_FROM).len(), 14);
    }

    #[test]
    fn batches_cover_consecutive_guests_once() {
        let first = import_batch("s", 0, 3);
        let second = import_batch("s", 1, 3);
        let ids: Vec<&str> = first
            .iter()
            .chain(&second)
            .map(|e| e.external_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "import-0", "import-1", "import-2", "import-3", "import-4", "import-5"
            ]
        );
        assert_eq!(second[0].identity_keys[0].value, phone_of(3));
        assert!(first.iter().all(|e| e.store_id == "s"));
    }

    #[test]
    fn repeats_revisit_the_batch_guests_under_new_external_ids() {
        let first = import_batch("s", 1, 2);
        let again = repeat_batch("s", 1, 2, 7);
        let keys = |events: &[pb::ContactEvent]| -> Vec<String> {
            events
                .iter()
                .map(|e| e.identity_keys[0].value.clone())
                .collect()
        };
        assert_eq!(keys(&first), keys(&again));
        assert_eq!(again[0].external_id, "repeat-7-2");
        assert_ne!(
            repeat_batch("s", 1, 2, 8)[0].external_id,
            again[0].external_id
        );
    }
}
