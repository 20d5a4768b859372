//! The evaluable form of a rule: a typed tree built once by the checker (`check.rs`), so
//! evaluation is a walk with no name lookups, no type tests and no string work beyond the
//! comparisons a rule asks for. Missing values (no P(alive), no visit, unset attribute,
//! division by zero, overflow) are `None`; every comparison with a missing side is false.

use super::day::EpochDay;
use super::error::Span;
use super::facts::{CustomerFacts, fen_to_yuan};
use super::interactions::InteractionKind;
use super::intern::{AttrId, CategoryId, StoreId, TagId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ordering {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone)]
pub(crate) enum BoolNode {
    Const(bool),
    Not(Box<BoolExpr>),
    And(Box<BoolExpr>, Box<BoolExpr>),
    Or(Box<BoolExpr>, Box<BoolExpr>),
    CompareNumbers(Ordering, Box<NumExpr>, Box<NumExpr>),
    /// `equal` is true for `==`, false for `!=`.
    CompareTexts {
        equal: bool,
        left: Box<TextExpr>,
        right: Box<TextExpr>,
    },
    CompareBools {
        equal: bool,
        left: Box<BoolExpr>,
        right: Box<BoolExpr>,
    },
    HasTag(TagId),
    BirthdayWithin {
        days: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum NumNode {
    Const(f64),
    Neg(Box<NumExpr>),
    Arith(Arith, Box<NumExpr>, Box<NumExpr>),
    Visits { days: u32 },
    SpendYuan { days: u32 },
    AvgTicketYuan { days: u32 },
    DishShare { category: CategoryId, days: u32 },
    StoreVisits { store: StoreId, days: u32 },
    DaysSinceLastVisit,
    PAlive,
    ExpectedVisits { days: u32 },
    Interactions { kind: InteractionKind, days: u32 },
}

#[derive(Debug, Clone)]
pub(crate) enum TextNode {
    Const(Box<str>),
    Attr(AttrId),
    Class,
}

#[derive(Debug, Clone)]
pub(crate) struct BoolExpr {
    pub node: BoolNode,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct NumExpr {
    pub node: NumNode,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct TextExpr {
    pub node: TextNode,
    pub span: Span,
}

/// A text value borrowed from the rule or the facts (the class is a `char`, kept as one
/// so evaluation never allocates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextValue<'a> {
    Str(&'a str),
    Char(char),
}

impl TextValue<'_> {
    fn equals(self, other: TextValue<'_>) -> bool {
        match (self, other) {
            (TextValue::Str(a), TextValue::Str(b)) => a == b,
            (TextValue::Char(a), TextValue::Char(b)) => a == b,
            (TextValue::Str(s), TextValue::Char(c)) | (TextValue::Char(c), TextValue::Str(s)) => {
                let mut chars = s.chars();
                chars.next() == Some(c) && chars.next().is_none()
            }
        }
    }

    pub(crate) fn to_owned_string(self) -> String {
        match self {
            TextValue::Str(s) => s.to_owned(),
            TextValue::Char(c) => c.to_string(),
        }
    }
}

/// Keeps numbers finite: NaN and ±∞ (overflow, 0/0) become missing.
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

impl BoolExpr {
    pub(crate) fn eval(&self, facts: &CustomerFacts, today: EpochDay) -> bool {
        match &self.node {
            BoolNode::Const(value) => *value,
            BoolNode::Not(inner) => !inner.eval(facts, today),
            BoolNode::And(left, right) => left.eval(facts, today) && right.eval(facts, today),
            BoolNode::Or(left, right) => left.eval(facts, today) || right.eval(facts, today),
            BoolNode::CompareNumbers(ordering, left, right) => {
                match (left.eval(facts, today), right.eval(facts, today)) {
                    (Some(l), Some(r)) => match ordering {
                        Ordering::Eq => l == r,
                        Ordering::Ne => l != r,
                        Ordering::Lt => l < r,
                        Ordering::Le => l <= r,
                        Ordering::Gt => l > r,
                        Ordering::Ge => l >= r,
                    },
                    _ => false,
                }
            }
            BoolNode::CompareTexts { equal, left, right } => {
                match (left.eval(facts, today), right.eval(facts, today)) {
                    (Some(l), Some(r)) => l.equals(r) == *equal,
                    _ => false,
                }
            }
            BoolNode::CompareBools { equal, left, right } => {
                (left.eval(facts, today) == right.eval(facts, today)) == *equal
            }
            BoolNode::HasTag(tag) => facts.has_tag(*tag),
            BoolNode::BirthdayWithin { days } => facts
                .birthday()
                .and_then(|birthday| birthday.days_until_next(today))
                .is_some_and(|until| until <= *days),
        }
    }

    /// True for a literal (explanations skip literals).
    pub(crate) fn is_constant(&self) -> bool {
        matches!(self.node, BoolNode::Const(_))
    }
}

impl NumExpr {
    pub(crate) fn eval(&self, facts: &CustomerFacts, today: EpochDay) -> Option<f64> {
        match &self.node {
            NumNode::Const(value) => Some(*value),
            NumNode::Neg(inner) => inner.eval(facts, today).map(|v| -v),
            NumNode::Arith(op, left, right) => {
                let (l, r) = (left.eval(facts, today)?, right.eval(facts, today)?);
                finite(match op {
                    Arith::Add => l + r,
                    Arith::Sub => l - r,
                    Arith::Mul => l * r,
                    Arith::Div => l / r,
                })
            }
            NumNode::Visits { days } => Some(facts.visit_count_in_window(today, *days) as f64),
            NumNode::SpendYuan { days } => {
                Some(fen_to_yuan(facts.spend_fen_in_window(today, *days)))
            }
            NumNode::AvgTicketYuan { days } => {
                // Spend per visit (a store-local day), as profile's average ticket.
                let visits = facts.visit_count_in_window(today, *days);
                if visits == 0 {
                    return Some(0.0);
                }
                let spend_fen = facts.spend_fen_in_window(today, *days);
                Some(fen_to_yuan(spend_fen) / visits as f64)
            }
            NumNode::DishShare { category, days } => {
                let (in_category, total) = facts.dish_lines_in_window(today, *days, *category);
                Some(if total == 0 {
                    0.0
                } else {
                    in_category as f64 / total as f64
                })
            }
            NumNode::StoreVisits { store, days } => {
                Some(facts.store_visit_count_in_window(today, *days, *store) as f64)
            }
            NumNode::DaysSinceLastVisit => facts.days_since_last_visit(today).map(|d| d as f64),
            NumNode::PAlive => facts.p_alive(),
            NumNode::ExpectedVisits { days } => facts
                .expected_visits_per_day()
                .and_then(|rate| finite(rate * f64::from(*days))),
            NumNode::Interactions { kind, days } => {
                Some(facts.interactions_in_window(*kind, today, *days) as f64)
            }
        }
    }

    pub(crate) fn is_constant(&self) -> bool {
        matches!(self.node, NumNode::Const(_))
    }
}

impl TextExpr {
    pub(crate) fn eval<'a>(
        &'a self,
        facts: &'a CustomerFacts,
        _today: EpochDay,
    ) -> Option<TextValue<'a>> {
        match &self.node {
            TextNode::Const(text) => Some(TextValue::Str(text)),
            TextNode::Attr(name) => facts.attribute(*name).map(TextValue::Str),
            TextNode::Class => facts.class().map(TextValue::Char),
        }
    }

    pub(crate) fn is_constant(&self) -> bool {
        matches!(self.node, TextNode::Const(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(node: NumNode) -> Box<NumExpr> {
        Box::new(NumExpr {
            node,
            span: Span::default(),
        })
    }

    #[test]
    fn text_equality_across_representations() {
        assert!(TextValue::Str("A").equals(TextValue::Char('A')));
        assert!(!TextValue::Str("AB").equals(TextValue::Char('A')));
        assert!(!TextValue::Str("").equals(TextValue::Char('A')));
        assert!(TextValue::Char('B').equals(TextValue::Char('B')));
        assert_eq!(TextValue::Char('C').to_owned_string(), "C");
    }

    #[test]
    fn arithmetic_overflow_and_division_by_zero_are_missing() {
        let facts = CustomerFacts::new();
        let div = NumExpr {
            node: NumNode::Arith(
                Arith::Div,
                num(NumNode::Const(1.0)),
                num(NumNode::Const(0.0)),
            ),
            span: Span::default(),
        };
        assert_eq!(div.eval(&facts, 0), None);
        let big = NumExpr {
            node: NumNode::Arith(
                Arith::Mul,
                num(NumNode::Const(1e300)),
                num(NumNode::Const(1e300)),
            ),
            span: Span::default(),
        };
        assert_eq!(big.eval(&facts, 0), None);
        let cmp = BoolExpr {
            node: BoolNode::CompareNumbers(Ordering::Ne, Box::new(div), num(NumNode::Const(1.0))),
            span: Span::default(),
        };
        assert!(
            !cmp.eval(&facts, 0),
            "missing != 1 is false, like every comparison with a missing side"
        );
    }
}
