//! Lexer: rule source → tokens with byte spans. Owns the spelling of literals (numbers,
//! durations, strings) and keywords; knows nothing about grammar or types.

use super::ast::DurationUnit;
use super::error::{Location, RuleError, Span};

/// Longest accepted rule source; keeps every later (recursive) pass shallow and cheap.
pub const MAX_RULE_BYTES: usize = 8 * 1024;
/// Most tokens in one rule; bounds the depth of any syntax tree built from them.
pub const MAX_TOKENS: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Number(f64),
    Duration { amount: u64, unit: DurationUnit },
    Str(String),
    Ident(String),
    And,
    Or,
    Not,
    True,
    False,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits `source` into tokens, ending with one `Eof` token.
pub fn lex(source: &str) -> Result<Vec<Token>, RuleError> {
    if source.len() > MAX_RULE_BYTES {
        return Err(RuleError::RuleTooLong {
            length_bytes: source.len(),
            max_bytes: MAX_RULE_BYTES,
        });
    }
    let mut lexer = Lexer {
        source,
        bytes: source.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == TokenKind::Eof;
        if tokens.len() >= MAX_TOKENS && !done {
            return Err(RuleError::TooManyTokens {
                max_tokens: MAX_TOKENS,
                location: Location::of(source, token.span),
            });
        }
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn location(&self, start: usize, end: usize) -> Location {
        Location::of(self.source, Span::new(start, end))
    }

    fn next_token(&mut self) -> Result<Token, RuleError> {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(b) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                span: Span::new(start, start),
            });
        };
        let kind = match b {
            b'0'..=b'9' => return self.number_or_duration(start),
            b'"' => return self.string(start),
            b if is_ident_start(b) => return Ok(self.ident_or_keyword(start)),
            b'(' => self.single(TokenKind::LParen),
            b')' => self.single(TokenKind::RParen),
            b',' => self.single(TokenKind::Comma),
            b'+' => self.single(TokenKind::Plus),
            b'-' => self.single(TokenKind::Minus),
            b'*' => self.single(TokenKind::Star),
            b'/' => self.single(TokenKind::Slash),
            b'=' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::EqEq),
            b'!' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::NotEq),
            b'<' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::Le),
            b'>' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::Ge),
            b'<' => self.single(TokenKind::Lt),
            b'>' => self.single(TokenKind::Gt),
            _ => return Err(self.unexpected_char(start)),
        };
        Ok(Token {
            kind,
            span: Span::new(start, self.pos),
        })
    }

    fn single(&mut self, kind: TokenKind) -> TokenKind {
        self.pos += 1;
        kind
    }

    fn double(&mut self, kind: TokenKind) -> TokenKind {
        self.pos += 2;
        kind
    }

    fn unexpected_char(&self, start: usize) -> RuleError {
        let found = self.source[start..].chars().next().unwrap_or('\u{fffd}');
        let hint = match found {
            '=' => "; use '==' to compare",
            '!' => "; use 'not' to negate or '!=' to compare",
            '&' => "; use 'and'",
            '|' => "; use 'or'",
            '\'' | '“' | '”' => "; strings use straight double quotes (\"...\")",
            _ => "",
        };
        RuleError::UnexpectedChar {
            found,
            hint,
            location: self.location(start, start + found.len_utf8()),
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
    }

    fn ident_or_keyword(&mut self, start: usize) -> Token {
        self.take_while(is_ident_continue);
        let word = &self.source[start..self.pos];
        let kind = match word {
            "and" => TokenKind::And,
            "or" => TokenKind::Or,
            "not" => TokenKind::Not,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            _ => TokenKind::Ident(word.to_owned()),
        };
        Token {
            kind,
            span: Span::new(start, self.pos),
        }
    }

    /// `12`, `0.3`, or a duration `30d` (a unit letter glued to a whole number).
    fn number_or_duration(&mut self, start: usize) -> Result<Token, RuleError> {
        self.take_while(|b| b.is_ascii_digit());
        let mut is_decimal = false;
        if self.peek() == Some(b'.') {
            is_decimal = true;
            self.pos += 1;
            let fraction_start = self.pos;
            self.take_while(|b| b.is_ascii_digit());
            if self.pos == fraction_start {
                return Err(RuleError::InvalidNumber {
                    text: self.source[start..self.pos].to_owned(),
                    location: self.location(start, self.pos),
                });
            }
        }
        let digits_end = self.pos;
        if self.peek().is_some_and(is_ident_continue) {
            self.take_while(is_ident_continue);
            let text = &self.source[start..self.pos];
            let unit = DurationUnit::from_suffix(&self.source[digits_end..self.pos]);
            let amount = self.source[start..digits_end].parse::<u64>().ok();
            return match (is_decimal, unit, amount) {
                (false, Some(unit), Some(amount)) => Ok(Token {
                    kind: TokenKind::Duration { amount, unit },
                    span: Span::new(start, self.pos),
                }),
                _ => Err(RuleError::InvalidDuration {
                    text: text.to_owned(),
                    location: self.location(start, self.pos),
                }),
            };
        }
        let text = &self.source[start..digits_end];
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Token {
                kind: TokenKind::Number(value),
                span: Span::new(start, digits_end),
            }),
            _ => Err(RuleError::InvalidNumber {
                text: text.to_owned(),
                location: self.location(start, digits_end),
            }),
        }
    }

    /// `"..."` with `\"` and `\\` escapes; any other character (Chinese too) is literal.
    fn string(&mut self, start: usize) -> Result<Token, RuleError> {
        let mut value = String::new();
        let mut chars = self.source[start + 1..].char_indices();
        while let Some((offset, ch)) = chars.next() {
            match ch {
                '"' => {
                    self.pos = start + 1 + offset + 1;
                    return Ok(Token {
                        kind: TokenKind::Str(value),
                        span: Span::new(start, self.pos),
                    });
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => value.push(escaped),
                    Some((escape_offset, other)) => {
                        let at = start + 1 + offset;
                        let end = start + 1 + escape_offset + other.len_utf8();
                        return Err(RuleError::InvalidEscape {
                            found: other,
                            location: self.location(at, end),
                        });
                    }
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err(RuleError::UnterminatedString {
            location: self.location(start, self.source.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        match lex(src) {
            Ok(tokens) => tokens.into_iter().map(|t| t.kind).collect(),
            Err(e) => panic!("lex failed for {src:?}: {e}"),
        }
    }

    #[test]
    fn lexes_every_token_kind() {
        use TokenKind::*;
        assert_eq!(
            kinds(
                r#"visits(30d) >= 5.5 and not x != "a\"b" or true == false ( ) , + - * / < <= > =="#
            ),
            vec![
                Ident("visits".into()),
                LParen,
                Duration {
                    amount: 30,
                    unit: DurationUnit::Days
                },
                RParen,
                Ge,
                Number(5.5),
                And,
                Not,
                Ident("x".into()),
                NotEq,
                Str("a\"b".into()),
                Or,
                True,
                EqEq,
                False,
                LParen,
                RParen,
                Comma,
                Plus,
                Minus,
                Star,
                Slash,
                Lt,
                Le,
                Gt,
                EqEq,
                Eof
            ]
        );
    }

    #[test]
    fn durations_take_each_unit() {
        for (src, unit) in [
            ("7d", DurationUnit::Days),
            ("12w", DurationUnit::Weeks),
            ("6m", DurationUnit::Months),
            ("1y", DurationUnit::Years),
        ] {
            assert_eq!(
                kinds(src)[0],
                TokenKind::Duration {
                    amount: src[..src.len() - 1].parse().unwrap_or(0),
                    unit
                }
            );
        }
    }

    #[test]
    fn spans_cover_the_token_text() {
        let tokens = lex(r#"has_tag("高价值")"#).unwrap_or_default();
        assert_eq!(tokens[2].span, Span::new(8, 19));
        assert_eq!(tokens[2].kind, TokenKind::Str("高价值".into()));
    }

    #[test]
    fn rejects_bad_literals_with_positions() {
        let err = |src: &str| lex(src).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err("x = 1"),
            "unexpected character '=' at 1:3; use '==' to compare"
        );
        assert_eq!(
            err("1.5d"),
            "invalid duration '1.5d' at 1:1; write a whole number followed by d, w, m or y (e.g. 30d)"
        );
        assert!(err("30days").starts_with("invalid duration '30days' at 1:1"));
        assert_eq!(err("a > 5."), "invalid number '5.' at 1:5");
        assert_eq!(
            err("\n  \"abc"),
            "unterminated string literal starting at 2:3"
        );
        assert_eq!(
            err(r#""a\n""#),
            "invalid escape '\\n' in string literal at 1:3; only \\\" and \\\\ are allowed"
        );
        assert!(err(&"9".repeat(400)).starts_with("invalid number"));
        assert!(err("99999999999999999999999d").starts_with("invalid duration"));
        assert!(err("é").starts_with("unexpected character 'é' at 1:1"));
        assert!(err(r#""abc\"#).starts_with("unterminated string"));
    }

    #[test]
    fn rejects_oversized_rules() {
        assert!(matches!(
            lex(&" ".repeat(MAX_RULE_BYTES + 1)),
            Err(RuleError::RuleTooLong { .. })
        ));
        assert!(matches!(
            lex(&"1 ".repeat(MAX_TOKENS + 1)),
            Err(RuleError::TooManyTokens { .. })
        ));
        assert!(lex(&"1 ".repeat(MAX_TOKENS)).is_ok());
    }
}
