//! gRPC handlers of the notification service: decode, authorise, call the domain and storage, encode.
//! Each RPC family lives in its own module; this one wires them into the generated trait.

mod automations;
mod callbacks;
mod campaigns;
mod deliveries;
mod guests;
mod inbox;
mod policy;
mod providers;
mod templates;

use maitre_kit::{
    auth::{Caller, Role},
    eventlog::{BoxEventStream, watch_for},
    runtime::Runtime,
};
use maitre_proto::{
    notification::v1::{self as pb, notification_service_server::NotificationService},
    profile::v1::profile_service_client::ProfileServiceClient,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status, transport::Channel};

use std::sync::Arc;

pub use callbacks::ProviderCallbacksApi;

use crate::app::campaign::SegmentSource;
use crate::domain::webhook_target::AllowedHosts;
use crate::state::State;

/// Roles that manage templates, automations and campaigns.
pub(crate) const WRITERS: &[Role] = &[Role::HqAdmin, Role::StoreManager];

/// The boxed stream of `StreamInbox`.
pub type InboxStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::StreamInboxResponse, Status>> + Send>>;

/// The notification service's handlers.
#[derive(Clone)]
pub struct NotificationServiceApi {
    runtime: Runtime,
    state: State,
    /// Profile, which resolves an inbound reply's sender key to a customer (`None`: no usable
    /// profile URL).
    profile: Option<ProfileServiceClient<Channel>>,
    /// Tagging's segments, which a new campaign's segment must resolve in (`None`: no usable
    /// tagging URL; campaigns cannot be created).
    segments: Option<Arc<dyn SegmentSource>>,
    /// Internal hosts the operator allows webhook actions to target (none by default).
    webhook_hosts: AllowedHosts,
    /// Seals and opens the chain's provider secrets.
    provider_secrets: Arc<crate::storage::secrets::Keyring>,
    /// `MAITRE_ENV=production`: the log provider is refused for guest channels.
    production: bool,
    /// Set at shutdown: live inbox streams end.
    closed: watch::Sender<bool>,
}

impl NotificationServiceApi {
    /// Handlers over the service's runtime and state, asking profile at
    /// `profile` who sent an inbound reply.
    pub fn new(runtime: Runtime, state: State, profile: Option<Channel>) -> Self {
        let (closed, _) = watch::channel(false);
        Self {
            runtime,
            state,
            profile: profile.map(ProfileServiceClient::new),
            segments: None,
            webhook_hosts: AllowedHosts::default(),
            provider_secrets: Arc::default(),
            production: false,
            closed,
        }
    }

    /// Lets webhook actions target these internal hosts (`MAITRE_WEBHOOK_ALLOWED_HOSTS`).
    pub fn with_webhook_allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.webhook_hosts = hosts;
        self
    }

    /// Seals provider secrets with `keyring`; in `production` refuses the log provider for
    /// guest channels.
    pub fn with_provider_accounts(
        mut self,
        keyring: Arc<crate::storage::secrets::Keyring>,
        production: bool,
    ) -> Self {
        self.provider_secrets = keyring;
        self.production = production;
        self
    }

    /// Checks new campaigns' segments with `segments`.
    pub fn with_segments(mut self, segments: Arc<dyn SegmentSource>) -> Self {
        self.segments = Some(segments);
        self
    }

    /// Ends live streams (at shutdown) so draining does not wait for them.
    pub fn close_streams(&self) {
        self.closed.send_replace(true);
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl NotificationService for NotificationServiceApi {
    async fn create_template(
        &self,
        r: Request<pb::CreateTemplateRequest>,
    ) -> Rpc<pb::CreateTemplateResponse> {
        self.create_template_rpc(r).await
    }
    async fn get_template(
        &self,
        r: Request<pb::GetTemplateRequest>,
    ) -> Rpc<pb::GetTemplateResponse> {
        self.get_template_rpc(r).await
    }
    async fn update_template(
        &self,
        r: Request<pb::UpdateTemplateRequest>,
    ) -> Rpc<pb::UpdateTemplateResponse> {
        self.update_template_rpc(r).await
    }
    async fn delete_template(
        &self,
        r: Request<pb::DeleteTemplateRequest>,
    ) -> Rpc<pb::DeleteTemplateResponse> {
        self.delete_template_rpc(r).await
    }
    async fn list_templates(
        &self,
        r: Request<pb::ListTemplatesRequest>,
    ) -> Rpc<pb::ListTemplatesResponse> {
        self.list_templates_rpc(r).await
    }
    async fn preview_template(
        &self,
        r: Request<pb::PreviewTemplateRequest>,
    ) -> Rpc<pb::PreviewTemplateResponse> {
        self.preview_template_rpc(r).await
    }

    async fn create_automation(
        &self,
        r: Request<pb::CreateAutomationRequest>,
    ) -> Rpc<pb::CreateAutomationResponse> {
        self.create_automation_rpc(r).await
    }
    async fn get_automation(
        &self,
        r: Request<pb::GetAutomationRequest>,
    ) -> Rpc<pb::GetAutomationResponse> {
        self.get_automation_rpc(r).await
    }
    async fn update_automation(
        &self,
        r: Request<pb::UpdateAutomationRequest>,
    ) -> Rpc<pb::UpdateAutomationResponse> {
        self.update_automation_rpc(r).await
    }
    async fn list_automations(
        &self,
        r: Request<pb::ListAutomationsRequest>,
    ) -> Rpc<pb::ListAutomationsResponse> {
        self.list_automations_rpc(r).await
    }
    async fn set_automation_enabled(
        &self,
        r: Request<pb::SetAutomationEnabledRequest>,
    ) -> Rpc<pb::SetAutomationEnabledResponse> {
        self.set_automation_enabled_rpc(r).await
    }
    async fn list_presets(
        &self,
        r: Request<pb::ListPresetsRequest>,
    ) -> Rpc<pb::ListPresetsResponse> {
        self.list_presets_rpc(r).await
    }
    async fn install_preset(
        &self,
        r: Request<pb::InstallPresetRequest>,
    ) -> Rpc<pb::InstallPresetResponse> {
        self.install_preset_rpc(r).await
    }

    async fn create_campaign(
        &self,
        r: Request<pb::CreateCampaignRequest>,
    ) -> Rpc<pb::CreateCampaignResponse> {
        self.create_campaign_rpc(r).await
    }
    async fn get_campaign(
        &self,
        r: Request<pb::GetCampaignRequest>,
    ) -> Rpc<pb::GetCampaignResponse> {
        self.get_campaign_rpc(r).await
    }
    async fn list_campaigns(
        &self,
        r: Request<pb::ListCampaignsRequest>,
    ) -> Rpc<pb::ListCampaignsResponse> {
        self.list_campaigns_rpc(r).await
    }
    async fn cancel_campaign(
        &self,
        r: Request<pb::CancelCampaignRequest>,
    ) -> Rpc<pb::CancelCampaignResponse> {
        self.cancel_campaign_rpc(r).await
    }

    async fn send_message(
        &self,
        r: Request<pb::SendMessageRequest>,
    ) -> Rpc<pb::SendMessageResponse> {
        self.send_message_rpc(r).await
    }
    async fn list_deliveries(
        &self,
        r: Request<pb::ListDeliveriesRequest>,
    ) -> Rpc<pb::ListDeliveriesResponse> {
        self.list_deliveries_rpc(r).await
    }
    async fn get_delivery(
        &self,
        r: Request<pb::GetDeliveryRequest>,
    ) -> Rpc<pb::GetDeliveryResponse> {
        self.get_delivery_rpc(r).await
    }
    async fn report_delivery_status(
        &self,
        r: Request<pb::ReportDeliveryStatusRequest>,
    ) -> Rpc<pb::ReportDeliveryStatusResponse> {
        self.report_delivery_status_rpc(r).await
    }
    async fn record_message_opened(
        &self,
        r: Request<pb::RecordMessageOpenedRequest>,
    ) -> Rpc<pb::RecordMessageOpenedResponse> {
        self.record_message_opened_rpc(r).await
    }
    async fn record_inbound_reply(
        &self,
        r: Request<pb::RecordInboundReplyRequest>,
    ) -> Rpc<pb::RecordInboundReplyResponse> {
        self.record_inbound_reply_rpc(r).await
    }

    async fn get_customer_preferences(
        &self,
        r: Request<pb::GetCustomerPreferencesRequest>,
    ) -> Rpc<pb::GetCustomerPreferencesResponse> {
        self.get_customer_preferences_rpc(r).await
    }
    async fn update_customer_preferences(
        &self,
        r: Request<pb::UpdateCustomerPreferencesRequest>,
    ) -> Rpc<pb::UpdateCustomerPreferencesResponse> {
        self.update_customer_preferences_rpc(r).await
    }
    async fn get_chain_policy(
        &self,
        r: Request<pb::GetChainPolicyRequest>,
    ) -> Rpc<pb::GetChainPolicyResponse> {
        self.get_chain_policy_rpc(r).await
    }
    async fn update_chain_policy(
        &self,
        r: Request<pb::UpdateChainPolicyRequest>,
    ) -> Rpc<pb::UpdateChainPolicyResponse> {
        self.update_chain_policy_rpc(r).await
    }

    async fn put_provider_account(
        &self,
        r: Request<pb::PutProviderAccountRequest>,
    ) -> Rpc<pb::PutProviderAccountResponse> {
        self.put_provider_account_rpc(r).await
    }
    async fn get_provider_account(
        &self,
        r: Request<pb::GetProviderAccountRequest>,
    ) -> Rpc<pb::GetProviderAccountResponse> {
        self.get_provider_account_rpc(r).await
    }

    async fn list_inbox(&self, r: Request<pb::ListInboxRequest>) -> Rpc<pb::ListInboxResponse> {
        self.list_inbox_rpc(r).await
    }
    async fn mark_inbox_read(
        &self,
        r: Request<pb::MarkInboxReadRequest>,
    ) -> Rpc<pb::MarkInboxReadResponse> {
        self.mark_inbox_read_rpc(r).await
    }
    async fn stream_inbox(&self, r: Request<pb::StreamInboxRequest>) -> Rpc<InboxStream> {
        self.stream_inbox_rpc(r).await
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Rpc<BoxEventStream> {
        let caller = Caller::from_request(&request)?;
        let stream = watch_for(
            &self.runtime.events,
            &caller,
            request.get_ref().from_sequence,
        )?;
        Ok(Response::new(stream))
    }
}
