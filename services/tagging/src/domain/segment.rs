//! Segments (seed 002 §3 "人群圈选"): boolean expressions over tags and simple attributes,
//! e.g. `likes_dessert and not churn_risk and class == "A"`, and their evaluation over
//! roaring bitmaps of dense per-chain customer numbers.
//!
//! The syntax is the rule language's (`domain::rule::parse`, same lexer, positions and
//! error messages), restricted to: a bare tag name or `has_tag("name")`; `class == "A"` /
//! `class != "A"`; `attr("name") == "value"` / `!=`; `true`/`false`; `and`, `or`, `not`,
//! parentheses. Like rules, a comparison with a missing value is false: `class != "A"`
//! holds only for classified customers of another class. Pure: resolving tag names against
//! the catalog and fetching bitmaps is the service's job.

use std::collections::BTreeSet;

use roaring::RoaringBitmap;

use super::rule::{BinaryOp, Expr, ExprKind, Location, RuleError, Span, parse};

/// One leaf of a segment: a set of customers fetched by the service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leaf {
    /// Customers carrying the tag `name`.
    Tag { name: String },
    /// Classified customers whose class is (`equal`) or is not `value`.
    Class { value: String, equal: bool },
    /// Customers whose attribute `name` is set and is (`equal`) or is not `value`.
    Attr {
        name: String,
        value: String,
        equal: bool,
    },
}

/// A checked segment expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentExpr {
    Const(bool),
    Leaf { leaf: Leaf, span: Span },
    Not(Box<SegmentExpr>),
    And(Box<SegmentExpr>, Box<SegmentExpr>),
    Or(Box<SegmentExpr>, Box<SegmentExpr>),
}

/// Why a segment expression was refused, with its position when it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Syntax(#[from] RuleError),
    #[error(
        "{what} is not allowed in a segment at {location}; use tag names, class == \"A\", attr(\"name\") == \"value\", and, or, not"
    )]
    NotAllowed { what: String, location: Location },
}

impl SegmentError {
    /// Where the error is, when it is somewhere in particular.
    pub fn location(&self) -> Option<Location> {
        match self {
            SegmentError::Syntax(e) => e.location(),
            SegmentError::NotAllowed { location, .. } => Some(*location),
        }
    }
}

/// Parses and checks a segment expression; never panics, whatever the input.
pub fn parse_segment(source: &str) -> Result<SegmentExpr, SegmentError> {
    let parsed = parse(source)?;
    lower(source, &parsed.expr)
}

fn not_allowed(source: &str, expr: &Expr, what: &str) -> SegmentError {
    SegmentError::NotAllowed {
        what: what.to_owned(),
        location: Location::of(source, expr.span),
    }
}

fn lower(source: &str, expr: &Expr) -> Result<SegmentExpr, SegmentError> {
    match &expr.kind {
        ExprKind::Bool(value) => Ok(SegmentExpr::Const(*value)),
        ExprKind::Name(name) if name == "class" => Err(not_allowed(
            source,
            expr,
            "bare 'class' (compare it: class == \"A\")",
        )),
        ExprKind::Name(name) => Ok(SegmentExpr::Leaf {
            leaf: Leaf::Tag { name: name.clone() },
            span: expr.span,
        }),
        ExprKind::Call { name, args } if name == "has_tag" => match args.as_slice() {
            [
                Expr {
                    kind: ExprKind::Text(tag),
                    ..
                },
            ] => Ok(SegmentExpr::Leaf {
                leaf: Leaf::Tag { name: tag.clone() },
                span: expr.span,
            }),
            _ => Err(not_allowed(
                source,
                expr,
                "has_tag without one text literal",
            )),
        },
        ExprKind::Not(inner) => Ok(SegmentExpr::Not(Box::new(lower(source, inner)?))),
        ExprKind::Binary { op, left, right } => {
            match op {
                BinaryOp::And => Ok(SegmentExpr::And(
                    Box::new(lower(source, left)?),
                    Box::new(lower(source, right)?),
                )),
                BinaryOp::Or => Ok(SegmentExpr::Or(
                    Box::new(lower(source, left)?),
                    Box::new(lower(source, right)?),
                )),
                BinaryOp::Eq | BinaryOp::Ne => {
                    let equal = *op == BinaryOp::Eq;
                    let leaf = comparison_leaf(left, right, equal)
                    .or_else(|| comparison_leaf(right, left, equal))
                    .ok_or_else(|| {
                        not_allowed(source, expr, "this comparison (only class or attr(\"name\") against a text literal)")
                    })?;
                    Ok(SegmentExpr::Leaf {
                        leaf,
                        span: expr.span,
                    })
                }
                other => Err(not_allowed(
                    source,
                    expr,
                    &format!("operator '{}'", other.symbol()),
                )),
            }
        }
        ExprKind::Number(_) => Err(not_allowed(source, expr, "a number")),
        ExprKind::Text(_) => Err(not_allowed(source, expr, "a text literal")),
        ExprKind::Duration { .. } => Err(not_allowed(source, expr, "a duration")),
        ExprKind::Neg(_) => Err(not_allowed(source, expr, "arithmetic")),
        ExprKind::Call { name, .. } => {
            Err(not_allowed(source, expr, &format!("function '{name}'")))
        }
    }
}

/// `subject == "value"` where subject is `class` or `attr("name")`.
fn comparison_leaf(subject: &Expr, value: &Expr, equal: bool) -> Option<Leaf> {
    let ExprKind::Text(value) = &value.kind else {
        return None;
    };
    match &subject.kind {
        ExprKind::Name(name) if name == "class" => Some(Leaf::Class {
            value: value.clone(),
            equal,
        }),
        ExprKind::Call { name, args } if name == "attr" => match args.as_slice() {
            [
                Expr {
                    kind: ExprKind::Text(attr),
                    ..
                },
            ] => Some(Leaf::Attr {
                name: attr.clone(),
                value: value.clone(),
                equal,
            }),
            _ => None,
        },
        _ => None,
    }
}

impl SegmentExpr {
    /// Every leaf, each once, in a stable order.
    pub fn leaves(&self) -> BTreeSet<&Leaf> {
        let mut out = BTreeSet::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, out: &mut BTreeSet<&'a Leaf>) {
        match self {
            SegmentExpr::Const(_) => {}
            SegmentExpr::Leaf { leaf, .. } => {
                out.insert(leaf);
            }
            SegmentExpr::Not(inner) => inner.collect_leaves(out),
            SegmentExpr::And(a, b) | SegmentExpr::Or(a, b) => {
                a.collect_leaves(out);
                b.collect_leaves(out);
            }
        }
    }

    /// Tag leaves with their spans (to report unknown or retired tags where they are).
    pub fn tag_references(&self) -> Vec<(&str, Span)> {
        let mut out = Vec::new();
        self.collect_tags(&mut out);
        out
    }

    fn collect_tags<'a>(&'a self, out: &mut Vec<(&'a str, Span)>) {
        match self {
            SegmentExpr::Leaf {
                leaf: Leaf::Tag { name },
                span,
            } => out.push((name, *span)),
            SegmentExpr::Const(_) | SegmentExpr::Leaf { .. } => {}
            SegmentExpr::Not(inner) => inner.collect_tags(out),
            SegmentExpr::And(a, b) | SegmentExpr::Or(a, b) => {
                a.collect_tags(out);
                b.collect_tags(out);
            }
        }
    }

    /// The members: `leaf` gives each leaf's set (the service answers tags from its
    /// bitmaps); `not` is taken against `universe`, the chain's customers.
    pub fn evaluate(
        &self,
        universe: &RoaringBitmap,
        leaf: &dyn Fn(&Leaf) -> RoaringBitmap,
    ) -> RoaringBitmap {
        match self {
            SegmentExpr::Const(true) => universe.clone(),
            SegmentExpr::Const(false) => RoaringBitmap::new(),
            SegmentExpr::Leaf { leaf: l, .. } => leaf(l) & universe,
            SegmentExpr::Not(inner) => universe - inner.evaluate(universe, leaf),
            SegmentExpr::And(a, b) => a.evaluate(universe, leaf) & b.evaluate(universe, leaf),
            SegmentExpr::Or(a, b) => a.evaluate(universe, leaf) | b.evaluate(universe, leaf),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn tag(name: &str) -> Leaf {
        Leaf::Tag { name: name.into() }
    }

    #[test]
    fn parses_tags_classes_and_attributes() {
        let expr = parse_segment(r#"likes_dessert and not has_tag("churn_risk") or class == "A" and attr("gender") != "male""#)
            .expect("valid");
        let leaves: Vec<_> = expr.leaves().into_iter().cloned().collect();
        assert_eq!(
            leaves,
            vec![
                tag("churn_risk"),
                tag("likes_dessert"),
                Leaf::Class {
                    value: "A".into(),
                    equal: true
                },
                Leaf::Attr {
                    name: "gender".into(),
                    value: "male".into(),
                    equal: false
                },
            ]
        );
        let refs: Vec<_> = expr.tag_references().iter().map(|(n, _)| *n).collect();
        assert_eq!(refs, vec!["likes_dessert", "churn_risk"]);
    }

    #[test]
    fn refuses_rule_only_constructs_with_positions() {
        for (src, at) in [
            ("vip and visits(30d) > 2", "1:9"),
            ("vip or 3", "1:8"),
            ("class", "1:1"),
            ("vip and", "1:8"),
            (r#"class == 1"#, "1:1"),
        ] {
            let err = parse_segment(src).expect_err(src);
            assert_eq!(
                err.location().map(|l| l.at.to_string()).as_deref(),
                Some(at),
                "{src}: {err}"
            );
        }
    }

    #[test]
    fn evaluates_with_set_semantics() {
        let universe: RoaringBitmap = (0..10).collect();
        let sets: HashMap<Leaf, RoaringBitmap> = [
            (tag("a"), (0..5).collect()),
            (tag("b"), [1, 3, 5, 7].into_iter().collect()),
        ]
        .into_iter()
        .collect();
        let leaf = |l: &Leaf| sets.get(l).cloned().unwrap_or_default();
        let eval = |src: &str| -> Vec<u32> {
            parse_segment(src)
                .expect(src)
                .evaluate(&universe, &leaf)
                .iter()
                .collect()
        };
        assert_eq!(eval("a and not b"), vec![0, 2, 4]);
        assert_eq!(eval("a or b"), vec![0, 1, 2, 3, 4, 5, 7]);
        assert_eq!(eval("not (a or b)"), vec![6, 8, 9]);
        assert_eq!(eval("unknown_tag"), Vec::<u32>::new());
        assert_eq!(eval("true and not false").len(), 10);
    }

    /// Brute force over each customer: the meaning the bitmaps must reproduce.
    fn member(expr: &SegmentExpr, customer: u32, sets: &[RoaringBitmap; 3]) -> bool {
        match expr {
            SegmentExpr::Const(v) => *v,
            SegmentExpr::Leaf {
                leaf: Leaf::Tag { name },
                ..
            } => match name.as_str() {
                "a" => sets[0].contains(customer),
                "b" => sets[1].contains(customer),
                _ => sets[2].contains(customer),
            },
            SegmentExpr::Leaf { .. } => false,
            SegmentExpr::Not(inner) => !member(inner, customer, sets),
            SegmentExpr::And(x, y) => member(x, customer, sets) && member(y, customer, sets),
            SegmentExpr::Or(x, y) => member(x, customer, sets) || member(y, customer, sets),
        }
    }

    fn expression() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("c".to_owned())
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| format!("not ({e})")),
                (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("({x}) and ({y})")),
                (inner.clone(), inner).prop_map(|(x, y)| format!("({x}) or ({y})")),
            ]
        })
    }

    proptest! {
        #[test]
        fn parser_never_panics(source in "\\PC{0,60}") {
            let _ = parse_segment(&source);
        }

        #[test]
        fn bitmaps_equal_brute_force(
            src in expression(),
            a in proptest::collection::vec(0u32..64, 0..40),
            b in proptest::collection::vec(0u32..64, 0..40),
            c in proptest::collection::vec(0u32..64, 0..40),
        ) {
            let sets = [
                a.into_iter().collect::<RoaringBitmap>(),
                b.into_iter().collect::<RoaringBitmap>(),
                c.into_iter().collect::<RoaringBitmap>(),
            ];
            let expr = parse_segment(&src).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let universe: RoaringBitmap = (0..64).collect();
            let leaf = |l: &Leaf| match l {
                Leaf::Tag { name } if name == "a" => sets[0].clone(),
                Leaf::Tag { name } if name == "b" => sets[1].clone(),
                Leaf::Tag { .. } => sets[2].clone(),
                _ => RoaringBitmap::new(),
            };
            let fast = expr.evaluate(&universe, &leaf);
            let slow: RoaringBitmap = (0..64).filter(|c| member(&expr, *c, &sets)).collect();
            prop_assert_eq!(fast, slow);
        }
    }
}
