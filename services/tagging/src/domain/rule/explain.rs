//! Explanations: "why does this customer have this tag?". Evaluates every term of a
//! compiled rule (no short-circuit) and lists each with its source text and value,
//! outermost first (the first term is the whole rule), literals omitted.

use std::fmt;

use super::compile::CompiledRule;
use super::day::EpochDay;
use super::error::Span;
use super::facts::CustomerFacts;
use super::ir::{BoolExpr, BoolNode, NumExpr, NumNode, TextExpr};

/// The value a term had for one customer on one day.
#[derive(Debug, Clone, PartialEq)]
pub enum TermValue {
    Bool(bool),
    /// `None` when missing (no score, no visit, division by zero).
    Number(Option<f64>),
    /// `None` when missing (attribute or class not set).
    Text(Option<String>),
}

impl fmt::Display for TermValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TermValue::Bool(value) => write!(f, "{value}"),
            TermValue::Number(Some(value)) => write!(f, "{value}"),
            TermValue::Text(Some(text)) => write!(f, "{text:?}"),
            TermValue::Number(None) | TermValue::Text(None) => f.write_str("missing"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedTerm {
    pub span: Span,
    pub source_text: String,
    pub value: TermValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub result: bool,
    pub terms: Vec<ExplainedTerm>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for term in &self.terms {
            writeln!(f, "{} = {}", term.source_text, term.value)?;
        }
        Ok(())
    }
}

impl CompiledRule {
    /// Every non-literal term of the rule with its value for `facts` on `today`.
    pub fn explain(&self, facts: &CustomerFacts, today: EpochDay) -> Explanation {
        let mut walk = Walk {
            source: &self.source,
            facts,
            today,
            terms: Vec::new(),
        };
        walk.bool_expr(&self.root);
        Explanation {
            result: self.eval(facts, today),
            terms: walk.terms,
        }
    }
}

struct Walk<'a> {
    source: &'a str,
    facts: &'a CustomerFacts,
    today: EpochDay,
    terms: Vec<ExplainedTerm>,
}

impl Walk<'_> {
    fn record(&mut self, span: Span, value: TermValue) {
        self.terms.push(ExplainedTerm {
            span,
            source_text: span.text(self.source).to_owned(),
            value,
        });
    }

    fn bool_expr(&mut self, expr: &BoolExpr) {
        if !expr.is_constant() {
            self.record(
                expr.span,
                TermValue::Bool(expr.eval(self.facts, self.today)),
            );
        }
        match &expr.node {
            BoolNode::Not(inner) => self.bool_expr(inner),
            BoolNode::And(left, right) | BoolNode::Or(left, right) => {
                self.bool_expr(left);
                self.bool_expr(right);
            }
            BoolNode::CompareBools { left, right, .. } => {
                self.bool_expr(left);
                self.bool_expr(right);
            }
            BoolNode::CompareNumbers(_, left, right) => {
                self.num_expr(left);
                self.num_expr(right);
            }
            BoolNode::CompareTexts { left, right, .. } => {
                self.text_expr(left);
                self.text_expr(right);
            }
            BoolNode::Const(_) | BoolNode::HasTag(_) | BoolNode::BirthdayWithin { .. } => {}
        }
    }

    fn num_expr(&mut self, expr: &NumExpr) {
        if !expr.is_constant() {
            self.record(
                expr.span,
                TermValue::Number(expr.eval(self.facts, self.today)),
            );
        }
        match &expr.node {
            NumNode::Neg(inner) => self.num_expr(inner),
            NumNode::Arith(_, left, right) => {
                self.num_expr(left);
                self.num_expr(right);
            }
            _ => {}
        }
    }

    fn text_expr(&mut self, expr: &TextExpr) {
        if !expr.is_constant() {
            let value = expr
                .eval(self.facts, self.today)
                .map(|v| v.to_owned_string());
            self.record(expr.span, TermValue::Text(value));
        }
    }
}
