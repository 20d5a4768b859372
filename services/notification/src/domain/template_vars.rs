//! The catalog of variables a template may reference, filled from the customer profile, the store, the
//! owning manager, the coupon and the triggering occurrence (seed 000 §三: personalised greeting with the
//! guest's preferences; seed 002 §3: birthday greeting naming a favourite dessert).
//!
//! A closed catalog lets a template be rejected at save time when it names a variable nobody can fill.

use std::collections::BTreeMap;

/// A variable a template can reference as `{{path}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateVariable {
    CustomerName,
    /// How staff address the guest, e.g. "李女士".
    CustomerSalutation,
    CustomerBirthday,
    CustomerFavouriteDish,
    /// Favourite dish category, e.g. "甜品".
    CustomerFavouriteCategory,
    CustomerClass,
    StoreName,
    StorePhone,
    /// The owning customer manager (客户经理).
    ManagerName,
    ManagerPhone,
    CouponCode,
    CouponName,
    CouponExpiresOn,
    /// Days until the birthday/anniversary/follow-up that triggered the message.
    OccurrenceDaysUntil,
    AnniversaryName,
    FollowUpDueOn,
    FollowUpNote,
}

impl TemplateVariable {
    pub const ALL: [TemplateVariable; 17] = [
        TemplateVariable::CustomerName,
        TemplateVariable::CustomerSalutation,
        TemplateVariable::CustomerBirthday,
        TemplateVariable::CustomerFavouriteDish,
        TemplateVariable::CustomerFavouriteCategory,
        TemplateVariable::CustomerClass,
        TemplateVariable::StoreName,
        TemplateVariable::StorePhone,
        TemplateVariable::ManagerName,
        TemplateVariable::ManagerPhone,
        TemplateVariable::CouponCode,
        TemplateVariable::CouponName,
        TemplateVariable::CouponExpiresOn,
        TemplateVariable::OccurrenceDaysUntil,
        TemplateVariable::AnniversaryName,
        TemplateVariable::FollowUpDueOn,
        TemplateVariable::FollowUpNote,
    ];

    /// The dotted path written in templates.
    pub fn path(self) -> &'static str {
        match self {
            TemplateVariable::CustomerName => "customer.name",
            TemplateVariable::CustomerSalutation => "customer.salutation",
            TemplateVariable::CustomerBirthday => "customer.birthday",
            TemplateVariable::CustomerFavouriteDish => "customer.favourite_dish",
            TemplateVariable::CustomerFavouriteCategory => "customer.favourite_category",
            TemplateVariable::CustomerClass => "customer.class",
            TemplateVariable::StoreName => "store.name",
            TemplateVariable::StorePhone => "store.phone",
            TemplateVariable::ManagerName => "manager.name",
            TemplateVariable::ManagerPhone => "manager.phone",
            TemplateVariable::CouponCode => "coupon.code",
            TemplateVariable::CouponName => "coupon.name",
            TemplateVariable::CouponExpiresOn => "coupon.expires_on",
            TemplateVariable::OccurrenceDaysUntil => "occurrence.days_until",
            TemplateVariable::AnniversaryName => "anniversary.name",
            TemplateVariable::FollowUpDueOn => "follow_up.due_on",
            TemplateVariable::FollowUpNote => "follow_up.note",
        }
    }

    pub fn from_path(path: &str) -> Option<TemplateVariable> {
        Self::ALL
            .into_iter()
            .find(|variable| variable.path() == path)
    }

    /// Variables only an attached coupon can fill.
    pub fn needs_coupon(self) -> bool {
        matches!(
            self,
            TemplateVariable::CouponCode
                | TemplateVariable::CouponName
                | TemplateVariable::CouponExpiresOn
        )
    }
}

/// Values for one rendering; a missing or empty value falls back to the placeholder's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    values: BTreeMap<TemplateVariable, String>,
}

impl TemplateValues {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, variable: TemplateVariable, value: impl Into<String>) -> Self {
        self.set(variable, value);
        self
    }

    pub fn set(&mut self, variable: TemplateVariable, value: impl Into<String>) {
        self.values.insert(variable, value.into());
    }

    /// The value to substitute, treating an empty string as absent so the default applies.
    pub fn get(&self, variable: TemplateVariable) -> Option<&str> {
        self.values
            .get(&variable)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_round_trips_and_is_unique() {
        for variable in TemplateVariable::ALL {
            assert_eq!(TemplateVariable::from_path(variable.path()), Some(variable));
        }
        let mut paths: Vec<_> = TemplateVariable::ALL.iter().map(|v| v.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), TemplateVariable::ALL.len());
    }

    #[test]
    fn unknown_path_is_none() {
        assert_eq!(TemplateVariable::from_path("customer.salary"), None);
    }

    #[test]
    fn empty_value_counts_as_absent() {
        let values = TemplateValues::new()
            .with(TemplateVariable::CustomerName, "")
            .with(TemplateVariable::StoreName, "静安店");
        assert_eq!(values.get(TemplateVariable::CustomerName), None);
        assert_eq!(values.get(TemplateVariable::StoreName), Some("静安店"));
    }
}
