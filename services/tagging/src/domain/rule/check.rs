//! Type checker: [`ParsedRule`] → typed, evaluable tree ([`super::ir`]). Checking and
//! lowering are one pass so the two can never disagree: every node is typed as it is
//! built, names are interned, windows are bounded, `has_tag` references are checked
//! against the caller's catalog and collected (for cycle checks), and the rule's own type
//! must be Bool.

use std::collections::{BTreeSet, HashSet};

use super::ast::{BinaryOp, Expr, ExprKind};
use super::error::{Location, RuleError, Span};
use super::interactions::InteractionKind;
use super::intern::Interner;
use super::ir::{Arith, BoolExpr, BoolNode, NumExpr, NumNode, Ordering, TextExpr, TextNode};
use super::parser::ParsedRule;
use super::types::{Builtin, FunctionSig, MAX_WINDOW_DAYS, Param, Type, lookup};

/// Which tags exist, as the catalog sees them at compile time.
pub trait TagCatalog {
    fn tag_exists(&self, name: &str) -> bool;
}

impl<F: Fn(&str) -> bool> TagCatalog for F {
    fn tag_exists(&self, name: &str) -> bool {
        self(name)
    }
}

impl TagCatalog for HashSet<String> {
    fn tag_exists(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// Output of a successful check.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub root: BoolExpr,
    pub referenced_tags: BTreeSet<String>,
    pub time_dependent: bool,
    pub max_window_days: u32,
}

pub(crate) fn check(
    parsed: &ParsedRule,
    catalog: &dyn TagCatalog,
    interner: &mut Interner,
) -> Result<Checked, RuleError> {
    let mut checker = Checker {
        source: &parsed.source,
        catalog,
        interner,
        referenced_tags: BTreeSet::new(),
        time_dependent: false,
        max_window_days: 0,
    };
    let root = match checker.expr(&parsed.expr)? {
        Typed::Bool(root) => root,
        other => {
            return Err(RuleError::NotBoolean {
                found: other.ty().name().to_owned(),
                location: checker.location(parsed.expr.span),
            });
        }
    };
    Ok(Checked {
        root,
        referenced_tags: checker.referenced_tags,
        time_dependent: checker.time_dependent,
        max_window_days: checker.max_window_days,
    })
}

enum Typed {
    Bool(BoolExpr),
    Num(NumExpr),
    Text(TextExpr),
    Duration,
}

impl Typed {
    fn ty(&self) -> Type {
        match self {
            Typed::Bool(_) => Type::Bool,
            Typed::Num(_) => Type::Number,
            Typed::Text(_) => Type::Text,
            Typed::Duration => Type::Duration,
        }
    }
}

/// A checked argument of a built-in.
enum Arg<'e> {
    Name(&'e str),
    WindowDays(u32),
}

struct Checker<'a> {
    source: &'a str,
    catalog: &'a dyn TagCatalog,
    interner: &'a mut Interner,
    referenced_tags: BTreeSet<String>,
    time_dependent: bool,
    max_window_days: u32,
}

impl Checker<'_> {
    fn location(&self, span: Span) -> Location {
        Location::of(self.source, span)
    }

    fn operand_error(&self, op: &str, expected: &str, found: Type, span: Span) -> RuleError {
        RuleError::OperandType {
            op: op.to_owned(),
            expected: expected.to_owned(),
            found: found.name().to_owned(),
            location: self.location(span),
        }
    }

    fn bool_operand(&mut self, op: &str, expr: &Expr) -> Result<BoolExpr, RuleError> {
        match self.expr(expr)? {
            Typed::Bool(b) => Ok(b),
            other => Err(self.operand_error(op, "Bool", other.ty(), expr.span)),
        }
    }

    fn num_operand(&mut self, op: &str, expr: &Expr) -> Result<NumExpr, RuleError> {
        match self.expr(expr)? {
            Typed::Num(n) => Ok(n),
            other => Err(self.operand_error(op, "Number", other.ty(), expr.span)),
        }
    }

    fn expr(&mut self, expr: &Expr) -> Result<Typed, RuleError> {
        let span = expr.span;
        let bool_node = |node| Ok(Typed::Bool(BoolExpr { node, span }));
        let num_node = |node| Ok(Typed::Num(NumExpr { node, span }));
        match &expr.kind {
            ExprKind::Number(value) => num_node(NumNode::Const(*value)),
            ExprKind::Text(text) => Ok(Typed::Text(TextExpr {
                node: TextNode::Const(text.as_str().into()),
                span,
            })),
            ExprKind::Bool(value) => bool_node(BoolNode::Const(*value)),
            ExprKind::Duration { .. } => Ok(Typed::Duration),
            ExprKind::Not(inner) => {
                bool_node(BoolNode::Not(Box::new(self.bool_operand("not", inner)?)))
            }
            ExprKind::Neg(inner) => num_node(NumNode::Neg(Box::new(self.num_operand("-", inner)?))),
            ExprKind::Name(name) => self.call(name, &[], span),
            ExprKind::Call { name, args } => self.call(name, args, span),
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, span),
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        span: Span,
    ) -> Result<Typed, RuleError> {
        let symbol = op.symbol();
        let arith = match op {
            BinaryOp::Or | BinaryOp::And => {
                let (l, r) = (
                    self.bool_operand(symbol, left)?,
                    self.bool_operand(symbol, right)?,
                );
                let node = if op == BinaryOp::And {
                    BoolNode::And(Box::new(l), Box::new(r))
                } else {
                    BoolNode::Or(Box::new(l), Box::new(r))
                };
                return Ok(Typed::Bool(BoolExpr { node, span }));
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => return self.comparison(op, left, right, span),
            BinaryOp::Add => Arith::Add,
            BinaryOp::Sub => Arith::Sub,
            BinaryOp::Mul => Arith::Mul,
            BinaryOp::Div => Arith::Div,
        };
        let (l, r) = (
            self.num_operand(symbol, left)?,
            self.num_operand(symbol, right)?,
        );
        Ok(Typed::Num(NumExpr {
            node: NumNode::Arith(arith, Box::new(l), Box::new(r)),
            span,
        }))
    }

    fn comparison(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        span: Span,
    ) -> Result<Typed, RuleError> {
        let symbol = op.symbol();
        let (l, r) = (self.expr(left)?, self.expr(right)?);
        let ordering = match op {
            BinaryOp::Eq => Ordering::Eq,
            BinaryOp::Ne => Ordering::Ne,
            BinaryOp::Lt => Ordering::Lt,
            BinaryOp::Le => Ordering::Le,
            BinaryOp::Gt => Ordering::Gt,
            _ => Ordering::Ge,
        };
        let equality = matches!(ordering, Ordering::Eq | Ordering::Ne);
        let equal = ordering == Ordering::Eq;
        let node = match (l, r) {
            (Typed::Num(l), Typed::Num(r)) => {
                BoolNode::CompareNumbers(ordering, Box::new(l), Box::new(r))
            }
            (Typed::Text(l), Typed::Text(r)) if equality => BoolNode::CompareTexts {
                equal,
                left: Box::new(l),
                right: Box::new(r),
            },
            (Typed::Bool(l), Typed::Bool(r)) if equality => BoolNode::CompareBools {
                equal,
                left: Box::new(l),
                right: Box::new(r),
            },
            (Typed::Duration, _) => {
                return Err(self.operand_error(
                    symbol,
                    "Number, Text or Bool",
                    Type::Duration,
                    left.span,
                ));
            }
            (_, Typed::Duration) => {
                return Err(self.operand_error(
                    symbol,
                    "Number, Text or Bool",
                    Type::Duration,
                    right.span,
                ));
            }
            (l, r) if l.ty() == r.ty() => {
                return Err(self.operand_error(symbol, "Number", l.ty(), left.span));
            }
            (l, r) => {
                return Err(RuleError::MismatchedComparison {
                    op: symbol.to_owned(),
                    left: l.ty().name().to_owned(),
                    right: r.ty().name().to_owned(),
                    location: self.location(span),
                });
            }
        };
        Ok(Typed::Bool(BoolExpr { node, span }))
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
        let Some(sig) = lookup(name) else {
            return Err(RuleError::UnknownFunction {
                name: name.to_owned(),
                location: self.location(span),
            });
        };
        if args.len() != sig.params.len() {
            return Err(RuleError::WrongArity {
                name: name.to_owned(),
                expected: sig.params.len(),
                found: args.len(),
                location: self.location(span),
            });
        }
        let checked = args
            .iter()
            .zip(sig.params)
            .enumerate()
            .map(|(i, (arg, param))| self.argument(sig, i + 1, *param, arg))
            .collect::<Result<Vec<_>, _>>()?;
        self.time_dependent |= sig.time_dependent;
        let mut name_arg = None;
        let mut days = 0;
        for arg in checked {
            match arg {
                Arg::Name(n) => name_arg = Some(n),
                Arg::WindowDays(d) => days = d,
            }
        }
        if sig.reads_history_window {
            self.max_window_days = self.max_window_days.max(days);
        }
        let name_arg = name_arg.unwrap_or("");
        let bool_node = |node| Ok(Typed::Bool(BoolExpr { node, span }));
        let num_node = |node| Ok(Typed::Num(NumExpr { node, span }));
        let text_node = |node| Ok(Typed::Text(TextExpr { node, span }));
        match sig.builtin {
            Builtin::Visits => num_node(NumNode::Visits { days }),
            Builtin::Spend => num_node(NumNode::SpendYuan { days }),
            Builtin::AvgTicket => num_node(NumNode::AvgTicketYuan { days }),
            Builtin::DishShare => num_node(NumNode::DishShare {
                category: self.interner.category(name_arg),
                days,
            }),
            Builtin::StoreVisits => num_node(NumNode::StoreVisits {
                store: self.interner.store(name_arg),
                days,
            }),
            Builtin::DaysSinceLastVisit => num_node(NumNode::DaysSinceLastVisit),
            Builtin::PAlive => num_node(NumNode::PAlive),
            Builtin::ExpectedVisits => num_node(NumNode::ExpectedVisits { days }),
            Builtin::BirthdayWithin => bool_node(BoolNode::BirthdayWithin { days }),
            Builtin::CampaignResponses => num_node(NumNode::Interactions {
                kind: InteractionKind::CampaignResponse,
                days,
            }),
            Builtin::MessagesReplied => num_node(NumNode::Interactions {
                kind: InteractionKind::MessageReply,
                days,
            }),
            Builtin::MessagesOpened => num_node(NumNode::Interactions {
                kind: InteractionKind::MessageOpen,
                days,
            }),
            Builtin::Reviews => num_node(NumNode::Interactions {
                kind: InteractionKind::Review,
                days,
            }),
            Builtin::HasTag => {
                if !self.catalog.tag_exists(name_arg) {
                    return Err(RuleError::UnknownTag {
                        tag: name_arg.to_owned(),
                        location: self.location(args.first().map_or(span, |a| a.span)),
                    });
                }
                self.referenced_tags.insert(name_arg.to_owned());
                bool_node(BoolNode::HasTag(self.interner.tag(name_arg)))
            }
            Builtin::Attr => text_node(TextNode::Attr(self.interner.attribute(name_arg))),
            Builtin::Class => text_node(TextNode::Class),
        }
    }

    fn argument<'e>(
        &mut self,
        sig: &FunctionSig,
        index: usize,
        param: Param,
        arg: &'e Expr,
    ) -> Result<Arg<'e>, RuleError> {
        match (param, &arg.kind) {
            (Param::NameLiteral, ExprKind::Text(text)) => return Ok(Arg::Name(text)),
            (Param::Window, ExprKind::Duration { amount, unit }) => {
                let days = amount.saturating_mul(unit.days());
                return match u32::try_from(days) {
                    Ok(days) if days <= MAX_WINDOW_DAYS => Ok(Arg::WindowDays(days)),
                    _ => Err(RuleError::WindowTooLong {
                        days,
                        max_days: MAX_WINDOW_DAYS,
                        location: self.location(arg.span),
                    }),
                };
            }
            _ => {}
        }
        // Wrong kind of argument: type it (reporting errors inside it first) to say what it is.
        let found = match self.expr(arg)? {
            Typed::Text(_) => "a computed Text".to_owned(),
            other => other.ty().name().to_owned(),
        };
        Err(RuleError::WrongArgumentType {
            function: sig.name.to_owned(),
            index,
            expected: param.describe().to_owned(),
            found,
            location: self.location(arg.span),
        })
    }
}
