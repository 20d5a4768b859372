//! Shared helpers of the notification integration tests: fresh storage and coordination per test,
//! templates, messages, policies, and providers/segments that record what they were given.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use maitre_kit::eventlog::EventLog;
use maitre_kit::testing::{self, Backend, TestDb};
use maitre_notification::app::campaign::SegmentSource;
use maitre_notification::app::delivery::dispatcher::DispatcherConfig;
use maitre_notification::domain::channel::{Channel, MessagePurpose};
use maitre_notification::domain::consent::ChannelConsent;
use maitre_notification::domain::template::Locale;
use maitre_notification::providers::{
    HandedMessage, OutboundMessage, Provider, ProviderError, Reconciliation,
};
use maitre_notification::state::State;
use maitre_notification::storage::Migrator;
use maitre_notification::storage::automations;
use maitre_notification::storage::campaigns::{self, CampaignRow};
use maitre_notification::storage::messages::{self, NewMessage};
use maitre_notification::storage::policy::{self, Preferences};
use maitre_notification::storage::templates::{self, TemplateRow};
use maitre_proto::notification::v1 as pb;
use sea_orm::ConnectionTrait;

pub const CHAIN: &str = "chain-1";

pub struct Env {
    pub db: TestDb,
    pub pipeline: State,
}

pub async fn env(backend: Backend) -> Env {
    let db = TestDb::new::<Migrator>(backend).await;
    let coord = testing::coordination(backend).await;
    let events = EventLog::new(db.db.clone(), "notification", None);
    let pipeline = State::new(db.db.clone(), coord, events);
    Env { db, pipeline }
}

/// A staff-inbox template `id` with `subject` and `body`.
pub async fn inbox_template(conn: &impl ConnectionTrait, id: &str, subject: &str, body: &str) {
    let purpose = MessagePurpose::Transactional;
    template(conn, id, Channel::StaffInbox, Some(subject), body, purpose).await;
}

/// One action of `kind` with `template_id`.
pub fn action(kind: pb::ActionKind, template_id: &str) -> pb::Action {
    pb::Action {
        kind: kind as i32,
        template_id: template_id.into(),
        ..Default::default()
    }
}

/// Stores an enabled automation `id` of CHAIN firing on `trigger` with `actions`.
pub async fn enabled_automation(
    conn: &impl ConnectionTrait,
    id: &str,
    trigger: pb::Trigger,
    actions: Vec<pb::Action>,
) {
    let automation = pb::Automation {
        automation_id: id.into(),
        name: id.into(),
        trigger: Some(trigger),
        actions,
        enabled: true,
        ..Default::default()
    };
    automations::upsert(conn, CHAIN, &automation, 0)
        .await
        .expect("automation");
}

/// A birthday trigger `days_before` the day.
pub fn birthday_trigger(days_before: i32) -> pb::Trigger {
    pb::Trigger {
        kind: pb::TriggerKind::Birthday as i32,
        days_before,
        ..Default::default()
    }
}

/// A birth date whose birthday is `date` (born 1990, or 1992 for 29 February).
pub fn born_on(date: NaiveDate) -> NaiveDate {
    date.with_year(1990)
        .or_else(|| date.with_year(1992))
        .expect("a birth date")
}

/// The customer's messages in CHAIN (at most 10).
pub async fn messages_of(conn: &impl ConnectionTrait, customer: &str) -> Vec<messages::MessageRow> {
    let filter = messages::ListFilter {
        customer_id: customer,
        ..Default::default()
    };
    messages::list(conn, CHAIN, &filter, "", 10)
        .await
        .expect("list messages")
}

pub fn config() -> DispatcherConfig {
    DispatcherConfig {
        batch: 100,
        poll: Duration::from_millis(10),
        sending_lease: Duration::from_secs(5),
        ..DispatcherConfig::default()
    }
}

pub async fn sms_template(conn: &impl ConnectionTrait, id: &str, purpose: MessagePurpose) {
    let body = "{{customer.salutation | \"您好\"}}，{{store.name | \"静安店\"}}欢迎您。回T退订";
    template(conn, id, Channel::Sms, None, body, purpose).await;
}

/// Stores template `id` of CHAIN.
async fn template(
    conn: &impl ConnectionTrait,
    id: &str,
    channel: Channel,
    subject: Option<&str>,
    body: &str,
    purpose: MessagePurpose,
) {
    templates::upsert(
        conn,
        CHAIN,
        &TemplateRow {
            template_id: id.into(),
            name: id.into(),
            channel,
            locale: Locale::ZhCn,
            subject: subject.map(str::to_owned),
            body: body.into(),
            purpose,
            update_time_us: 0,
            provider: None,
        },
    )
    .await
    .expect("template");
}

pub fn message(
    customer: &str,
    dedup_key: &str,
    template: &str,
    purpose: MessagePurpose,
) -> NewMessage {
    NewMessage {
        message_id: uuid::Uuid::now_v7().to_string(),
        customer_id: customer.into(),
        staff_id: String::new(),
        channel: Channel::Sms,
        purpose,
        template_id: template.into(),
        variables: BTreeMap::new(),
        campaign_id: String::new(),
        automation_id: String::new(),
        dedup_key: dedup_key.into(),
        next_attempt_at_us: Utc::now().timestamp_micros(),
    }
}

pub async fn set_policy(conn: &impl ConnectionTrait, policy: pb::ChainPolicy) {
    policy::validate(&policy).expect("valid policy");
    policy::put(conn, CHAIN, &policy).await.expect("policy");
}

pub async fn opt_in(conn: &impl ConnectionTrait, customer: &str) {
    let mut preferences = Preferences::default();
    preferences
        .consent
        .set(Channel::Sms, ChannelConsent::OptedIn { at: Utc::now() });
    policy::put_preferences(conn, CHAIN, customer, &preferences)
        .await
        .expect("preferences");
}

pub async fn status_of(conn: &impl ConnectionTrait, dedup_key: &str) -> messages::MessageRow {
    messages::get_by_dedup_key(conn, CHAIN, dedup_key)
        .await
        .expect("read")
        .expect("message exists")
}

/// Records every message it accepts; dedupes by message id like a provider honouring idempotency keys.
#[derive(Default)]
pub struct CountingProvider {
    pub accepted: Mutex<HashMap<String, HashSet<String>>>,
}

#[async_trait::async_trait]
impl Provider for CountingProvider {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        let mut accepted = self.accepted.lock().expect("lock");
        accepted
            .entry(message.customer_id.clone())
            .or_default()
            .insert(message.message_id.clone());
        Ok(format!("count:{}", message.message_id))
    }

    /// Answers as a provider with a query API would: by the message id it was sent with.
    async fn reconcile(&self, message: &HandedMessage) -> Reconciliation {
        let accepted = self.accepted.lock().expect("lock");
        let known = accepted
            .get(&message.customer_id)
            .is_some_and(|ids| ids.contains(&message.message_id));
        if known {
            Reconciliation::Accepted(format!("count:{}", message.message_id))
        } else {
            Reconciliation::NotReceived
        }
    }
}

pub struct FailingProvider;

#[async_trait::async_trait]
impl Provider for FailingProvider {
    async fn send(&self, _: &OutboundMessage) -> Result<String, ProviderError> {
        Err(ProviderError::Transient {
            error: "gateway timeout".into(),
            retry_after_ms: None,
        })
    }
}

pub struct FixedSegment(pub Vec<String>);

#[async_trait::async_trait]
impl SegmentSource for FixedSegment {
    async fn export(&self, _: &str, _: &str) -> maitre_notification::error::Result<Vec<String>> {
        Ok(self.0.clone())
    }
}

pub async fn new_campaign(conn: &impl ConnectionTrait, id: &str, template: &str) {
    campaigns::insert(
        conn,
        &CampaignRow {
            chain_id: CHAIN.into(),
            campaign_id: id.into(),
            name: id.into(),
            segment: "seg-1".into(),
            template_id: template.into(),
            coupon: String::new(),
            scheduled_at_us: Utc::now().timestamp_micros(),
            state: "scheduled".into(),
            targeted: 0,
            create_time_us: 0,
            attempts: 0,
            failure_reason: String::new(),
        },
    )
    .await
    .expect("campaign");
}

pub async fn campaign_sent_count(conn: &impl ConnectionTrait, campaign: &str) -> i64 {
    messages::campaign_counts(conn, CHAIN, campaign)
        .await
        .expect("counts")
        .into_iter()
        .filter(|(status, _, _)| status == "sent")
        .map(|(_, _, n)| n)
        .sum()
}
