//! Errors of the rule language, each carrying the byte span of the offending source and
//! its 1-based `line:col` (columns count Unicode characters, so Chinese tag names in string
//! literals count one column each).

use std::fmt;

/// Byte range `[start, end)` into the rule source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// Smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The source text under this span; empty when the span does not fit `source`.
    pub fn text(self, source: &str) -> &str {
        source.get(self.start..self.end).unwrap_or("")
    }
}

/// 1-based line and column (in characters) of a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub col: u32,
}

impl Position {
    /// Locates `offset` in `source`; an offset past the end (or inside a character) is
    /// clamped to the last character boundary at or before it.
    pub fn locate(source: &str, offset: usize) -> Position {
        let mut end = offset.min(source.len());
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let before = &source[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where an error is: both the span (for highlighting) and its `line:col` (for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub span: Span,
    pub at: Position,
}

impl Location {
    pub fn of(source: &str, span: Span) -> Location {
        Location {
            span,
            at: Position::locate(source, span.start),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.at.fmt(f)
    }
}

/// Everything that can be wrong with a rule, from its characters to its types.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("rule is empty")]
    EmptyRule,
    #[error("rule is {length_bytes} bytes long; at most {max_bytes} are allowed")]
    RuleTooLong {
        length_bytes: usize,
        max_bytes: usize,
    },
    #[error("rule has more than {max_tokens} tokens at {location}")]
    TooManyTokens {
        max_tokens: usize,
        location: Location,
    },
    #[error("rule nests deeper than {max_depth} levels at {location}")]
    NestingTooDeep {
        max_depth: usize,
        location: Location,
    },
    #[error("unexpected character '{found}' at {location}{hint}")]
    UnexpectedChar {
        found: char,
        hint: &'static str,
        location: Location,
    },
    #[error("unterminated string literal starting at {location}")]
    UnterminatedString { location: Location },
    #[error(
        "invalid escape '\\{found}' in string literal at {location}; only \\\" and \\\\ are allowed"
    )]
    InvalidEscape { found: char, location: Location },
    #[error("invalid number '{text}' at {location}")]
    InvalidNumber { text: String, location: Location },
    #[error(
        "invalid duration '{text}' at {location}; write a whole number followed by d, w, m or y (e.g. 30d)"
    )]
    InvalidDuration { text: String, location: Location },
    #[error("expected {expected} but found {found} at {location}")]
    Expected {
        expected: String,
        found: String,
        location: Location,
    },
    #[error("comparison operators cannot be chained at {location}; combine comparisons with 'and'")]
    ChainedComparison { location: Location },
    #[error("unknown function '{name}' at {location}")]
    UnknownFunction { name: String, location: Location },
    #[error("{name} takes {expected} argument(s) but {found} were given at {location}")]
    WrongArity {
        name: String,
        expected: usize,
        found: usize,
        location: Location,
    },
    #[error("argument {index} of {function} must be {expected} but found {found} at {location}")]
    WrongArgumentType {
        function: String,
        index: usize,
        expected: String,
        found: String,
        location: Location,
    },
    #[error("operator '{op}' needs {expected} operands but found {found} at {location}")]
    OperandType {
        op: String,
        expected: String,
        found: String,
        location: Location,
    },
    #[error("cannot compare {left} with {right} using '{op}' at {location}")]
    MismatchedComparison {
        op: String,
        left: String,
        right: String,
        location: Location,
    },
    #[error(
        "window of {days} days exceeds the maximum of {max_days} days (10 years) at {location}"
    )]
    WindowTooLong {
        days: u64,
        max_days: u32,
        location: Location,
    },
    #[error("unknown tag \"{tag}\" at {location}")]
    UnknownTag { tag: String, location: Location },
    #[error("a rule must be a condition (Bool) but this one is {found} at {location}")]
    NotBoolean { found: String, location: Location },
}

impl RuleError {
    /// Where the error is, when it is somewhere in particular.
    pub fn location(&self) -> Option<Location> {
        use RuleError::*;
        match self {
            EmptyRule | RuleTooLong { .. } => None,
            TooManyTokens { location, .. }
            | NestingTooDeep { location, .. }
            | UnexpectedChar { location, .. }
            | UnterminatedString { location }
            | InvalidEscape { location, .. }
            | InvalidNumber { location, .. }
            | InvalidDuration { location, .. }
            | Expected { location, .. }
            | ChainedComparison { location }
            | UnknownFunction { location, .. }
            | WrongArity { location, .. }
            | WrongArgumentType { location, .. }
            | OperandType { location, .. }
            | MismatchedComparison { location, .. }
            | WindowTooLong { location, .. }
            | UnknownTag { location, .. }
            | NotBoolean { location, .. } => Some(*location),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = "a\n\"高价值\" b";
        assert_eq!(Position::locate(src, 0), Position { line: 1, col: 1 });
        assert_eq!(Position::locate(src, 2), Position { line: 2, col: 1 });
        let b = src.find('b').unwrap_or(0);
        assert_eq!(Position::locate(src, b), Position { line: 2, col: 7 });
        // Past the end and mid-character offsets are clamped, never panic.
        assert_eq!(Position::locate(src, 999).line, 2);
        assert_eq!(Position::locate(src, 4), Position { line: 2, col: 2 });
    }

    #[test]
    fn span_text_is_safe() {
        assert_eq!(Span::new(0, 3).text("abc"), "abc");
        assert_eq!(Span::new(2, 9).text("abc"), "");
        assert_eq!(Span::new(1, 2).to(Span::new(5, 7)), Span::new(1, 7));
    }
}
