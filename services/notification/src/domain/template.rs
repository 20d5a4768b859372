//! Message templates: the `{{customer.name}}` / `{{coupon.code | "无"}}` syntax, parsed once at save time
//! (unknown variables are rejected with their position) and rendered with a [`TemplateValues`] map at send
//! time, then checked against the channel's limits.
//!
//! Grammar (whitespace allowed inside the braces):
//! ```text
//! template    := (text | placeholder)*
//! placeholder := "{{" path ( "|" string )? "}}"
//! path        := ident ("." ident)*          ident := [a-z_][a-z0-9_]*
//! string      := '"' ( char | "\\\"" | "\\\\" )* '"'
//! ```
//! `{{` always opens a placeholder and a stray `}}` is an error, so typos such as `{customer.name}}` are
//! caught when the template is saved rather than sent to a guest.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::channel::Channel;
use super::channel_limits::{ChannelLimits, MessageSize, check_rendered_size};
use super::error::{SourcePosition, TemplateError};
use super::template_vars::{TemplateValues, TemplateVariable};

/// Longest body source accepted at save time.
pub const MAX_BODY_SOURCE_CHARS: usize = 4000;
/// Longest subject/title source accepted at save time.
pub const MAX_SUBJECT_SOURCE_CHARS: usize = 200;

/// A language tag for templates; zh-CN is the first market.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum Locale {
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Placeholder {
        variable: TemplateVariable,
        default: Option<String>,
    },
}

/// One parsed text (a body or a subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedText {
    parts: Vec<TemplatePart>,
}

impl ParsedText {
    /// Parses `source`; `field` ("body"/"subject") names the field in errors.
    pub fn parse(
        field: &'static str,
        source: &str,
        max_chars: usize,
    ) -> Result<Self, TemplateError> {
        let chars: Vec<char> = source.chars().collect();
        if chars.len() > max_chars {
            return Err(TemplateError::SourceTooLong {
                field,
                chars: chars.len(),
                max_chars,
            });
        }
        Parser {
            field,
            chars: &chars,
            index: 0,
        }
        .parse_all()
        .map(|parts| Self { parts })
    }

    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// Every variable referenced, with or without a default.
    pub fn variables(&self) -> BTreeSet<TemplateVariable> {
        self.placeholders().map(|(variable, _)| variable).collect()
    }

    /// Variables that must have a value because their placeholder has no default.
    pub fn required_variables(&self) -> BTreeSet<TemplateVariable> {
        self.placeholders()
            .filter(|(_, default)| default.is_none())
            .map(|(variable, _)| variable)
            .collect()
    }

    fn placeholders(&self) -> impl Iterator<Item = (TemplateVariable, Option<&str>)> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Placeholder { variable, default } => {
                Some((*variable, default.as_deref()))
            }
            TemplatePart::Text(_) => None,
        })
    }

    /// Substitutes values; a missing value uses the default, and without one the render fails.
    pub fn render(
        &self,
        field: &'static str,
        values: &TemplateValues,
    ) -> Result<String, TemplateError> {
        let mut rendered = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(text) => rendered.push_str(text),
                TemplatePart::Placeholder { variable, default } => {
                    let value = values.get(*variable).or(default.as_deref()).ok_or(
                        TemplateError::MissingValue {
                            field,
                            variable: variable.path(),
                        },
                    )?;
                    rendered.push_str(value);
                }
            }
        }
        Ok(rendered)
    }
}

/// What an editor submits for saving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDraft {
    pub channel: Channel,
    pub locale: Locale,
    /// E-mail subject, push title or inbox title; SMS and WeChat have none.
    pub subject: Option<String>,
    pub body: String,
}

/// A template that parsed and passed the save-time checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub channel: Channel,
    pub locale: Locale,
    pub subject: Option<ParsedText>,
    pub body: ParsedText,
}

/// A rendered message ready for a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    pub subject: Option<String>,
    pub body: String,
    pub size: MessageSize,
}

impl Template {
    /// Save-time compilation: parses subject and body and checks the subject fits the channel.
    pub fn compile(draft: &TemplateDraft) -> Result<Template, TemplateError> {
        let subject = match (&draft.subject, draft.channel) {
            (None, Channel::Email) => {
                return Err(TemplateError::SubjectRequired {
                    channel: draft.channel,
                });
            }
            (Some(_), Channel::Sms | Channel::Wechat) => {
                return Err(TemplateError::SubjectNotSupported {
                    channel: draft.channel,
                });
            }
            (Some(subject), _) => Some(ParsedText::parse(
                "subject",
                subject,
                MAX_SUBJECT_SOURCE_CHARS,
            )?),
            (None, _) => None,
        };
        let body = ParsedText::parse("body", &draft.body, MAX_BODY_SOURCE_CHARS)?;
        Ok(Template {
            channel: draft.channel,
            locale: draft.locale,
            subject,
            body,
        })
    }

    /// All variables of subject and body.
    pub fn variables(&self) -> BTreeSet<TemplateVariable> {
        let mut variables = self.body.variables();
        if let Some(subject) = &self.subject {
            variables.extend(subject.variables());
        }
        variables
    }

    /// Variables without a default in subject or body.
    pub fn required_variables(&self) -> BTreeSet<TemplateVariable> {
        let mut variables = self.body.required_variables();
        if let Some(subject) = &self.subject {
            variables.extend(subject.required_variables());
        }
        variables
    }

    /// Send-time rendering followed by the channel's size limits.
    pub fn render(
        &self,
        values: &TemplateValues,
        limits: &ChannelLimits,
    ) -> Result<RenderedMessage, TemplateError> {
        let subject = self
            .subject
            .as_ref()
            .map(|subject| subject.render("subject", values))
            .transpose()?;
        let body = self.body.render("body", values)?;
        let size = check_rendered_size(self.channel, subject.as_deref(), &body, limits)?;
        Ok(RenderedMessage {
            subject,
            body,
            size,
        })
    }
}

struct Parser<'a> {
    field: &'static str,
    chars: &'a [char],
    index: usize,
}

impl Parser<'_> {
    fn parse_all(mut self) -> Result<Vec<TemplatePart>, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        while self.index < self.chars.len() {
            if self.starts_with("{{") {
                if !text.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                }
                parts.push(self.placeholder()?);
            } else if self.starts_with("}}") {
                return Err(TemplateError::UnmatchedClosingBraces {
                    field: self.field,
                    at: self.position(self.index),
                });
            } else {
                text.push(self.chars[self.index]);
                self.index += 1;
            }
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        Ok(parts)
    }

    fn placeholder(&mut self) -> Result<TemplatePart, TemplateError> {
        let open = self.index;
        let unclosed = |parser: &Self| TemplateError::UnclosedPlaceholder {
            field: parser.field,
            at: parser.position(open),
        };
        self.index += 2;
        self.skip_whitespace();
        let path_start = self.index;
        while let Some(&c) = self.chars.get(self.index) {
            if c.is_alphanumeric() || matches!(c, '_' | '.' | '-') {
                self.index += 1;
            } else {
                break;
            }
        }
        let path: String = self.chars[path_start..self.index].iter().collect();
        if path.is_empty() {
            return match self.chars.get(self.index) {
                None => Err(unclosed(self)),
                Some('}' | '|') => Err(TemplateError::EmptyPlaceholder {
                    field: self.field,
                    at: self.position(open),
                }),
                Some(&found) => Err(TemplateError::UnexpectedCharacter {
                    field: self.field,
                    found,
                    at: self.position(self.index),
                }),
            };
        }
        if !is_variable_path(&path) {
            return Err(TemplateError::InvalidVariableName {
                field: self.field,
                found: path,
                at: self.position(path_start),
            });
        }
        let variable =
            TemplateVariable::from_path(&path).ok_or_else(|| TemplateError::UnknownVariable {
                field: self.field,
                name: path,
                at: self.position(path_start),
            })?;
        self.skip_whitespace();
        let mut default = None;
        if self.chars.get(self.index) == Some(&'|') {
            self.index += 1;
            self.skip_whitespace();
            match self.chars.get(self.index) {
                None => return Err(unclosed(self)),
                Some('"') => default = Some(self.quoted_string()?),
                Some(_) => {
                    return Err(TemplateError::ExpectedDefaultString {
                        field: self.field,
                        at: self.position(self.index),
                    });
                }
            }
            self.skip_whitespace();
        }
        match self.chars.get(self.index) {
            None => Err(unclosed(self)),
            Some(_) if self.starts_with("}}") => {
                self.index += 2;
                Ok(TemplatePart::Placeholder { variable, default })
            }
            Some(&found) => Err(TemplateError::UnexpectedCharacter {
                field: self.field,
                found,
                at: self.position(self.index),
            }),
        }
    }

    /// Reads `"..."` starting at the opening quote; `\"` and `\\` are the only escapes, any other
    /// backslash is kept literally.
    fn quoted_string(&mut self) -> Result<String, TemplateError> {
        let quote = self.index;
        self.index += 1;
        let mut value = String::new();
        loop {
            match self.chars.get(self.index) {
                None => {
                    return Err(TemplateError::UnterminatedDefault {
                        field: self.field,
                        at: self.position(quote),
                    });
                }
                Some('"') => {
                    self.index += 1;
                    return Ok(value);
                }
                Some('\\') if matches!(self.chars.get(self.index + 1), Some('"' | '\\')) => {
                    value.push(self.chars[self.index + 1]);
                    self.index += 2;
                }
                Some(&c) => {
                    value.push(c);
                    self.index += 1;
                }
            }
        }
    }

    fn starts_with(&self, pattern: &str) -> bool {
        let rest = self.chars.get(self.index..).unwrap_or_default();
        pattern
            .chars()
            .enumerate()
            .all(|(offset, expected)| rest.get(offset) == Some(&expected))
    }

    fn skip_whitespace(&mut self) {
        while self
            .chars
            .get(self.index)
            .is_some_and(|c| c.is_whitespace())
        {
            self.index += 1;
        }
    }

    fn position(&self, offset_chars: usize) -> SourcePosition {
        let before = &self.chars[..offset_chars.min(self.chars.len())];
        let line_breaks = before.iter().filter(|&&c| c == '\n').count();
        let column = before.iter().rev().take_while(|&&c| c != '\n').count();
        SourcePosition {
            offset_chars,
            line: u32::try_from(line_breaks + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }
}

fn is_variable_path(path: &str) -> bool {
    path.split('.').all(|ident| {
        let mut chars = ident.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
