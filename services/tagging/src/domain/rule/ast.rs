//! Syntax tree of a rule, with byte spans, and its pretty-printer. The printer emits the
//! fewest parentheses that reparse to the same tree (spans aside): see `same_shape`.

use std::fmt;

use super::error::Span;

/// Unit of a duration literal. Months and years are fixed lengths (30 and 365 days) so a
/// window means the same number of days whatever the date; `1y` is 365 days, `6m` 180.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Days,
    Weeks,
    Months,
    Years,
}

impl DurationUnit {
    pub fn from_suffix(suffix: &str) -> Option<DurationUnit> {
        match suffix {
            "d" => Some(DurationUnit::Days),
            "w" => Some(DurationUnit::Weeks),
            "m" => Some(DurationUnit::Months),
            "y" => Some(DurationUnit::Years),
            _ => None,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
            DurationUnit::Months => "m",
            DurationUnit::Years => "y",
        }
    }

    pub fn days(self) -> u64 {
        match self {
            DurationUnit::Days => 1,
            DurationUnit::Weeks => 7,
            DurationUnit::Months => 30,
            DurationUnit::Years => 365,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }

    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => PREC_OR,
            BinaryOp::And => PREC_AND,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => PREC_CMP,
            BinaryOp::Add | BinaryOp::Sub => PREC_ADD,
            BinaryOp::Mul | BinaryOp::Div => PREC_MUL,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == PREC_CMP
    }
}

// Binding strength, loosest first; mirrors the grammar in `parser.rs`.
const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_NOT: u8 = 3;
const PREC_CMP: u8 = 4;
const PREC_ADD: u8 = 5;
const PREC_MUL: u8 = 6;
const PREC_NEG: u8 = 7;
const PREC_ATOM: u8 = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Text(String),
    Duration {
        amount: u64,
        unit: DurationUnit,
    },
    Bool(bool),
    /// A bare name such as `days_since_last_visit` or `class`.
    Name(String),
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Not(_) => PREC_NOT,
            ExprKind::Neg(_) => PREC_NEG,
            _ => PREC_ATOM,
        }
    }

    /// Structural equality that ignores spans (what a pretty-print round trip preserves).
    pub fn same_shape(&self, other: &Expr) -> bool {
        use ExprKind::*;
        match (&self.kind, &other.kind) {
            (Number(a), Number(b)) => a == b,
            (Text(a), Text(b)) => a == b,
            (Duration { amount: a, unit: u }, Duration { amount: b, unit: v }) => a == b && u == v,
            (Bool(a), Bool(b)) => a == b,
            (Name(a), Name(b)) => a == b,
            (Call { name: a, args: x }, Call { name: b, args: y }) => {
                a == b && x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same_shape(q))
            }
            (Not(a), Not(b)) | (Neg(a), Neg(b)) => a.same_shape(b),
            (
                Binary {
                    op: o,
                    left: l,
                    right: r,
                },
                Binary {
                    op: p,
                    left: m,
                    right: s,
                },
            ) => o == p && l.same_shape(m) && r.same_shape(s),
            _ => false,
        }
    }

    fn write_at(&self, f: &mut fmt::Formatter<'_>, min_precedence: u8) -> fmt::Result {
        let parenthesise = self.precedence() < min_precedence;
        if parenthesise {
            f.write_str("(")?;
        }
        match &self.kind {
            ExprKind::Number(value) => write!(f, "{value}")?,
            ExprKind::Text(text) => write_string_literal(f, text)?,
            ExprKind::Duration { amount, unit } => write!(f, "{amount}{}", unit.suffix())?,
            ExprKind::Bool(value) => write!(f, "{value}")?,
            ExprKind::Name(name) => f.write_str(name)?,
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    arg.write_at(f, PREC_OR)?;
                }
                f.write_str(")")?;
            }
            ExprKind::Not(inner) => {
                f.write_str("not ")?;
                inner.write_at(f, PREC_NOT)?;
            }
            ExprKind::Neg(inner) => {
                f.write_str("-")?;
                inner.write_at(f, PREC_NEG)?;
            }
            ExprKind::Binary { op, left, right } => {
                let precedence = op.precedence();
                // Left-associative; comparisons do not chain, so both sides bind tighter.
                let left_min = if op.is_comparison() {
                    precedence + 1
                } else {
                    precedence
                };
                left.write_at(f, left_min)?;
                write!(f, " {} ", op.symbol())?;
                right.write_at(f, precedence + 1)?;
            }
        }
        if parenthesise {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn write_string_literal(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for ch in text.chars() {
        if ch == '"' || ch == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{ch}")?;
    }
    f.write_str("\"")
}

/// Pretty-prints with minimal parentheses.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, PREC_OR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }

    fn bin(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        leaf(ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    #[test]
    fn prints_minimal_parentheses() {
        let n = |v: f64| leaf(ExprKind::Number(v));
        let sub = bin(BinaryOp::Sub, n(1.0), bin(BinaryOp::Sub, n(2.0), n(3.0)));
        assert_eq!(sub.to_string(), "1 - (2 - 3)");
        let left = bin(BinaryOp::Sub, bin(BinaryOp::Sub, n(1.0), n(2.0)), n(3.0));
        assert_eq!(left.to_string(), "1 - 2 - 3");
        let mul = bin(BinaryOp::Mul, bin(BinaryOp::Add, n(1.0), n(2.0)), n(0.5));
        assert_eq!(mul.to_string(), "(1 + 2) * 0.5");
        let t = leaf(ExprKind::Bool(true));
        let or_in_and = bin(
            BinaryOp::And,
            bin(BinaryOp::Or, t.clone(), t.clone()),
            leaf(ExprKind::Not(Box::new(t.clone()))),
        );
        assert_eq!(or_in_and.to_string(), "(true or true) and not true");
        let neg = leaf(ExprKind::Neg(Box::new(leaf(ExprKind::Neg(Box::new(n(
            5.0,
        )))))));
        assert_eq!(neg.to_string(), "--5");
    }

    #[test]
    fn prints_calls_strings_and_durations() {
        let call = leaf(ExprKind::Call {
            name: "dish_share".into(),
            args: vec![
                leaf(ExprKind::Text("sea\"food\\".into())),
                leaf(ExprKind::Duration {
                    amount: 12,
                    unit: DurationUnit::Weeks,
                }),
            ],
        });
        assert_eq!(call.to_string(), r#"dish_share("sea\"food\\", 12w)"#);
    }

    #[test]
    fn units_have_fixed_lengths() {
        assert_eq!(DurationUnit::Months.days(), 30);
        assert_eq!(DurationUnit::Years.days(), 365);
        assert_eq!(DurationUnit::from_suffix("w"), Some(DurationUnit::Weeks));
        assert_eq!(DurationUnit::from_suffix("h"), None);
    }
}
