//! `google.api.http` path templates: parsing (`/v1/customers/{customer_id}:merge`) and
//! matching a request path against them.
//!
//! The supported grammar is the subset the contract uses (google/api/http.proto, "Path
//! template syntax"): literal segments, single-segment variables `{field.path}` (also written
//! `{field.path=*}`) and an optional custom verb `:verb` after the last segment. Wider forms
//! (`**`, multi-segment variable patterns) are refused at start, so a route is never
//! silently mis-matched.

use percent_encoding::percent_decode_str;

/// One segment of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Must equal the request segment exactly.
    Literal(String),
    /// Binds one request segment to a field path (`store.store_id` → `["store", "store_id"]`).
    Variable(Vec<String>),
}

/// A parsed path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    /// The template as written in the contract.
    pub source: String,
    /// Its segments, after the leading `/`.
    pub segments: Vec<Segment>,
    /// The custom verb (`merge` in `…:merge`), if any.
    pub verb: Option<String>,
}

/// Why a template could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("path template `{template}`: {reason}")]
pub struct TemplateError {
    /// The template.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A path variable bound by a match: the field path and the decoded segment.
pub type Binding = (Vec<String>, String);

impl PathTemplate {
    /// Parses a template such as `/v1/customers/{customer_id}/tags/{tag_id}:explain`.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let fail = |reason: &str| TemplateError {
            template: template.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with `/`"))?;
        // The verb follows the last `:` outside braces.
        let (path, verb) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('}') && !rest[i..].contains('/') => {
                let verb = &rest[i + 1..];
                if verb.is_empty() {
                    return Err(fail("empty custom verb"));
                }
                (&rest[..i], Some(verb.to_owned()))
            }
            _ => (rest, None),
        };
        let mut segments = Vec::new();
        for raw in path.split('/') {
            if raw.is_empty() {
                return Err(fail("empty segment"));
            }
            if let Some(inner) = raw.strip_prefix('{') {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| fail("unclosed variable"))?;
                let field = match inner.split_once('=') {
                    Some((field, "*")) => field,
                    Some(_) => return Err(fail("only single-segment variables are supported")),
                    None => inner,
                };
                let field_path: Vec<String> = field.split('.').map(str::to_owned).collect();
                if field_path.iter().any(|p| !is_identifier(p)) {
                    return Err(fail("variable must be a field path"));
                }
                segments.push(Segment::Variable(field_path));
            } else if raw.contains(['{', '}', '*']) {
                return Err(fail("wildcards other than `{field}` are not supported"));
            } else {
                segments.push(Segment::Literal(raw.to_owned()));
            }
        }
        Ok(Self {
            source: template.to_owned(),
            segments,
            verb,
        })
    }

    /// Matches a request path; returns the variable bindings (percent-decoded).
    pub fn matches(&self, path: &str) -> Option<Vec<Binding>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let mut bindings = Vec::new();
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) => {
                    if part != literal {
                        return None;
                    }
                }
                Segment::Variable(field) => {
                    if part.is_empty() {
                        return None;
                    }
                    let value = percent_decode_str(part).decode_utf8().ok()?.into_owned();
                    bindings.push((field.clone(), value));
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(bindings)
    }

    /// Literal segments (and verb) count: a more specific template wins over a looser one.
    pub fn specificity(&self) -> usize {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        literals * 2 + usize::from(self.verb.is_some())
    }

    /// The field paths bound by the template, dotted (`store.store_id`).
    pub fn variables(&self) -> impl Iterator<Item = String> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(field) => Some(field.join(".")),
            Segment::Literal(_) => None,
        })
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bind(path: &[&str], value: &str) -> Binding {
        (path.iter().map(|s| s.to_string()).collect(), value.into())
    }

    #[test]
    fn parses_literals_variables_and_verbs() {
        let t = PathTemplate::parse("/v1/customers/{customer_id}/tags/{tag_id}:explain").unwrap();
        assert_eq!(t.verb.as_deref(), Some("explain"));
        assert_eq!(t.segments.len(), 5);
        assert_eq!(t.variables().collect::<Vec<_>>(), ["customer_id", "tag_id"]);
        let nested = PathTemplate::parse("/v1/stores/{store.store_id}").unwrap();
        assert_eq!(
            nested.segments[2],
            Segment::Variable(vec!["store".into(), "store_id".into()])
        );
        let verb_only = PathTemplate::parse("/v1/segments:count").unwrap();
        assert_eq!(verb_only.verb.as_deref(), Some("count"));
        assert_eq!(
            verb_only.segments,
            [
                Segment::Literal("v1".into()),
                Segment::Literal("segments".into())
            ]
        );
    }

    #[test]
    fn refuses_what_it_cannot_match_exactly() {
        for bad in [
            "v1/x",
            "/v1//x",
            "/v1/{a=**}",
            "/v1/**",
            "/v1/{a",
            "/v1/x:",
            "/v1/{a-b}",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_and_decodes_variables() {
        let t = PathTemplate::parse("/v1/customers/{survivor_id}:merge").unwrap();
        assert_eq!(
            t.matches("/v1/customers/c%201:merge"),
            Some(vec![bind(&["survivor_id"], "c 1")])
        );
        assert_eq!(t.matches("/v1/customers/c1"), None);
        assert_eq!(t.matches("/v1/customers/c1:erase"), None);
        assert_eq!(t.matches("/v1/customers/:merge"), None);
        let plain = PathTemplate::parse("/v1/customers/{customer_id}").unwrap();
        assert_eq!(plain.matches("/v1/customers/c1/events"), None);
        assert_eq!(plain.matches("/v1/customers"), None);
        assert_eq!(
            plain.matches("/v1/customers/c1"),
            Some(vec![bind(&["customer_id"], "c1")])
        );
    }

    #[test]
    fn literals_are_more_specific_than_variables() {
        let literal = PathTemplate::parse("/v1/identity/blocked").unwrap();
        let variable = PathTemplate::parse("/v1/identity/{id}").unwrap();
        assert!(literal.specificity() > variable.specificity());
    }

    proptest! {
        #[test]
        fn any_segment_value_round_trips_through_a_variable(value in "[^/]{1,20}") {
            let t = PathTemplate::parse("/v1/tags/{tag_id}/members").unwrap();
            let encoded = percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC).to_string();
            let bound = t.matches(&format!("/v1/tags/{encoded}/members"));
            prop_assert_eq!(bound, Some(vec![bind(&["tag_id"], &value)]));
        }

        #[test]
        fn parsing_never_panics(template in "[/a-z{}=*:._]{0,30}") {
            let _ = PathTemplate::parse(&template);
        }
    }
}
