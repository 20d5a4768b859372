//! Where queued actions go: profile's `CreateFollowUpPlan` (gRPC, with a service token for the
//! action's chain) and signed webhooks. Each answer is classified like a provider's, so the worker
//! applies one retry policy: transient failures are retried with backoff, permanent ones dead-letter.

use std::time::Duration;

use maitre_kit::auth::Minter;
use maitre_proto::profile::v1::{
    CreateFollowUpPlanRequest, FollowUpKind, FollowUpPlan,
    profile_service_client::ProfileServiceClient,
};
use tonic::Code;

use super::{FollowUpPlanAction, WebhookCall};
use crate::convert::timestamp_from_us;
use crate::domain::webhook_target::{AllowedHosts, refused_address, refused_host};
use crate::providers::ProviderError;
use crate::providers::webhook::post_signed;

/// Creates follow-up plans for the automation `automation_id`; `Ok` carries the plan id.
#[async_trait::async_trait]
pub trait FollowUpPlans: Send + Sync + 'static {
    async fn create(
        &self,
        chain_id: &str,
        automation_id: &str,
        plan: &FollowUpPlanAction,
    ) -> Result<String, ProviderError>;
}

/// The source profile records on a plan an automation made: which automation (the plan's source
/// is how profile supersedes that automation's earlier open plan, and how people see its origin).
pub fn automation_source(automation_id: &str) -> String {
    format!("automation:{automation_id}")
}

/// Calls webhooks; `Ok` carries what to record (the receiver's id, else "accepted").
#[async_trait::async_trait]
pub trait WebhookCalls: Send + Sync + 'static {
    async fn call(
        &self,
        call: &WebhookCall,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;
}

/// Profile's gRPC API, called as the notification service of the action's chain.
#[derive(Clone)]
pub struct ProfileFollowUpPlans {
    client: ProfileServiceClient<tonic::transport::Channel>,
    minter: Minter,
}

impl ProfileFollowUpPlans {
    /// A client of profile at `channel`.
    pub fn new(channel: tonic::transport::Channel, minter: Minter) -> Self {
        Self {
            client: ProfileServiceClient::new(channel),
            minter,
        }
    }
}

/// Whether a gRPC failure is worth retrying (the server or the network, not the request).
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown
            | Code::Cancelled
            | Code::Unimplemented
    )
}

#[async_trait::async_trait]
impl FollowUpPlans for ProfileFollowUpPlans {
    async fn create(
        &self,
        chain_id: &str,
        automation_id: &str,
        plan: &FollowUpPlanAction,
    ) -> Result<String, ProviderError> {
        let token = self
            .minter
            .service_token("notification", chain_id)
            .map_err(|e| ProviderError::Transient {
                error: format!("no service token: {e}"),
                retry_after_ms: None,
            })?;
        let request = CreateFollowUpPlanRequest {
            plan: Some(FollowUpPlan {
                customer_id: plan.customer_id.clone(),
                manager_id: plan.manager_id.clone(),
                kind: FollowUpKind::Call as i32,
                title: plan.title.clone(),
                due_at: Some(timestamp_from_us(plan.due_at_us)),
                source: automation_source(automation_id),
                ..FollowUpPlan::default()
            }),
            request_id: plan.request_id.clone(),
        };
        let mut client = self.client.clone();
        match client
            .create_follow_up_plan(maitre_kit::client::outgoing(request, &token))
            .await
        {
            Ok(response) => Ok(response
                .into_inner()
                .plan
                .map(|p| p.plan_id)
                .unwrap_or_default()),
            Err(status) => {
                let error = format!("profile answered {:?}: {}", status.code(), status.message());
                if transient(status.code()) {
                    Err(ProviderError::Transient {
                        error,
                        retry_after_ms: None,
                    })
                } else {
                    Err(ProviderError::Permanent { error })
                }
            }
        }
    }
}

/// Webhook calls signed with one secret (`MAITRE_NOTIFICATION_WEBHOOK_SECRET`), to public hosts
/// and the internal hosts the operator allows (`domain::webhook_target`).
#[derive(Clone)]
pub struct SignedWebhooks {
    client: reqwest::Client,
    secret: Vec<u8>,
    allowed: AllowedHosts,
}

impl SignedWebhooks {
    /// Calls signed with `secret`, each bounded by `timeout`; no redirects (a public receiver must
    /// not bounce the call into an internal network).
    pub fn new(secret: &[u8], timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            secret: secret.to_vec(),
            allowed: AllowedHosts::default(),
        })
    }

    /// Also calls these internal hosts (`MAITRE_WEBHOOK_ALLOWED_HOSTS`).
    pub fn allowing(mut self, allowed: AllowedHosts) -> Self {
        self.allowed = allowed;
        self
    }

    /// Refuses (permanently) a target whose host is, or resolves to, an internal address not
    /// allowed. Resolving fails transiently.
    async fn check_target(&self, url: &str) -> Result<(), ProviderError> {
        let refused = |error: String| ProviderError::Permanent { error };
        let parsed = url::Url::parse(url).map_err(|e| refused(format!("bad webhook url: {e}")))?;
        let host = parsed
            .host()
            .ok_or_else(|| refused("webhook url without a host".into()))?;
        if let Some(reason) = refused_host(&host, &self.allowed) {
            return Err(refused(reason));
        }
        let name = host.to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let lookup = name.trim_matches(['[', ']']).to_owned();
        let addresses = tokio::net::lookup_host((lookup.as_str(), port))
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("resolving {name}: {e}"),
                retry_after_ms: None,
            })?;
        for address in addresses {
            if let Some(reason) = refused_address(&name, address.ip(), &self.allowed) {
                return Err(refused(reason));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl WebhookCalls for SignedWebhooks {
    async fn call(
        &self,
        call: &WebhookCall,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        self.check_target(&call.url).await?;
        let body = serde_json::to_vec(&call.body).map_err(|e| ProviderError::Permanent {
            error: format!("encoding the occurrence: {e}"),
        })?;
        let id = post_signed(&self.client, &call.url, &self.secret, body, idempotency_key).await?;
        Ok(id.unwrap_or_else(|| "accepted".into()))
    }
}

/// A target that cannot be reached (misconfiguration): every action dead-letters with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unreachable;

fn unreachable_error() -> ProviderError {
    ProviderError::Permanent {
        error: "target not configured".into(),
    }
}

#[async_trait::async_trait]
impl FollowUpPlans for Unreachable {
    async fn create(
        &self,
        _: &str,
        _: &str,
        _: &FollowUpPlanAction,
    ) -> Result<String, ProviderError> {
        Err(unreachable_error())
    }
}

#[async_trait::async_trait]
impl WebhookCalls for Unreachable {
    async fn call(&self, _: &WebhookCall, _: &str) -> Result<String, ProviderError> {
        Err(unreachable_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_codes_are_retried_and_request_errors_are_not() {
        assert!(transient(Code::Unavailable));
        assert!(transient(Code::DeadlineExceeded));
        assert!(!transient(Code::InvalidArgument));
        assert!(!transient(Code::NotFound));
        assert!(!transient(Code::PermissionDenied));
    }
}
