//! Identity resolution: which customer an event's identity keys belong to.
//!
//! Pure decision over what storage already knows. The caller looks up every
//! stored link for the event's keys and passes them as [`CustomerMatch`]es;
//! [`resolve`] answers create, existing, merge or blocked. Storage keeps the
//! key → customer links non-unique: legacy member lists imported from a POS
//! often carry a shop's own phone or a test number on hundreds of cards, and
//! those customers must stay apart. The guards here keep such a key from ever
//! finding or merging a customer, and report it.
//!
//! Survivor rule (merge): the customer created first survives, ties broken by
//! the smaller id, so every replica picks the same survivor and the oldest
//! history (first visit, owner, lock) stays on the surviving record.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{identity::IdentityKey, ids::CustomerId};

/// A stored link from an identity key to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMatch {
    pub key: IdentityKey,
    pub customer_id: CustomerId,
    pub customer_created_at: DateTime<Utc>,
}

/// Chain-configurable guards against identifiers that do not name one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityGuards {
    /// Keys that never identify anyone (test numbers, stores' own phones).
    /// Shared: the chain's list is cached and read by every event.
    pub blocked_keys: Arc<HashSet<IdentityKey>>,
    /// A key linked to more distinct customers than this is shared, not
    /// personal, and is set aside.
    pub max_customers_per_key: usize,
}

impl Default for IdentityGuards {
    fn default() -> Self {
        Self {
            blocked_keys: Arc::default(),
            max_customers_per_key: 3,
        }
    }
}

/// Why a key was kept out of matching and merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockReason {
    /// The chain's block list names this key.
    BlockListed,
    /// The key is already linked to more separate customers than allowed.
    SharedByTooManyCustomers { customer_count: usize, limit: usize },
}

/// A key set aside by the guards, for the merge report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedKey {
    pub key: IdentityKey,
    pub reason: BlockReason,
}

/// The decision for one event's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No usable key matches anyone: create a new customer.
    Create,
    /// Every usable key that matches, matches this one customer.
    Existing(CustomerId),
    /// Usable keys match several customers: they are one person. `absorbed`
    /// is ordered oldest first and never contains `survivor`.
    Merge {
        survivor: CustomerId,
        absorbed: Vec<CustomerId>,
    },
    /// Keys were given but every one was set aside; `key` is the first.
    Blocked {
        key: IdentityKey,
        reason: BlockReason,
    },
    /// The event carried no identity key at all.
    NoIdentity,
}

/// [`Resolution`] plus what the caller must store and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub resolution: Resolution,
    /// Usable keys with no stored link yet: link them to the resulting customer.
    pub keys_to_link: Vec<IdentityKey>,
    /// Keys the guards set aside (to report; never used for matching).
    pub set_aside: Vec<BlockedKey>,
}

/// Decides which customer `keys` belong to, given every stored link for them.
pub fn resolve(
    keys: &[IdentityKey],
    matches: &[CustomerMatch],
    guards: &IdentityGuards,
) -> Resolved {
    let mut seen = HashSet::new();
    let keys: Vec<&IdentityKey> = keys.iter().filter(|key| seen.insert(*key)).collect();

    let mut set_aside = Vec::new();
    let mut keys_to_link = Vec::new();
    // customer → earliest creation time seen for it
    let mut matched: BTreeMap<CustomerId, DateTime<Utc>> = BTreeMap::new();

    for key in &keys {
        if guards.blocked_keys.contains(*key) {
            set_aside.push(BlockedKey {
                key: (*key).clone(),
                reason: BlockReason::BlockListed,
            });
            continue;
        }
        let linked: BTreeMap<CustomerId, DateTime<Utc>> = matches
            .iter()
            .filter(|m| &m.key == *key)
            .fold(BTreeMap::new(), |mut acc, m| {
                acc.entry(m.customer_id)
                    .and_modify(|at: &mut DateTime<Utc>| *at = (*at).min(m.customer_created_at))
                    .or_insert(m.customer_created_at);
                acc
            });
        if linked.len() > guards.max_customers_per_key {
            set_aside.push(BlockedKey {
                key: (*key).clone(),
                reason: BlockReason::SharedByTooManyCustomers {
                    customer_count: linked.len(),
                    limit: guards.max_customers_per_key,
                },
            });
            continue;
        }
        if linked.is_empty() {
            keys_to_link.push((*key).clone());
        }
        for (customer_id, created_at) in linked {
            matched
                .entry(customer_id)
                .and_modify(|at| *at = (*at).min(created_at))
                .or_insert(created_at);
        }
    }

    let resolution = if keys.is_empty() {
        Resolution::NoIdentity
    } else if matched.is_empty() && keys_to_link.is_empty() {
        // Non-empty keys, all set aside.
        match set_aside.first() {
            Some(first) => Resolution::Blocked {
                key: first.key.clone(),
                reason: first.reason.clone(),
            },
            None => Resolution::NoIdentity,
        }
    } else {
        let by_age: BTreeSet<(DateTime<Utc>, CustomerId)> =
            matched.into_iter().map(|(id, at)| (at, id)).collect();
        let mut oldest_first = by_age.into_iter().map(|(_, id)| id);
        match oldest_first.next() {
            None => Resolution::Create,
            Some(survivor) => {
                let absorbed: Vec<CustomerId> = oldest_first.collect();
                if absorbed.is_empty() {
                    Resolution::Existing(survivor)
                } else {
                    Resolution::Merge { survivor, absorbed }
                }
            }
        }
    };

    Resolved {
        resolution,
        keys_to_link,
        set_aside,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn key(canonical: &str) -> IdentityKey {
        canonical.parse().unwrap()
    }

    fn customer(n: u128) -> CustomerId {
        CustomerId(Uuid::from_u128(n))
    }

    fn link(canonical: &str, n: u128, created_day: u32) -> CustomerMatch {
        CustomerMatch {
            key: key(canonical),
            customer_id: customer(n),
            customer_created_at: Utc.with_ymd_and_hms(2024, 1, created_day, 0, 0, 0).unwrap(),
        }
    }

    const PHONE: &str = "phone:+8613800138000";
    const UNION: &str = "wechat_unionid:oU1";
    const CARD: &str = "member_card:C9";

    #[test]
    fn unknown_keys_create_and_are_all_linked() {
        let resolved = resolve(&[key(PHONE), key(UNION)], &[], &IdentityGuards::default());
        assert_eq!(resolved.resolution, Resolution::Create);
        assert_eq!(resolved.keys_to_link, [key(PHONE), key(UNION)]);
    }

    #[test]
    fn one_match_is_existing_and_new_keys_are_linked() {
        let resolved = resolve(
            &[key(PHONE), key(UNION), key(PHONE)],
            &[link(PHONE, 7, 3)],
            &IdentityGuards::default(),
        );
        assert_eq!(resolved.resolution, Resolution::Existing(customer(7)));
        assert_eq!(resolved.keys_to_link, [key(UNION)]);
    }

    #[test]
    fn two_customers_merge_into_the_oldest() {
        let matches = [link(PHONE, 1, 20), link(UNION, 2, 5), link(CARD, 3, 9)];
        let resolved = resolve(
            &[key(PHONE), key(UNION), key(CARD)],
            &matches,
            &IdentityGuards::default(),
        );
        assert_eq!(
            resolved.resolution,
            Resolution::Merge {
                survivor: customer(2),
                absorbed: vec![customer(3), customer(1)],
            }
        );
        assert!(resolved.keys_to_link.is_empty());
    }

    #[test]
    fn creation_ties_break_on_the_smaller_id() {
        let matches = [link(PHONE, 9, 1), link(UNION, 4, 1)];
        let resolved = resolve(
            &[key(UNION), key(PHONE)],
            &matches,
            &IdentityGuards::default(),
        );
        assert_eq!(
            resolved.resolution,
            Resolution::Merge {
                survivor: customer(4),
                absorbed: vec![customer(9)],
            }
        );
    }

    #[test]
    fn block_listed_key_never_merges() {
        let guards = IdentityGuards {
            blocked_keys: Arc::new(HashSet::from([key(PHONE)])),
            ..IdentityGuards::default()
        };
        let matches = [link(PHONE, 1, 1), link(UNION, 2, 2)];
        let resolved = resolve(&[key(PHONE), key(UNION)], &matches, &guards);
        assert_eq!(resolved.resolution, Resolution::Existing(customer(2)));
        assert_eq!(
            resolved.set_aside,
            [BlockedKey {
                key: key(PHONE),
                reason: BlockReason::BlockListed
            }]
        );
    }

    #[test]
    fn shared_key_alone_is_blocked_and_reported() {
        let matches: Vec<CustomerMatch> = (1..=4).map(|n| link(PHONE, n, 1)).collect();
        let resolved = resolve(&[key(PHONE)], &matches, &IdentityGuards::default());
        let reason = BlockReason::SharedByTooManyCustomers {
            customer_count: 4,
            limit: 3,
        };
        assert_eq!(
            resolved.resolution,
            Resolution::Blocked {
                key: key(PHONE),
                reason: reason.clone()
            }
        );
        assert_eq!(resolved.set_aside.len(), 1);
        assert!(resolved.keys_to_link.is_empty());
    }

    #[test]
    fn shared_key_with_a_fresh_personal_key_creates() {
        let matches: Vec<CustomerMatch> = (1..=4).map(|n| link(PHONE, n, 1)).collect();
        let resolved = resolve(
            &[key(PHONE), key(CARD)],
            &matches,
            &IdentityGuards::default(),
        );
        assert_eq!(resolved.resolution, Resolution::Create);
        assert_eq!(resolved.keys_to_link, [key(CARD)]);
    }

    #[test]
    fn key_within_the_limit_merges_its_customers() {
        let matches = [link(PHONE, 1, 2), link(PHONE, 2, 1)];
        let resolved = resolve(&[key(PHONE)], &matches, &IdentityGuards::default());
        assert_eq!(
            resolved.resolution,
            Resolution::Merge {
                survivor: customer(2),
                absorbed: vec![customer(1)],
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn survivor_is_the_oldest_and_never_absorbed(
            links in proptest::collection::vec((0usize..4, 1u128..6), 0..12),
        ) {
            let kinds = [PHONE, UNION, CARD, "member_card:C10"];
            let matches: Vec<CustomerMatch> =
                // A customer has one creation time; ids 1 and 4 tie on it.
                links.iter().map(|(k, n)| link(kinds[*k], *n, (*n % 3) as u32 + 1)).collect();
            let keys: Vec<IdentityKey> = kinds.iter().map(|k| key(k)).collect();
            let resolved = resolve(&keys, &matches, &IdentityGuards::default());
            if let Resolution::Merge { survivor, absorbed } = &resolved.resolution {
                proptest::prop_assert!(!absorbed.contains(survivor));
                let created = |id: &CustomerId| {
                    matches.iter().filter(|m| &m.customer_id == id).map(|m| m.customer_created_at).min()
                };
                for other in absorbed {
                    proptest::prop_assert!((created(survivor), *survivor) < (created(other), *other));
                }
            }
            // A key set aside never names the survivor through itself alone.
            for blocked in &resolved.set_aside {
                proptest::prop_assert!(!resolved.keys_to_link.contains(&blocked.key));
            }
        }
    }

    #[test]
    fn no_keys_is_no_identity() {
        let resolved = resolve(&[], &[link(PHONE, 1, 1)], &IdentityGuards::default());
        assert_eq!(resolved.resolution, Resolution::NoIdentity);
    }
}
