//! What one dispatch round reads once and reuses for every message it decides: each chain's contact
//! policy (and whether its stores span several zones) and each compiled template. A round takes well
//! under a second, so a policy, zone or template change applies from the next round.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::channel_limits::ChannelLimits;
use crate::domain::guest::Guest;
use crate::domain::provider_binding::{self, ProviderBinding};
use crate::domain::template::Template;
use crate::domain::template_vars::TemplateVariable;
use crate::error::Result;
use crate::state::State;
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

/// A compiled template with its binding to the provider's template.
type BoundTemplate = (Template, Option<ProviderBinding>);

/// The round's caches.
#[derive(Default)]
pub struct Round {
    policies: HashMap<String, ChainPolicy>,
    /// `None`: the template no longer exists.
    templates: HashMap<(String, String), Option<Arc<BoundTemplate>>>,
}

/// The template id of a message forwarding an inbox item to the staff provider: rendered from
/// the item's own title and body (stored in its variables), not from a stored template.
pub const INBOX_FORWARD: &str = "notification.inbox_forward";
/// The variable holding a forwarded item's title.
pub const FORWARD_TITLE: &str = "inbox.title";
/// The variable holding a forwarded item's body.
pub const FORWARD_BODY: &str = "inbox.body";

/// A rendered message: subject and body, and for a template-based provider the provider's
/// template, sign name and parameters (the template's binding).
#[derive(Debug, Clone, Default)]
pub struct RenderedMessage {
    pub subject: Option<String>,
    pub body: String,
    pub provider_template_id: String,
    pub sign_name: String,
    pub parameters: Vec<(String, String)>,
}

/// A rendered message, or the dead-letter reason.
pub type Rendered = std::result::Result<RenderedMessage, String>;

impl Round {
    /// The chain's policy.
    pub async fn policy(&mut self, state: &State, chain_id: &str) -> Result<ChainPolicy> {
        if let Some(policy) = self.policies.get(chain_id) {
            return Ok(policy.clone());
        }
        let db = &state.db;
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
        state: &State,
        row: &MessageRow,
        guest: Option<&Guest>,
        limits: &ChannelLimits,
    ) -> Result<Rendered> {
        if row.template_id == INBOX_FORWARD {
            let text = |name: &str| row.variables.get(name).cloned().unwrap_or_default();
            return Ok(Ok(RenderedMessage {
                subject: Some(text(FORWARD_TITLE)).filter(|t| !t.is_empty()),
                body: text(FORWARD_BODY),
                ..RenderedMessage::default()
            }));
        }
        let key = (row.chain_id.clone(), row.template_id.clone());
        let template = match self.templates.get(&key) {
            Some(template) => template.clone(),
            None => {
                let stored = templates::get(&state.db, &row.chain_id, &row.template_id).await?;
                let template = match stored {
                    Some(stored) => Some(Arc::new((stored.compile()?, stored.provider))),
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
        let (template, binding) = &*template;
        Ok(template
            .render(&values, limits)
            .map(|r| {
                let mut rendered = RenderedMessage {
                    subject: r.subject,
                    body: r.body,
                    ..RenderedMessage::default()
                };
                if let Some(binding) = binding {
                    rendered.provider_template_id = binding.provider_template_id.clone();
                    rendered.sign_name = binding.sign_name.clone();
                    rendered.parameters = provider_binding::parameters(binding, &values);
                }
                rendered
            })
            .map_err(|e| format!("render_failed: {e}")))
    }
}
