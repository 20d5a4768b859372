//! The rule language's types and its one table of built-in functions: name, parameters,
//! result type, and whether the value can change with time alone. The checker
//! (`check.rs`) and the docs in `mod.rs` both follow this table.

use std::fmt;

/// Longest window or horizon a rule may name: 10 years of 365 days.
pub const MAX_WINDOW_DAYS: u32 = 3650;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    Text,
    Duration,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "Bool",
            Type::Number => "Number",
            Type::Text => "Text",
            Type::Duration => "Duration",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an argument must be. Names (tags, stores, categories, attributes) must be string
/// literals so they can be interned and checked once, at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A text literal naming something (a tag, store, dish category or attribute).
    NameLiteral,
    /// A duration literal of at most [`MAX_WINDOW_DAYS`].
    Window,
}

impl Param {
    pub fn describe(self) -> &'static str {
        match self {
            Param::NameLiteral => "a text literal",
            Param::Window => "a duration literal (e.g. 30d)",
        }
    }
}

/// Every built-in the language knows; `check.rs` maps each to its evaluable node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Visits,
    Spend,
    AvgTicket,
    DishShare,
    StoreVisits,
    DaysSinceLastVisit,
    BirthdayWithin,
    Attr,
    HasTag,
    Class,
    PAlive,
    ExpectedVisits,
    CampaignResponses,
    MessagesReplied,
    MessagesOpened,
    Reviews,
}

pub struct FunctionSig {
    pub name: &'static str,
    pub builtin: Builtin,
    pub params: &'static [Param],
    pub result: Type,
    /// True when the value can change with no new event, only because `today` moved.
    pub time_dependent: bool,
    /// True when the `Window` argument is a look-back over the visit history.
    pub reads_history_window: bool,
    pub summary: &'static str,
}

impl FunctionSig {
    /// Nullary built-ins are written bare (`p_alive`); `p_alive()` is accepted too.
    pub fn is_nullary(&self) -> bool {
        self.params.is_empty()
    }
}

use Param::{NameLiteral, Window};

/// The function table: the one place that says what each built-in takes and returns.
pub const FUNCTIONS: &[FunctionSig] = &[
    FunctionSig {
        name: "visits",
        builtin: Builtin::Visits,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: true,
        summary: "number of visits in the window",
    },
    FunctionSig {
        name: "spend",
        builtin: Builtin::Spend,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: true,
        summary: "total spend in the window, in yuan",
    },
    FunctionSig {
        name: "avg_ticket",
        builtin: Builtin::AvgTicket,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: true,
        summary: "spend / visits in the window, in yuan; 0 with no visits",
    },
    FunctionSig {
        name: "dish_share",
        builtin: Builtin::DishShare,
        params: &[NameLiteral, Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: true,
        summary: "share (0..=1) of dish lines in the window whose category is the given one; 0 with no lines",
    },
    FunctionSig {
        name: "store_visits",
        builtin: Builtin::StoreVisits,
        params: &[NameLiteral, Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: true,
        summary: "number of visits to the given store in the window",
    },
    FunctionSig {
        name: "days_since_last_visit",
        builtin: Builtin::DaysSinceLastVisit,
        params: &[],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "days from the latest visit on or before today to today; missing with no visit",
    },
    FunctionSig {
        name: "birthday_within",
        builtin: Builtin::BirthdayWithin,
        params: &[Window],
        result: Type::Bool,
        time_dependent: true,
        reads_history_window: false,
        summary: "the next birthday (today included) is at most this many days away",
    },
    FunctionSig {
        name: "attr",
        builtin: Builtin::Attr,
        params: &[NameLiteral],
        result: Type::Text,
        time_dependent: false,
        reads_history_window: false,
        summary: "a profile attribute; missing when not set",
    },
    FunctionSig {
        name: "has_tag",
        builtin: Builtin::HasTag,
        params: &[NameLiteral],
        result: Type::Bool,
        time_dependent: false,
        reads_history_window: false,
        summary: "the customer currently carries the tag (checked against the catalog)",
    },
    FunctionSig {
        name: "class",
        builtin: Builtin::Class,
        params: &[],
        result: Type::Text,
        time_dependent: false,
        reads_history_window: false,
        summary: "the customer's class (\"A\", \"B\", \"C\"); missing when unclassified",
    },
    FunctionSig {
        name: "p_alive",
        builtin: Builtin::PAlive,
        params: &[],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "BG/NBD probability the customer is still active; missing when not scored",
    },
    FunctionSig {
        name: "expected_visits",
        builtin: Builtin::ExpectedVisits,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "BG/NBD expected visits over the horizon (rate per day x days); missing when not scored",
    },
    // Interaction facts (seed 002 §1 互动偏好, interaction tags): counted over a window.
    FunctionSig {
        name: "campaign_responses",
        builtin: Builtin::CampaignResponses,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "campaigns responded to in the window (an explicit response or a reply to the campaign's message; one per campaign)",
    },
    FunctionSig {
        name: "messages_replied",
        builtin: Builtin::MessagesReplied,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "replies in the window to messages sent to the customer",
    },
    FunctionSig {
        name: "messages_opened",
        builtin: Builtin::MessagesOpened,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "messages sent to the customer that they opened in the window (each counted once, at its first open)",
    },
    FunctionSig {
        name: "reviews",
        builtin: Builtin::Reviews,
        params: &[Window],
        result: Type::Number,
        time_dependent: true,
        reads_history_window: false,
        summary: "reviews the customer wrote in the window",
    },
];

/// Looks a built-in up by name.
pub fn lookup(name: &str) -> Option<&'static FunctionSig> {
    FUNCTIONS.iter().find(|sig| sig.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_found() {
        for sig in FUNCTIONS {
            assert_eq!(
                FUNCTIONS
                    .iter()
                    .filter(|other| other.name == sig.name)
                    .count(),
                1
            );
            assert_eq!(lookup(sig.name).map(|s| s.builtin), Some(sig.builtin));
        }
        assert!(lookup("visit").is_none());
    }

    #[test]
    fn history_windows_are_time_dependent() {
        for sig in FUNCTIONS.iter().filter(|s| s.reads_history_window) {
            assert!(sig.time_dependent, "{}", sig.name);
            assert!(sig.params.contains(&Param::Window), "{}", sig.name);
        }
        assert!(!lookup("has_tag").is_some_and(|s| s.time_dependent));
    }
}
