//! What one dispatch round reads once and reuses for every message it decides: each chain's contact
//! policy (and whether its stores span several zones) and each compiled template. A round takes well
//! under a second, so a policy, zone or template change applies from the next round.

use std::collections::HashMap;
use std::sync::Arc;

use super::Pipeline;
use crate::domain::channel_limits::ChannelLimits;
use crate::domain::guest::Guest;
use crate::domain::template::Template;
use crate::domain::template_vars::TemplateVariable;
use crate::error::Result;
use crate::storage::messages::MessageRow;
use crate::storage::policy::ContactPolicy;
use crate::storage::{policy, stores, templates};

/// A chain's contact policy and whether any of its stores is outside the default zone (when none is,
/// quiet hours need no per-customer zone look-up).
#[derive(Clone)]
pub struct ChainPolicy {
    pub policy: ContactPolicy,
    pub zoned: bool,
}

/// The round's caches.
#[derive(Default)]
pub struct Round {
    policies: HashMap<String, ChainPolicy>,
    /// `None`: the template no longer exists.
    templates: HashMap<(String, String), Option<Arc<Template>>>,
}

/// A rendered subject and body, or the dead-letter reason.
pub type Rendered = std::result::Result<(Option<String>, String), String>;

impl Round {
    /// The chain's policy.
    pub async fn policy(&mut self, pipeline: &Pipeline, chain_id: &str) -> Result<ChainPolicy> {
        if let Some(policy) = self.policies.get(chain_id) {
            return Ok(policy.clone());
        }
        let db = &pipeline.db;
        let policy = ChainPolicy {
            policy: policy::contact_policy(db, chain_id).await?,
            zoned: stores::chain_zones(db, chain_id).await?.len() > 1,
        };
        self.policies.insert(chain_id.to_owned(), policy.clone());
        Ok(policy)
    }

    /// Renders the message's template with what is known of its guest (name, salutation,
    /// favourites, home store), under the message's own stored variables (coupon, occurrence,
    /// a sender's explicit values).
    pub async fn render(
        &mut self,
        pipeline: &Pipeline,
        row: &MessageRow,
        guest: Option<&Guest>,
        limits: &ChannelLimits,
    ) -> Result<Rendered> {
        let key = (row.chain_id.clone(), row.template_id.clone());
        let template = match self.templates.get(&key) {
            Some(template) => template.clone(),
            None => {
                let stored = templates::get(&pipeline.db, &row.chain_id, &row.template_id).await?;
                let template = match stored {
                    Some(stored) => Some(Arc::new(stored.compile()?)),
                    None => None,
                };
                self.templates.insert(key, template.clone());
                template
            }
        };
        let Some(template) = template else {
            return Ok(Err(format!("template_missing: {}", row.template_id)));
        };
        let mut values = guest.map(Guest::template_values).unwrap_or_default();
        for (path, value) in &row.variables {
            if let Some(variable) = TemplateVariable::from_path(path) {
                values.set(variable, value.clone());
            }
        }
        Ok(template
            .render(&values, limits)
            .map(|r| (r.subject, r.body))
            .map_err(|e| format!("render_failed: {e}")))
    }
}
