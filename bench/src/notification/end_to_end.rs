//! "Tag added → customer message enqueued" across running services (issue 7): profile,
//! tagging and notification (and assignment, profile's upstream) in process on loopback,
//! PostgreSQL + Redis. An automation triggered by a manual tag messages the customer; each
//! customer is tagged through tagging's `AddCustomerTags`, and the time runs until
//! notification's `ListDeliveries` shows the customer's message.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use maitre_kit::{auth::Role, client::outgoing, testing::token};
use maitre_proto::common::v1::{IdentityKey, IdentityKind, MessageChannel};
use maitre_proto::notification::v1::{
    self as npb, notification_service_client::NotificationServiceClient,
};
use maitre_proto::profile::v1::{self as ppb, profile_service_client::ProfileServiceClient};
use maitre_proto::tagging::v1::{self as tpb, tagging_service_client::TaggingServiceClient};
use tonic::transport::Channel;

use crate::gateway::load::{self, LatencySummary};

const TAG: &str = "bench_welcome_back";
/// A customer whose message has not appeared by then counts as this slow (and fails p99).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// How often `ListDeliveries` is polled while waiting.
const POLL: Duration = Duration::from_millis(2);

/// The whole system (the same harness the cross-service tests use); it stops when dropped.
pub type Services = maitre_tests::System;

/// The result of one run: latencies of the customers whose message appeared, and how many
/// never did within [`GIVE_UP_AFTER`].
#[derive(Debug, Clone, Copy)]
pub struct EndToEnd {
    pub latency: LatencySummary,
    pub missing: usize,
}

/// The manual tag, a service SMS template and an enabled automation: tag added → message.
async fn set_up(
    tagging: &mut TaggingServiceClient<Channel>,
    notification: &mut NotificationServiceClient<Channel>,
    token: &str,
) -> Result<String> {
    let tag = tagging
        .create_tag(outgoing(
            tpb::CreateTagRequest {
                tag: Some(tpb::Tag {
                    name: TAG.into(),
                    display_name: "欢迎回来".into(),
                    category: tpb::TagCategory::Behaviour as i32,
                    source: tpb::TagSource::Manual as i32,
                    ..Default::default()
                }),
                request_id: "bench-tag".into(),
            },
            token,
        ))
        .await
        .context("CreateTag")?
        .into_inner()
        .tag
        .context("CreateTag returned no tag")?;
    // A new tag is a draft; members can be added once it is active.
    tagging
        .transition_tag(outgoing(
            tpb::TransitionTagRequest {
                tag_id: tag.tag_id.clone(),
                lifecycle: tpb::TagLifecycle::Active as i32,
            },
            token,
        ))
        .await
        .context("TransitionTag")?;
    let template = notification
        .create_template(outgoing(
            npb::CreateTemplateRequest {
                template: Some(npb::Template {
                    name: "欢迎回来".into(),
                    channel: MessageChannel::Sms as i32,
                    locale: "zh-CN".into(),
                    body: "{{customer.salutation | \"您好\"}}，欢迎再次光临。回T退订".into(),
                    purpose: npb::MessagePurpose::Service as i32,
                    ..Default::default()
                }),
                request_id: "bench-template".into(),
            },
            token,
        ))
        .await
        .context("CreateTemplate")?
        .into_inner()
        .template
        .context("CreateTemplate returned no template")?;
    let automation = notification
        .create_automation(outgoing(
            npb::CreateAutomationRequest {
                automation: Some(npb::Automation {
                    name: "欢迎回来".into(),
                    trigger: Some(npb::Trigger {
                        kind: npb::TriggerKind::TagAdded as i32,
                        tag: TAG.into(),
                        ..Default::default()
                    }),
                    actions: vec![npb::Action {
                        kind: npb::ActionKind::MessageCustomer as i32,
                        template_id: template.template_id,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                request_id: "bench-automation".into(),
            },
            token,
        ))
        .await
        .context("CreateAutomation")?
        .into_inner()
        .automation
        .context("CreateAutomation returned no automation")?;
    notification
        .set_automation_enabled(outgoing(
            npb::SetAutomationEnabledRequest {
                automation_id: automation.automation_id,
                enabled: true,
            },
            token,
        ))
        .await
        .context("SetAutomationEnabled")?;
    Ok(tag.tag_id)
}

async fn has_delivery(
    notification: &mut NotificationServiceClient<Channel>,
    token: &str,
    customer_id: &str,
) -> Result<bool> {
    let reply = notification
        .list_deliveries(outgoing(
            npb::ListDeliveriesRequest {
                customer_id: customer_id.into(),
                page_size: 1,
                ..Default::default()
            },
            token,
        ))
        .await
        .context("ListDeliveries")?
        .into_inner();
    Ok(!reply.deliveries.is_empty())
}

/// Creates `count` customers in profile and waits until tagging has heard of each (profile's
/// `CustomerCreated` reaches tagging through its event stream); their profile ids.
async fn create_customers(
    services: &Services,
    tagging: &mut TaggingServiceClient<Channel>,
    token: &str,
    count: usize,
) -> Result<Vec<String>> {
    let mut profile = ProfileServiceClient::new(
        maitre_kit::client::lazy_channel(&services.profile.url).context("profile channel")?,
    );
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let customer = profile
            .upsert_customer(outgoing(
                ppb::UpsertCustomerRequest {
                    identity_keys: vec![IdentityKey {
                        kind: IdentityKind::MemberCard as i32,
                        value: format!("bench-card-{i:05}"),
                        ..Default::default()
                    }],
                    profile: Some(ppb::Profile {
                        name: format!("顾客{i}"),
                        ..Default::default()
                    }),
                    request_id: format!("bench-customer-{i}"),
                    ..Default::default()
                },
                token,
            ))
            .await
            .context("UpsertCustomer")?
            .into_inner()
            .customer
            .context("UpsertCustomer returned no customer")?;
        ids.push(customer.customer_id);
    }
    for id in &ids {
        let started = Instant::now();
        loop {
            let known = tagging
                .list_customer_tags(outgoing(
                    tpb::ListCustomerTagsRequest {
                        customer_id: id.clone(),
                    },
                    token,
                ))
                .await;
            match known {
                Ok(_) => break,
                Err(status) if status.code() == tonic::Code::NotFound => {
                    ensure!(
                        started.elapsed() < GIVE_UP_AFTER,
                        "tagging never heard of customer {id}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(status) => return Err(status).context("ListCustomerTags"),
            }
        }
    }
    Ok(ids)
}

/// Tags `customers` customers one after another and times each until its message appears.
pub async fn run(services: &Services, customers: usize) -> Result<EndToEnd> {
    ensure!(
        customers > 0,
        "the end-to-end run needs at least one customer"
    );
    let token = token("bench-chain", Role::HqAdmin, "bench", &[]);
    let mut tagging = TaggingServiceClient::new(
        maitre_kit::client::lazy_channel(&services.tagging.url).context("tagging channel")?,
    );
    let mut notification = NotificationServiceClient::new(
        maitre_kit::client::lazy_channel(&services.notification.url)
            .context("notification channel")?,
    );
    let tag_id = set_up(&mut tagging, &mut notification, &token).await?;
    let ids = create_customers(services, &mut tagging, &token, customers).await?;
    let mut samples = Vec::with_capacity(customers);
    let mut missing = 0;
    for customer_id in ids {
        let started = Instant::now();
        tagging
            .add_customer_tags(outgoing(
                tpb::AddCustomerTagsRequest {
                    tag_id: tag_id.clone(),
                    customer_ids: vec![customer_id.clone()],
                    note: "benchmark".into(),
                },
                &token,
            ))
            .await
            .context("AddCustomerTags")?;
        let mut appeared = false;
        while started.elapsed() < GIVE_UP_AFTER {
            if has_delivery(&mut notification, &token, &customer_id).await? {
                appeared = true;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        if appeared {
            samples.push(started.elapsed());
        } else {
            missing += 1;
            samples.push(GIVE_UP_AFTER);
        }
    }
    let latency = load::summarize(samples).context("no samples")?;
    Ok(EndToEnd { latency, missing })
}
