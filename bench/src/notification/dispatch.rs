//! Campaign dispatch on PostgreSQL + Redis through the notification crate's own pipeline:
//! the `CampaignRunner` enqueues a fixed segment (one row per customer, de-duplicated by
//! key), then `Dispatcher`s decide each message — consent, frequency cap, quiet hours,
//! render, send to the log provider — as the service's replicas do. Enqueue and dispatch
//! are timed apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{Timelike, Utc};
use maitre_kit::eventlog::EventLog;
use maitre_kit::testing::{self, Backend, TestDb};
use maitre_notification::app::campaign::{CampaignRunner, SegmentSource};
use maitre_notification::app::delivery::dispatcher::{Dispatcher, DispatcherConfig};
use maitre_notification::domain::channel::{Channel, MessagePurpose};
use maitre_notification::domain::template::Locale;
use maitre_notification::providers::Providers;
use maitre_notification::state::State;
use maitre_notification::storage::Migrator;
use maitre_notification::storage::campaigns::{self, CampaignRow};
use maitre_notification::storage::messages;
use maitre_notification::storage::policy;
use maitre_notification::storage::templates::{self, TemplateRow};
use maitre_proto::notification::v1 as pb;

const CHAIN: &str = "bench-chain";
const CAMPAIGN: &str = "bench-campaign";
const TEMPLATE: &str = "bench.sms";
/// Dispatchers working the queue at once, as replicas would (claims keep them apart).
pub const DISPATCHERS: usize = 4;
/// Messages each dispatcher claims per round (one small-scale run each on the shared machine:
/// 500 → 11,300/s, 1,000 → 15,100/s, 2,000 → 18,600/s, 4,000 → 14,300/s).
const BATCH: u64 = 2_000;

/// A segment of fixed customer ids (the tagging service's export, without the service).
pub struct FixedSegment(pub Vec<String>);

#[async_trait::async_trait]
impl SegmentSource for FixedSegment {
    async fn export(
        &self,
        _chain: &str,
        _segment: &str,
    ) -> maitre_notification::error::Result<Vec<String>> {
        Ok(self.0.clone())
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy)]
pub struct DispatchRun {
    pub customers: u64,
    pub enqueued: u64,
    pub enqueue: Duration,
    pub decided: u64,
    pub sent: u64,
    pub dispatch: Duration,
}

/// Quiet hours an hour long, six hours from now in Shanghai time (UTC+8, the default store
/// zone), so the check runs on every message without deferring any of them.
fn quiet_hours_elsewhere() -> pb::QuietHours {
    let now_minute = (Utc::now().hour() * 60 + Utc::now().minute()) as i32;
    let start_minute = (now_minute + 8 * 60 + 6 * 60) % 1440;
    pb::QuietHours {
        start_minute,
        end_minute: (start_minute + 60) % 1440,
    }
}

async fn sent_count(pipeline: &State) -> Result<u64> {
    let counts = messages::campaign_counts(&pipeline.db, CHAIN, CAMPAIGN)
        .await
        .context("campaign counts")?;
    Ok(counts
        .into_iter()
        .filter(|(status, _, _)| status == "sent")
        .map(|(_, _, n)| u64::try_from(n).unwrap_or(0))
        .sum())
}

async fn row_count(pipeline: &State) -> Result<u64> {
    let counts = messages::campaign_counts(&pipeline.db, CHAIN, CAMPAIGN)
        .await
        .context("campaign counts")?;
    Ok(counts
        .into_iter()
        .map(|(_, _, n)| u64::try_from(n).unwrap_or(0))
        .sum())
}

/// A fresh PostgreSQL schema and Redis prefix, the template, policy and campaign.
async fn prepare() -> Result<(TestDb, State)> {
    let db = TestDb::new::<Migrator>(Backend::Production).await;
    let coord = testing::coordination(Backend::Production).await;
    let events = EventLog::new(db.db.clone(), "notification", None);
    let pipeline = State::new(db.db.clone(), coord, events);
    templates::upsert(
        &db.db,
        CHAIN,
        &TemplateRow {
            template_id: TEMPLATE.into(),
            name: "周末特惠".into(),
            channel: Channel::Sms,
            locale: Locale::ZhCn,
            subject: None,
            body: "{{customer.salutation | \"您好\"}}，{{store.name | \"静安店\"}}本周末招牌菜八折。回T退订"
                .into(),
            purpose: MessagePurpose::Service,
            update_time_us: 0,
            provider: None,
        },
    )
    .await
    .context("template")?;
    let chain_policy = pb::ChainPolicy {
        caps: vec![pb::FrequencyCap {
            channel: maitre_proto::common::v1::MessageChannel::Sms as i32,
            max_messages: 3,
            window_hours: 24,
        }],
        quiet_hours: Some(quiet_hours_elsewhere()),
        ..Default::default()
    };
    policy::validate(&chain_policy).context("policy")?;
    policy::put(&db.db, CHAIN, &chain_policy)
        .await
        .context("policy")?;
    campaigns::insert(
        &db.db,
        &CampaignRow {
            chain_id: CHAIN.into(),
            campaign_id: CAMPAIGN.into(),
            name: "周末特惠".into(),
            segment: "bench-segment".into(),
            template_id: TEMPLATE.into(),
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
    .context("campaign")?;
    Ok((db, pipeline))
}

/// Enqueues a `customers`-strong campaign, then dispatches it with [`DISPATCHERS`]
/// dispatchers; each phase stops at `limit`.
pub async fn run(customers: usize, limit: Duration) -> Result<DispatchRun> {
    let (db, pipeline) = prepare().await?;
    let segment: Vec<String> = (0..customers).map(|i| format!("g{i:07}")).collect();
    let runner = CampaignRunner::new(
        pipeline.clone(),
        Arc::new(FixedSegment(segment)),
        Duration::from_secs(1),
    )
    .with_lock_ttl(limit * 2);
    let started = Instant::now();
    match tokio::time::timeout(limit, runner.run_once()).await {
        Ok(done) => {
            done.context("enqueue")?;
        }
        Err(_elapsed) => {}
    }
    let enqueue = started.elapsed();
    let enqueued = row_count(&pipeline).await?;

    let config = DispatcherConfig {
        batch: BATCH,
        poll: Duration::from_millis(10),
        ..DispatcherConfig::default()
    };
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = Vec::with_capacity(DISPATCHERS);
    for _ in 0..DISPATCHERS {
        let dispatcher = Dispatcher::new(pipeline.clone(), Providers::default(), config.clone());
        workers.push(tokio::spawn(async move {
            let mut decided = 0u64;
            while Instant::now() < deadline {
                let handled = dispatcher.run_once(Utc::now()).await?;
                if handled == 0 {
                    break;
                }
                decided += handled as u64;
            }
            Ok::<u64, anyhow::Error>(decided)
        }));
    }
    let mut decided = 0;
    for worker in workers {
        decided += worker.await.context("dispatcher task")??;
    }
    let dispatch = started.elapsed();
    let sent = sent_count(&pipeline).await?;
    // 1M message rows: drop the schema now rather than leave it to the hourly sweep.
    let (url, schema) = (db.url.clone(), db.schema.clone());
    drop(pipeline);
    drop(db);
    let _ = maitre_kit::db::drop_schema(&url, &schema).await;
    Ok(DispatchRun {
        customers: customers as u64,
        enqueued,
        enqueue,
        decided,
        sent,
        dispatch,
    })
}
