//! The manager roster (seed 二): who the customer managers are, which stores they serve,
//! their status and capacity, and who may receive customers. Roster order — the order in
//! which rotation and tie-breaking walk the managers — is ascending [`ManagerId`], fixed
//! here so the Redis balance pick and the in-process rules see the same order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::error::AssignmentError;
use crate::domain::ids::{ManagerId, StoreId};

/// Per-manager counters (owned customers, customers allocated today or this month).
/// A manager missing from the map counts 0, like a missing field in a Redis hash.
pub type Tally = BTreeMap<ManagerId, u64>;

/// Reads a tally with the "missing counts 0" rule.
pub fn tally_of(tally: &Tally, manager_id: &ManagerId) -> u64 {
    tally.get(manager_id).copied().unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerStatus {
    OnDuty,
    /// Absent today (leave, day off): keeps customers, receives none by allocation.
    OffDuty,
    /// Left the chain: receives nothing; their customers are bulk-transferred (seed 四).
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    pub id: ManagerId,
    pub store_ids: BTreeSet<StoreId>,
    pub status: ManagerStatus,
    /// Most customers this manager may own; `None` is unlimited.
    pub max_customers: Option<u64>,
}

/// Why a manager can or cannot receive an allocated customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eligibility {
    Eligible,
    Left,
    OffDuty,
    NotInStore,
    AtCapacity { max_customers: u64 },
}

impl Manager {
    /// Free places left given the customers the manager owns now; `None` is unlimited.
    pub fn free_capacity(&self, owned_customers: u64) -> Option<u64> {
        self.max_customers
            .map(|max| max.saturating_sub(owned_customers))
    }

    /// Can this manager take one more customer (by transfer) at all?
    pub fn check_can_receive(&self, owned_customers: u64) -> Result<(), AssignmentError> {
        if self.status == ManagerStatus::Left {
            return Err(AssignmentError::ManagerLeft {
                manager_id: self.id.clone(),
            });
        }
        match self.max_customers {
            Some(max_customers) if owned_customers >= max_customers => {
                Err(AssignmentError::ManagerAtCapacity {
                    manager_id: self.id.clone(),
                    max_customers,
                })
            }
            _ => Ok(()),
        }
    }

    /// Only active, on-duty managers of the store with free capacity receive allocated
    /// customers (seed 二, ARCHITECTURE "Assignment").
    pub fn allocation_eligibility(&self, store_id: &StoreId, owned_customers: u64) -> Eligibility {
        match self.status {
            ManagerStatus::Left => return Eligibility::Left,
            ManagerStatus::OffDuty => return Eligibility::OffDuty,
            ManagerStatus::OnDuty => {}
        }
        if !self.store_ids.contains(store_id) {
            return Eligibility::NotInStore;
        }
        match self.max_customers {
            Some(max_customers) if owned_customers >= max_customers => {
                Eligibility::AtCapacity { max_customers }
            }
            _ => Eligibility::Eligible,
        }
    }
}

/// The chain's managers in roster order (ascending id), each id once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    managers: Vec<Manager>,
}

impl Roster {
    pub fn new(mut managers: Vec<Manager>) -> Result<Self, AssignmentError> {
        managers.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = managers.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(AssignmentError::DuplicateManager {
                manager_id: pair[0].id.clone(),
            });
        }
        Ok(Self { managers })
    }

    pub fn managers(&self) -> &[Manager] {
        &self.managers
    }

    pub fn get(&self, manager_id: &ManagerId) -> Option<&Manager> {
        self.managers
            .binary_search_by(|m| m.id.cmp(manager_id))
            .ok()
            .map(|index| &self.managers[index])
    }

    /// Like [`Roster::get`] but a typed error naming the missing manager.
    pub fn require(&self, manager_id: &ManagerId) -> Result<&Manager, AssignmentError> {
        self.get(manager_id)
            .ok_or_else(|| AssignmentError::UnknownManager {
                manager_id: manager_id.clone(),
            })
    }

    /// The store's members who have not left, on duty or not, in roster order: the
    /// rotation roster of 按天轮换 (being off one day must not shift everyone else's turn).
    pub fn store_members<'a>(&'a self, store_id: &'a StoreId) -> impl Iterator<Item = &'a Manager> {
        self.managers
            .iter()
            .filter(move |m| m.status != ManagerStatus::Left && m.store_ids.contains(store_id))
    }

    /// Managers who may receive an allocated customer in this store now, in roster order.
    pub fn eligible_for_allocation(
        &self,
        store_id: &StoreId,
        owned_customers: &Tally,
    ) -> Vec<ManagerId> {
        self.managers
            .iter()
            .filter(|m| {
                m.allocation_eligibility(store_id, tally_of(owned_customers, &m.id))
                    == Eligibility::Eligible
            })
            .map(|m| m.id.clone())
            .collect()
    }

    /// The manager a booking was made with, as the last-contact rule may use it: `None`
    /// when unknown or departed (a booking credited to someone who left must not hand them
    /// the customer back).
    pub fn contact_manager(&self, manager_id: &ManagerId) -> Option<ManagerId> {
        self.get(manager_id)
            .filter(|m| m.status != ManagerStatus::Left)
            .map(|m| m.id.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn manager(
        id: &str,
        stores: &[&str],
        status: ManagerStatus,
        max: Option<u64>,
    ) -> Manager {
        Manager {
            id: ManagerId::from(id),
            store_ids: stores.iter().map(|s| StoreId::from(*s)).collect(),
            status,
            max_customers: max,
        }
    }

    #[test]
    fn roster_order_is_by_id_not_insertion() {
        let roster = Roster::new(vec![
            manager("zhang", &["s1"], ManagerStatus::OnDuty, None),
            manager("li", &["s1"], ManagerStatus::OnDuty, None),
            manager("wang", &["s1"], ManagerStatus::OnDuty, None),
        ])
        .expect("distinct ids");
        let ids: Vec<&str> = roster.managers().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["li", "wang", "zhang"]);
        assert_eq!(
            roster.get(&"wang".into()).map(|m| m.id.as_str()),
            Some("wang")
        );
        assert!(roster.get(&"chen".into()).is_none());
    }

    #[test]
    fn duplicate_manager_is_a_typed_error() {
        let err = Roster::new(vec![
            manager("li", &["s1"], ManagerStatus::OnDuty, None),
            manager("li", &["s2"], ManagerStatus::OffDuty, None),
        ])
        .expect_err("duplicate");
        assert_eq!(
            err,
            AssignmentError::DuplicateManager {
                manager_id: "li".into()
            }
        );
    }

    #[test]
    fn eligibility_needs_on_duty_store_and_free_capacity() {
        let store = StoreId::from("s1");
        let on = manager("a", &["s1"], ManagerStatus::OnDuty, Some(2));
        assert_eq!(on.allocation_eligibility(&store, 1), Eligibility::Eligible);
        assert_eq!(
            on.allocation_eligibility(&store, 2),
            Eligibility::AtCapacity { max_customers: 2 }
        );
        assert_eq!(
            on.allocation_eligibility(&"s2".into(), 0),
            Eligibility::NotInStore
        );
        let off = manager("b", &["s1"], ManagerStatus::OffDuty, None);
        assert_eq!(off.allocation_eligibility(&store, 0), Eligibility::OffDuty);
        let left = manager("c", &["s1"], ManagerStatus::Left, None);
        assert_eq!(left.allocation_eligibility(&store, 0), Eligibility::Left);
    }

    #[test]
    fn eligible_list_filters_in_roster_order() {
        let roster = Roster::new(vec![
            manager("d", &["s1"], ManagerStatus::OnDuty, Some(1)),
            manager("c", &["s1"], ManagerStatus::Left, None),
            manager("b", &["s1"], ManagerStatus::OffDuty, None),
            manager("a", &["s1", "s2"], ManagerStatus::OnDuty, None),
            manager("e", &["s2"], ManagerStatus::OnDuty, None),
        ])
        .expect("distinct ids");
        let owned = Tally::from([(ManagerId::from("d"), 1)]);
        let store = StoreId::from("s1");
        assert_eq!(
            roster.eligible_for_allocation(&store, &owned),
            vec![ManagerId::from("a")]
        );
        let members: Vec<&str> = roster
            .store_members(&store)
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(members, ["a", "b", "d"]);
    }

    #[test]
    fn receiving_by_transfer_rejects_left_and_full() {
        let left = manager("c", &["s1"], ManagerStatus::Left, None);
        assert_eq!(
            left.check_can_receive(0),
            Err(AssignmentError::ManagerLeft {
                manager_id: "c".into()
            })
        );
        let full = manager("d", &["s1"], ManagerStatus::OffDuty, Some(3));
        assert_eq!(
            full.check_can_receive(3),
            Err(AssignmentError::ManagerAtCapacity {
                manager_id: "d".into(),
                max_customers: 3
            })
        );
        assert_eq!(full.check_can_receive(2), Ok(()));
        assert_eq!(full.free_capacity(2), Some(1));
    }

    #[test]
    fn departed_contact_manager_is_ignored() {
        let roster = Roster::new(vec![
            manager("wang", &["s1"], ManagerStatus::Left, None),
            manager("zhang", &["s1"], ManagerStatus::OffDuty, None),
        ])
        .expect("distinct ids");
        assert_eq!(roster.contact_manager(&"wang".into()), None);
        assert_eq!(
            roster.contact_manager(&"zhang".into()),
            Some("zhang".into())
        );
        assert_eq!(roster.contact_manager(&"ghost".into()), None);
        assert!(matches!(
            roster.require(&"ghost".into()),
            Err(AssignmentError::UnknownManager { .. })
        ));
    }
}
