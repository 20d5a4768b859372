//! Who may see a guest's full contact details.
//!
//! Roles (ARCHITECTURE "Domain"): `hq_admin` sees the whole chain,
//! `store_manager` their stores, `customer_manager` their own customers,
//! `front_desk` records bookings and visits but sees phones masked
//! (`138****8000`), `service` is an internal caller. Chain scoping happens at
//! the gateway from the token; this module decides only within one chain.

use std::{collections::BTreeSet, fmt, str::FromStr};

use super::{
    error::FieldError,
    ids::{StaffId, StoreId},
    phone::PhoneE164,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    HqAdmin,
    StoreManager,
    CustomerManager,
    FrontDesk,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::HqAdmin => "hq_admin",
            Role::StoreManager => "store_manager",
            Role::CustomerManager => "customer_manager",
            Role::FrontDesk => "front_desk",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldError;

    fn from_str(role: &str) -> Result<Self, Self::Err> {
        [
            Role::HqAdmin,
            Role::StoreManager,
            Role::CustomerManager,
            Role::FrontDesk,
            Role::Service,
        ]
        .into_iter()
        .find(|r| r.as_str() == role)
        .ok_or_else(|| FieldError::invalid("role", format!("unknown role {role:?}")))
    }
}

/// The caller, as the verified token describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub role: Role,
    pub staff_id: Option<StaffId>,
    /// Stores in the caller's scope (store managers, front desk).
    pub store_ids: BTreeSet<StoreId>,
}

/// What access needs to know about the customer being viewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerScope {
    pub owner_manager_id: Option<StaffId>,
    /// Stores the customer has visited or is owned through.
    pub store_ids: BTreeSet<StoreId>,
}

/// Whether `viewer` may see `customer`'s phone and other contact data unmasked.
pub fn can_view_full_contact(viewer: &Viewer, customer: &CustomerScope) -> bool {
    match viewer.role {
        Role::HqAdmin | Role::Service => true,
        Role::StoreManager => !viewer.store_ids.is_disjoint(&customer.store_ids),
        Role::CustomerManager => {
            viewer.staff_id.is_some() && viewer.staff_id == customer.owner_manager_id
        }
        Role::FrontDesk => false,
    }
}

/// The phone as `viewer` may see it: in full, or masked.
pub fn phone_for_viewer(viewer: &Viewer, customer: &CustomerScope, phone: &PhoneE164) -> String {
    if can_view_full_contact(viewer, customer) {
        phone.as_str().to_owned()
    } else {
        mask_phone(phone)
    }
}

/// Masks a phone the way delivery platforms do: a Chinese mobile shows its
/// first 3 and last 4 digits (`138****8000`); other numbers keep their
/// country code and hide all but their edges (short numbers: all but the
/// last 2 digits).
pub fn mask_phone(phone: &PhoneE164) -> String {
    let national: Vec<char> = phone.national_digits().chars().collect();
    let len = national.len();
    let (head, tail) = match len {
        9.. => (3, 4),
        5..=8 => (0, 2),
        _ => (0, 0),
    };
    let masked: String = national
        .iter()
        .enumerate()
        .map(|(i, digit)| {
            if i < head || i >= len - tail {
                *digit
            } else {
                '*'
            }
        })
        .collect();
    if phone.country_code() == 86 {
        masked
    } else {
        format!("+{} {masked}", phone.country_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::normalize_phone;

    fn phone(raw: &str) -> PhoneE164 {
        normalize_phone("phone", raw).unwrap()
    }

    fn viewer(role: Role, staff: &str, stores: &[&str]) -> Viewer {
        Viewer {
            role,
            staff_id: Some(StaffId::new(staff)),
            store_ids: stores.iter().map(|s| StoreId::new(*s)).collect(),
        }
    }

    fn customer() -> CustomerScope {
        CustomerScope {
            owner_manager_id: Some(StaffId::new("wang")),
            store_ids: BTreeSet::from([StoreId::new("sh-01")]),
        }
    }

    #[test]
    fn masks_like_the_platforms() {
        assert_eq!(mask_phone(&phone("13800138000")), "138****8000");
        assert_eq!(mask_phone(&phone("010 6552 9988")), "106***9988");
        assert_eq!(mask_phone(&phone("+852 6123 4567")), "+852 ******67");
        assert_eq!(mask_phone(&phone("+1 202 555 0173")), "+1 202***0173");
    }

    #[test]
    fn who_sees_the_full_phone() {
        let c = customer();
        assert!(can_view_full_contact(&viewer(Role::HqAdmin, "hq", &[]), &c));
        assert!(can_view_full_contact(
            &viewer(Role::Service, "svc", &[]),
            &c
        ));
        assert!(can_view_full_contact(
            &viewer(Role::StoreManager, "m", &["sh-01"]),
            &c
        ));
        assert!(!can_view_full_contact(
            &viewer(Role::StoreManager, "m", &["bj-02"]),
            &c
        ));
        assert!(can_view_full_contact(
            &viewer(Role::CustomerManager, "wang", &["sh-01"]),
            &c
        ));
        assert!(!can_view_full_contact(
            &viewer(Role::CustomerManager, "li", &["sh-01"]),
            &c
        ));
        assert!(!can_view_full_contact(
            &viewer(Role::FrontDesk, "fd", &["sh-01"]),
            &c
        ));
        let unowned = CustomerScope {
            owner_manager_id: None,
            ..customer()
        };
        let anonymous_manager = Viewer {
            staff_id: None,
            ..viewer(Role::CustomerManager, "", &[])
        };
        assert!(!can_view_full_contact(&anonymous_manager, &unowned));
    }

    #[test]
    fn front_desk_gets_the_masked_phone() {
        let p = phone("+86 13800138000");
        assert_eq!(
            phone_for_viewer(&viewer(Role::FrontDesk, "fd", &["sh-01"]), &customer(), &p),
            "138****8000"
        );
        assert_eq!(
            phone_for_viewer(&viewer(Role::HqAdmin, "hq", &[]), &customer(), &p),
            "+8613800138000"
        );
    }

    #[test]
    fn roles_parse_from_token_names() {
        for role in [
            "hq_admin",
            "store_manager",
            "customer_manager",
            "front_desk",
            "service",
        ] {
            assert_eq!(role.parse::<Role>().unwrap().as_str(), role);
        }
        assert_eq!("admin".parse::<Role>().unwrap_err().field(), "role");
    }
}
