//! A change of tag membership: what evaluation, manual tagging, merges and erasure produce, and
//! what storage, the bitmaps cache and the change stream consume.

/// One membership to add or remove.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub tag_id: String,
    pub tag_name: String,
    pub customer_id: String,
    pub number: u32,
    pub added: bool,
    pub source: i64,
    pub rule_version: i64,
    /// "rule:v<version>", "manual:<staff id>", "retired", "merge", "erased".
    pub actor: String,
    pub reason: String,
}
