//! Rules of the tag catalog (seed 002 §1 "标签体系"): what a tag name may be, the lifecycle
//! draft → active → deprecated → retired (forward only), and the order in which rule tags
//! are evaluated so a rule reading `has_tag("x")` sees x's fresh value. Pure.

use std::collections::{HashMap, VecDeque};

/// Longest tag name, in bytes (names are ASCII identifiers).
pub const MAX_TAG_NAME_BYTES: usize = 64;

/// Words a tag name may not be: the language's keywords and bare built-ins, which a
/// segment expression would read as something else.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "true",
    "false",
    "class",
    "p_alive",
    "days_since_last_visit",
];

/// Lifecycle of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lifecycle {
    /// Being designed; not applied.
    Draft,
    /// Applied and usable in segments.
    Active,
    /// Still applied; discouraged for new segments.
    Deprecated,
    /// Removed from every customer; history kept.
    Retired,
}

impl Lifecycle {
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Draft => "draft",
            Lifecycle::Active => "active",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Retired => "retired",
        }
    }

    /// Whether members are kept and rules evaluated in this state.
    pub fn is_applied(self) -> bool {
        matches!(self, Lifecycle::Active | Lifecycle::Deprecated)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("tag name must not be empty")]
    EmptyName,
    #[error("tag name is longer than {MAX_TAG_NAME_BYTES} bytes")]
    NameTooLong,
    #[error(
        "tag name '{name}' must start with a letter or '_' and contain only ASCII letters, digits and '_'"
    )]
    NameNotIdentifier { name: String },
    #[error("tag name '{name}' is a reserved word of the rule language")]
    NameReserved { name: String },
    #[error(
        "a tag cannot move from {from} to {to}: only forward (draft → active → deprecated → retired)"
    )]
    BackwardTransition {
        from: &'static str,
        to: &'static str,
    },
}

/// Tag names are identifiers so segments can name them bare (`likes_dessert and vip`);
/// the display name carries the Chinese label (喜欢甜点).
pub fn validate_tag_name(name: &str) -> Result<(), CatalogError> {
    let mut bytes = name.bytes();
    let first = bytes.next().ok_or(CatalogError::EmptyName)?;
    if name.len() > MAX_TAG_NAME_BYTES {
        return Err(CatalogError::NameTooLong);
    }
    let identifier = (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !identifier {
        return Err(CatalogError::NameNotIdentifier { name: name.into() });
    }
    if RESERVED.contains(&name) {
        return Err(CatalogError::NameReserved { name: name.into() });
    }
    Ok(())
}

/// A lifecycle move is allowed only forward: to the next state, or straight to retired.
pub fn check_transition(from: Lifecycle, to: Lifecycle) -> Result<(), CatalogError> {
    let next = match from {
        Lifecycle::Draft => Some(Lifecycle::Active),
        Lifecycle::Active => Some(Lifecycle::Deprecated),
        Lifecycle::Deprecated => Some(Lifecycle::Retired),
        Lifecycle::Retired => None,
    };
    if to > from && (Some(to) == next || to == Lifecycle::Retired) {
        Ok(())
    } else {
        Err(CatalogError::BackwardTransition {
            from: from.name(),
            to: to.name(),
        })
    }
}

/// Indices of `rules` (name, tags its rule reads) in an order where every rule comes after
/// the rule tags it reads. Tags outside `rules` (manual, model) impose nothing. Rules on a
/// cycle (refused at save time, so only from a corrupt catalog) come last, in input order.
pub fn evaluation_order(rules: &[(&str, Vec<&str>)]) -> Vec<usize> {
    let index: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, i))
        .collect();
    let mut waiting_on = vec![0usize; rules.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    for (i, (_, reads)) in rules.iter().enumerate() {
        for dep in reads {
            if let Some(&d) = index.get(dep) {
                waiting_on[i] += 1;
                readers[d].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..rules.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut order = Vec::with_capacity(rules.len());
    let mut placed = vec![false; rules.len()];
    while let Some(i) = ready.pop_front() {
        order.push(i);
        placed[i] = true;
        for &reader in &readers[i] {
            waiting_on[reader] -= 1;
            if waiting_on[reader] == 0 {
                ready.push_back(reader);
            }
        }
    }
    order.extend((0..rules.len()).filter(|&i| !placed[i]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers_and_not_reserved() {
        assert!(validate_tag_name("likes_dessert").is_ok());
        assert!(validate_tag_name("_vip2").is_ok());
        assert_eq!(validate_tag_name(""), Err(CatalogError::EmptyName));
        assert!(matches!(
            validate_tag_name("2vip"),
            Err(CatalogError::NameNotIdentifier { .. })
        ));
        assert!(matches!(
            validate_tag_name("高价值"),
            Err(CatalogError::NameNotIdentifier { .. })
        ));
        assert!(matches!(
            validate_tag_name("and"),
            Err(CatalogError::NameReserved { .. })
        ));
        assert_eq!(
            validate_tag_name(&"a".repeat(65)),
            Err(CatalogError::NameTooLong)
        );
    }

    #[test]
    fn lifecycle_moves_only_forward() {
        use Lifecycle::*;
        for (from, to, ok) in [
            (Draft, Active, true),
            (Active, Deprecated, true),
            (Deprecated, Retired, true),
            (Draft, Retired, true),
            (Active, Retired, true),
            (Draft, Deprecated, false),
            (Active, Draft, false),
            (Retired, Active, false),
            (Active, Active, false),
            (Retired, Retired, false),
        ] {
            assert_eq!(check_transition(from, to).is_ok(), ok, "{from:?} → {to:?}");
        }
        assert!(Active.is_applied() && Deprecated.is_applied());
        assert!(!Draft.is_applied() && !Retired.is_applied());
    }

    #[test]
    fn rules_come_after_the_rule_tags_they_read() {
        let rules = vec![
            ("loyal_vip", vec!["vip", "manual_flag"]),
            ("vip", vec!["regular"]),
            ("regular", vec![]),
            ("other", vec![]),
        ];
        let order = evaluation_order(&rules);
        let pos = |name: &str| {
            order
                .iter()
                .position(|&i| rules[i].0 == name)
                .unwrap_or(usize::MAX)
        };
        assert_eq!(order.len(), 4);
        assert!(pos("regular") < pos("vip") && pos("vip") < pos("loyal_vip"));
        let cyclic = vec![("a", vec!["b"]), ("b", vec!["a"]), ("c", vec![])];
        assert_eq!(evaluation_order(&cyclic), vec![2, 0, 1]);
    }
}
