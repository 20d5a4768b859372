//! Who a guest is, as messages name them: what profile's stream told this service (name, gender,
//! favourite dish and category, home store) turned into template values, and how staff address
//! the guest (称呼: surname and 女士/先生, seed 000 §三 "李女士"). One place fills these values
//! for every message, preview and reminder.

use super::template_vars::{TemplateValues, TemplateVariable};

/// What is known of one guest for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guest {
    pub name: String,
    /// "female", "male" or empty.
    pub gender: String,
    pub favourite_dish: String,
    pub favourite_category: String,
    /// `YYYY-MM-DD`, empty when unknown.
    pub birthday: String,
    /// `A`, `B`, `C` or empty.
    pub class: String,
    /// The name of the guest's home store, empty when unknown.
    pub store_name: String,
}

/// Two-character surnames (复姓) common enough to matter; any other name's surname is its first
/// character.
const COMPOUND_SURNAMES: [&str; 14] = [
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
    "司徒", "夏侯",
];

/// How staff address the guest: "李女士", "欧阳先生"; the name itself when the gender is unknown
/// or the name is not written in Chinese; empty when no name is known (templates then use their
/// default, e.g. "亲爱的顾客").
pub fn salutation(name: &str, gender: &str) -> String {
    let name = name.trim();
    let title = match gender {
        "female" => "女士",
        "male" => "先生",
        _ => return name.to_owned(),
    };
    if !name.chars().next().is_some_and(is_cjk) {
        return name.to_owned();
    }
    let surname = COMPOUND_SURNAMES
        .iter()
        .find(|s| name.starts_with(*s) && name.chars().count() > 2)
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| name.chars().take(1).collect());
    format!("{surname}{title}")
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

impl Guest {
    /// The template values this guest fills (empty ones are left to the template's default).
    pub fn template_values(&self) -> TemplateValues {
        let mut values = TemplateValues::new();
        self.fill(&mut values);
        values
    }

    /// Sets this guest's values in `values`.
    pub fn fill(&self, values: &mut TemplateValues) {
        let birthday_month_day: String = self.birthday.chars().skip(5).collect();
        for (variable, value) in [
            (TemplateVariable::CustomerName, self.name.clone()),
            (
                TemplateVariable::CustomerSalutation,
                salutation(&self.name, &self.gender),
            ),
            (TemplateVariable::CustomerBirthday, birthday_month_day),
            (
                TemplateVariable::CustomerFavouriteDish,
                self.favourite_dish.clone(),
            ),
            (
                TemplateVariable::CustomerFavouriteCategory,
                self.favourite_category.clone(),
            ),
            (TemplateVariable::CustomerClass, self.class.clone()),
            (TemplateVariable::StoreName, self.store_name.clone()),
        ] {
            if !value.is_empty() {
                values.set(variable, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salutations_use_the_surname_and_the_gender() {
        assert_eq!(salutation("李娜", "female"), "李女士");
        assert_eq!(salutation("王建国", "male"), "王先生");
        assert_eq!(salutation("欧阳娜娜", "female"), "欧阳女士");
        // 欧阳 alone is a given name of two characters, not a compound surname.
        assert_eq!(salutation("欧阳", "male"), "欧先生");
        assert_eq!(salutation("李娜", ""), "李娜");
        assert_eq!(salutation("Anna Smith", "female"), "Anna Smith");
        assert_eq!(salutation("", "female"), "");
    }

    #[test]
    fn a_guest_fills_name_salutation_favourites_and_store() {
        let guest = Guest {
            name: "李娜".into(),
            gender: "female".into(),
            favourite_dish: "杨枝甘露".into(),
            favourite_category: "dessert".into(),
            birthday: "1990-05-20".into(),
            class: "A".into(),
            store_name: "静安店".into(),
        };
        let values = guest.template_values();
        assert_eq!(
            values.get(TemplateVariable::CustomerSalutation),
            Some("李女士")
        );
        assert_eq!(values.get(TemplateVariable::CustomerName), Some("李娜"));
        assert_eq!(
            values.get(TemplateVariable::CustomerBirthday),
            Some("05-20")
        );
        assert_eq!(
            values.get(TemplateVariable::CustomerFavouriteDish),
            Some("杨枝甘露")
        );
        assert_eq!(values.get(TemplateVariable::StoreName), Some("静安店"));
        // Nothing known: nothing set, so templates' defaults apply.
        let unknown = Guest::default().template_values();
        assert_eq!(unknown.get(TemplateVariable::CustomerSalutation), None);
    }
}
