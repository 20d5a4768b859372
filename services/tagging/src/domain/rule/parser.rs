//! Recursive-descent parser: tokens → [`Expr`]. Grammar (loosest first):
//!
//! ```text
//! rule    := or EOF
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | cmp
//! cmp     := add (("=="|"!="|"<"|"<="|">"|">=") add)?     -- comparisons never chain
//! add     := mul (("+"|"-") mul)*
//! mul     := neg (("*"|"/") neg)*
//! neg     := "-" neg | atom
//! atom    := NUMBER | STRING | DURATION | "true" | "false"
//!          | NAME | NAME "(" (or ("," or)*)? ")" | "(" or ")"
//! ```
//!
//! `not` binds looser than comparison, so `not visits(30d) > 5` is `not (visits(30d) > 5)`.

use super::ast::{BinaryOp, Expr, ExprKind};
use super::error::{Location, RuleError, Span};
use super::lexer::{Token, TokenKind, lex};

/// Deepest nesting of parentheses, `not` and unary minus; keeps recursion shallow.
pub const MAX_NESTING: usize = 64;

/// A rule's source together with its syntax tree (spans index into `source`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRule {
    pub source: String,
    pub expr: Expr,
}

/// Parses a rule; never panics, whatever the input.
pub fn parse(source: &str) -> Result<ParsedRule, RuleError> {
    let tokens = lex(source)?;
    if tokens.len() == 1 {
        return Err(RuleError::EmptyRule);
    }
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        nesting: 0,
    };
    let expr = parser.or()?;
    parser.expect_end()?;
    Ok(ParsedRule {
        source: source.to_owned(),
        expr,
    })
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
}

fn describe(kind: &TokenKind, text: &str) -> String {
    match kind {
        TokenKind::Eof => "end of rule".to_owned(),
        _ => format!("'{text}'"),
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr {
        span: left.span.to(right.span),
        kind: ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
    }
}

fn comparison_op(kind: &TokenKind) -> Option<BinaryOp> {
    match kind {
        TokenKind::EqEq => Some(BinaryOp::Eq),
        TokenKind::NotEq => Some(BinaryOp::Ne),
        TokenKind::Lt => Some(BinaryOp::Lt),
        TokenKind::Le => Some(BinaryOp::Le),
        TokenKind::Gt => Some(BinaryOp::Gt),
        TokenKind::Ge => Some(BinaryOp::Ge),
        _ => None,
    }
}

impl Parser<'_> {
    /// The current token; the lexer always ends with `Eof`, which is never consumed.
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, kind: &TokenKind) -> Option<Token> {
        (&self.peek().kind == kind).then(|| self.advance())
    }

    fn error_expected(&self, expected: &str) -> RuleError {
        let token = self.peek();
        RuleError::Expected {
            expected: expected.to_owned(),
            found: describe(&token.kind, token.span.text(self.source)),
            location: Location::of(self.source, token.span),
        }
    }

    fn expect(&mut self, kind: &TokenKind, expected: &str) -> Result<Token, RuleError> {
        self.eat(kind).ok_or_else(|| self.error_expected(expected))
    }

    fn expect_end(&self) -> Result<(), RuleError> {
        let token = self.peek();
        match token.kind {
            TokenKind::Eof => Ok(()),
            TokenKind::RParen => Err(self.error_expected("end of rule (unmatched ')')")),
            _ => Err(self.error_expected("'and', 'or' or end of rule")),
        }
    }

    /// Guards every recursive descent that does not consume a binary operator first.
    fn nested<T>(
        &mut self,
        at: Span,
        inner: impl FnOnce(&mut Self) -> Result<T, RuleError>,
    ) -> Result<T, RuleError> {
        if self.nesting >= MAX_NESTING {
            return Err(RuleError::NestingTooDeep {
                max_depth: MAX_NESTING,
                location: Location::of(self.source, at),
            });
        }
        self.nesting += 1;
        let result = inner(self);
        self.nesting -= 1;
        result
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.and()?;
        while self.eat(&TokenKind::Or).is_some() {
            let right = self.and()?;
            left = binary(BinaryOp::Or, left, right);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.not()?;
        while self.eat(&TokenKind::And).is_some() {
            let right = self.not()?;
            left = binary(BinaryOp::And, left, right);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, RuleError> {
        if let Some(not) = self.eat(&TokenKind::Not) {
            let inner = self.nested(not.span, Self::not)?;
            return Ok(Expr {
                span: not.span.to(inner.span),
                kind: ExprKind::Not(Box::new(inner)),
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let left = self.additive()?;
        let Some(op) = comparison_op(&self.peek().kind) else {
            return Ok(left);
        };
        self.advance();
        let right = self.additive()?;
        if comparison_op(&self.peek().kind).is_some() {
            return Err(RuleError::ChainedComparison {
                location: Location::of(self.source, self.peek().span),
            });
        }
        Ok(binary(op, left, right))
    }

    fn additive(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Plus => BinaryOp::Add,
                TokenKind::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.multiplicative()?;
            left = binary(op, left, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.negation()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Star => BinaryOp::Mul,
                TokenKind::Slash => BinaryOp::Div,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.negation()?;
            left = binary(op, left, right);
        }
    }

    fn negation(&mut self) -> Result<Expr, RuleError> {
        if let Some(minus) = self.eat(&TokenKind::Minus) {
            let inner = self.nested(minus.span, Self::negation)?;
            return Ok(Expr {
                span: minus.span.to(inner.span),
                kind: ExprKind::Neg(Box::new(inner)),
            });
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, RuleError> {
        let token = self.peek().clone();
        let kind = match token.kind {
            TokenKind::Number(value) => ExprKind::Number(value),
            TokenKind::Str(text) => ExprKind::Text(text),
            TokenKind::Duration { amount, unit } => ExprKind::Duration { amount, unit },
            TokenKind::True => ExprKind::Bool(true),
            TokenKind::False => ExprKind::Bool(false),
            TokenKind::Ident(name) => {
                self.advance();
                return self.name_or_call(name, token.span);
            }
            TokenKind::LParen => {
                self.advance();
                let mut inner = self.nested(token.span, Self::or)?;
                let close = self.expect(&TokenKind::RParen, "')'")?;
                // The parentheses belong to the term, so explanations quote them too.
                inner.span = token.span.to(close.span);
                return Ok(inner);
            }
            _ => return Err(self.error_expected("an expression")),
        };
        self.advance();
        Ok(Expr {
            kind,
            span: token.span,
        })
    }

    fn name_or_call(&mut self, name: String, name_span: Span) -> Result<Expr, RuleError> {
        if self.eat(&TokenKind::LParen).is_none() {
            return Ok(Expr {
                kind: ExprKind::Name(name),
                span: name_span,
            });
        }
        let args = self.nested(name_span, |parser| {
            let mut args = Vec::new();
            if parser.peek().kind != TokenKind::RParen {
                loop {
                    args.push(parser.or()?);
                    if parser.eat(&TokenKind::Comma).is_none() {
                        break;
                    }
                }
            }
            Ok(args)
        })?;
        let close = self.expect(&TokenKind::RParen, "',' or ')'")?;
        Ok(Expr {
            kind: ExprKind::Call { name, args },
            span: name_span.to(close.span),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(src: &str) -> String {
        match parse(src) {
            Ok(rule) => rule.expr.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    fn error(src: &str) -> String {
        parse(src)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "parsed".to_owned())
    }

    #[test]
    fn parses_issue_examples() {
        for src in [
            "visits(30d) > 5 and avg_ticket(30d) > 150",
            "days_since_last_visit >= 60",
            "birthday_within(7d)",
            r#"dish_share("seafood", 90d) >= 0.3"#,
            "spend(365d) >= 5000",
            r#"store_visits("store-id", 30d) >= 2"#,
            r#"attr("gender") == "female""#,
            r#"has_tag("vip") and not has_tag("churned")"#,
            r#"class == "A""#,
            "p_alive < 0.3",
            "expected_visits(30d) >= 2",
        ] {
            assert_eq!(shape(src), src, "round trip of {src}");
        }
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(shape("a or b and c"), "a or b and c");
        assert_eq!(shape("(a or b) and c"), "(a or b) and c");
        assert_eq!(shape("((a))"), "a");
        assert_eq!(shape("1 + 2 * 3 - 4 / 2 > -x"), "1 + 2 * 3 - 4 / 2 > -x");
        assert_eq!(
            shape("1 - (2 - 3) == (1 - 2) - 3"),
            "1 - (2 - 3) == 1 - 2 - 3"
        );
        assert_eq!(shape("not not a"), "not not a");
        assert_eq!(shape("not a > 1"), "not a > 1");
        assert_eq!(shape("(not a) == b"), "(not a) == b");
        assert_eq!(shape("f()"), "f()");
        assert_eq!(shape("f(a or b, (1))"), "f(a or b, 1)");
    }

    #[test]
    fn spans_cover_whole_expressions() {
        let parsed = parse("  visits(30d) > 5").map(|p| p.expr);
        let Ok(Expr {
            kind: ExprKind::Binary { left, .. },
            span,
        }) = parsed
        else {
            panic!("expected a comparison");
        };
        assert_eq!(span, Span::new(2, 17));
        assert_eq!(left.span, Span::new(2, 13));
    }

    #[test]
    fn errors_say_what_was_expected_and_where() {
        assert_eq!(
            error("(visits(30d) > 5 and"),
            "expected an expression but found end of rule at 1:21"
        );
        assert_eq!(error("(a > 5 b"), "expected ')' but found 'b' at 1:8");
        assert_eq!(error("f(a b)"), "expected ',' or ')' but found 'b' at 1:5");
        assert_eq!(
            error("a > 5)"),
            "expected end of rule (unmatched ')') but found ')' at 1:6"
        );
        assert_eq!(
            error("a b"),
            "expected 'and', 'or' or end of rule but found 'b' at 1:3"
        );
        assert_eq!(
            error("a >\n  and b"),
            "expected an expression but found 'and' at 2:3"
        );
        assert_eq!(
            error("1 < x < 3"),
            "comparison operators cannot be chained at 1:7; combine comparisons with 'and'"
        );
        assert_eq!(error("   "), "rule is empty");
        assert_eq!(error("f(,)"), "expected an expression but found ',' at 1:3");
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        assert_eq!(
            error("f(x > 1 and"),
            "expected an expression but found end of rule at 1:12"
        );
        assert_eq!(
            error("(visits(30d) and"),
            "expected an expression but found end of rule at 1:17"
        );
        assert_eq!(
            error("((a) and) b"),
            "expected an expression but found ')' at 1:9"
        );
        assert_eq!(
            error("f(a) g"),
            "expected 'and', 'or' or end of rule but found 'g' at 1:6"
        );
        assert_eq!(
            error("visits(30d and 1"),
            "expected ',' or ')' but found end of rule at 1:17"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(matches!(
            parse(&deep),
            Err(RuleError::NestingTooDeep { .. })
        ));
        let ok = format!(
            "{}a{}",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert!(parse(&ok).is_ok());
        assert!(matches!(
            parse(&"not ".repeat(200)),
            Err(RuleError::NestingTooDeep { .. })
        ));
        assert!(matches!(
            parse(&"-".repeat(200)),
            Err(RuleError::NestingTooDeep { .. })
        ));
    }
}
