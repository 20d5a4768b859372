//! Predictive tags end to end: a refit on a synthetic chain, the model report, live scores
//! moving with a visit, a `p_alive < 0.3` rule and the `churn_risk` model tag; a chain with
//! too little history is refused with the minimum named and no model tags.

use maitre_kit::on_both_backends;
use std::time::Duration;

use chrono::{Days, Utc};
use futures::StreamExt;
use maitre_kit::{auth::Role, error::field_of, testing::Backend};
use maitre_proto::{
    events::v1::{ContactKind, ContactRecorded, event::Payload},
    tagging::v1::{
        GetCustomerPredictionRequest, GetModelReportRequest, ListTagHistoryRequest,
        ListTagsRequest, ModelSettings, Prediction, RefitModelsRequest, TagSource,
        UpdateModelSettingsRequest, WatchRequest,
    },
};

use crate::common::{Harness, admin, created, req, start};

/// A visit on the day `days_ago` before today (chain-local).
pub(crate) fn visit_days_ago(customer: &str, days_ago: u64, amount_fen: i64) -> Payload {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let date = today.checked_sub_days(Days::new(days_ago)).expect("date");
    Payload::ContactRecorded(ContactRecorded {
        event_id: uuid::Uuid::new_v4().to_string(),
        customer_id: customer.into(),
        kind: ContactKind::Visit as i32,
        store_id: "store-1".into(),
        amount_fen,
        local_date: date.format("%Y-%m-%d").to_string(),
        ..Default::default()
    })
}

/// A small deterministic generator (xorshift64*), so the synthetic chain is the same on
/// every run without a dependency.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Gamma(shape, rate) for a whole shape: a sum of exponentials.
    fn gamma(&mut self, shape: u32, rate: f64) -> f64 {
        (0..shape).map(|_| -self.uniform().ln()).sum::<f64>() / rate
    }
}

/// 120 customers drawn from BG/NBD with r = 2, α = 20 (a visit every 10 days on average
/// while active) and dropout p ~ Beta(1, 3), arriving over the last year; spend per visit
/// Gamma(6, ν) with ν ~ Gamma(4, 5000) (rates) (about 10,000 fen a visit).
pub(crate) fn push_synthetic_chain(h: &Harness, chain: &str) -> usize {
    let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
    let mut with_visits = 0;
    for i in 0..120u64 {
        let id = format!("g{i:03}");
        h.profile.push(chain, created(&id));
        let rate_per_day = draws.gamma(2, 20.0);
        let dropout = 1.0 - draws.uniform().powf(1.0 / 3.0);
        let spend_scale = draws.gamma(4, 5_000.0).recip();
        let mut at = 365.0 * draws.uniform();
        with_visits += 1;
        loop {
            let amount = (draws.gamma(6, 1.0) * spend_scale).round() as i64;
            h.profile.push(
                chain,
                visit_days_ago(&id, at.floor() as u64, amount.max(100)),
            );
            if draws.uniform() < dropout {
                break;
            }
            at -= -draws.uniform().ln() / rate_per_day;
            if at < 0.0 {
                break;
            }
        }
    }
    with_visits
}

pub(crate) async fn prediction(h: &mut Harness, chain: &str, customer: &str) -> Prediction {
    h.client
        .get_customer_prediction(admin(
            chain,
            GetCustomerPredictionRequest {
                customer_id: customer.into(),
            },
        ))
        .await
        .expect("prediction")
        .into_inner()
        .prediction
        .expect("prediction")
}

pub(crate) async fn model_tag_id(h: &mut Harness, chain: &str, name: &str) -> Option<String> {
    h.client
        .list_tags(admin(
            chain,
            ListTagsRequest {
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .expect("tags")
        .into_inner()
        .tags
        .into_iter()
        .find(|t| t.name == name && t.source == TagSource::Model as i32)
        .map(|t| t.tag_id)
}

async fn refit_scores_and_tags(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let lapsing = h
        .active_tag(chain, "lapsing", TagSource::Rule, "p_alive < 0.3")
        .await;
    let synthetic = push_synthetic_chain(&h, chain) as i64;
    // A regular who came four times, ten days apart, then stopped 270 days ago.
    h.profile.push(chain, created("lapsed"));
    for days_ago in [300, 290, 280, 270] {
        h.profile
            .push(chain, visit_days_ago("lapsed", days_ago, 12_000));
    }
    h.sync_profile(chain, "marker-1").await;

    let job_id = refit(&mut h, chain, "refit-1").await;
    let replay = h
        .client
        .refit_models(admin(
            chain,
            RefitModelsRequest {
                request_id: "refit-1".into(),
            },
        ))
        .await
        .expect("replayed refit")
        .into_inner()
        .progress
        .expect("job");
    assert_eq!(replay.job_id, job_id, "a replay returns the first job");

    let report = h
        .client
        .get_model_report(admin(chain, GetModelReportRequest {}))
        .await
        .expect("report")
        .into_inner()
        .report
        .expect("report");
    assert_eq!(report.customers, synthetic + 1);
    assert!(report.last_fit_converged, "{report:?}");
    for p in [report.r, report.alpha, report.a, report.b] {
        assert!(p.is_finite() && p > 0.0, "{report:?}");
    }
    // Drawn with a mean rate r/α of 0.1 a day and mean dropout a/(a+b) of 0.25: a fit on
    // 120 customers lands within a factor of two.
    let rate_per_day = report.r / report.alpha;
    assert!((0.05..=0.2).contains(&rate_per_day), "{report:?}");
    let dropout = report.a / (report.a + report.b);
    assert!((0.125..=0.5).contains(&dropout), "{report:?}");
    assert!(report.log_likelihood < 0.0);
    assert!(report.gg_q > 1.0 && report.gg_gamma > 0.0, "{report:?}");
    assert!(!report.calibration.is_empty(), "{report:?}");
    assert!(report.calibration.iter().all(|r| r.customers > 0
        && r.predicted_holdout_visits.is_finite()
        && r.actual_holdout_visits >= 0.0));

    let before = prediction(&mut h, chain, "lapsed").await;
    assert!(before.p_alive < 0.3, "{before:?}");
    assert!(before.expected_ticket_fen > 0);
    let churn = model_tag_id(&mut h, chain, "churn_risk")
        .await
        .expect("churn_risk tag");
    assert!(h.members(chain, &churn).await.contains(&"lapsed".into()));
    assert!(
        h.members(chain, &lapsing.tag_id)
            .await
            .contains(&"lapsed".into()),
        "the rule p_alive < 0.3 tags the lapsed regular"
    );
    let history = h
        .client
        .list_tag_history(admin(
            chain,
            ListTagHistoryRequest {
                customer_id: "lapsed".into(),
                tag_id: churn.clone(),
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "model:churn_risk");
    assert!(history[0].added);

    // A visit today moves P(alive) at once (no refit) and the tags follow.
    let mut stream = h
        .client
        .watch(admin(chain, WatchRequest { from_sequence: 0 }))
        .await
        .expect("watch")
        .into_inner();
    h.profile.push(chain, visit_days_ago("lapsed", 0, 9_000));
    h.sync_profile(chain, "marker-2").await;
    let after = prediction(&mut h, chain, "lapsed").await;
    assert!(after.p_alive > 0.5, "{after:?}");
    assert!(after.expected_visits_30d > before.expected_visits_30d);
    assert!(!h.members(chain, &churn).await.contains(&"lapsed".into()));
    assert!(
        !h.members(chain, &lapsing.tag_id)
            .await
            .contains(&"lapsed".into())
    );
    let mut updated = None;
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(10), stream.next()).await
    {
        if let Some(Payload::PredictionUpdated(p)) = event.payload
            && p.customer_id == "lapsed"
        {
            updated = Some(p);
            break;
        }
    }
    let updated = updated.expect("PredictionUpdated for the visit");
    assert_eq!(updated.p_alive, after.p_alive);
}
on_both_backends!(refit_scores_and_tags);

async fn too_little_history_is_refused(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    for i in 0..5 {
        let id = format!("few{i}");
        h.profile.push(chain, created(&id));
        h.profile.push(chain, visit_days_ago(&id, 20, 10_000));
        h.profile.push(chain, visit_days_ago(&id, 3, 10_000));
    }
    h.sync_profile(chain, "marker").await;
    let status = h
        .client
        .refit_models(admin(chain, RefitModelsRequest::default()))
        .await
        .expect_err("too little history");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("at least 50"), "{status:?}");
    assert_eq!(model_tag_id(&mut h, chain, "churn_risk").await, None);
    let report = h
        .client
        .get_model_report(admin(chain, GetModelReportRequest {}))
        .await
        .expect_err("no report");
    assert_eq!(report.code(), tonic::Code::NotFound);
    let score = h
        .client
        .get_customer_prediction(admin(
            chain,
            GetCustomerPredictionRequest {
                customer_id: "few0".into(),
            },
        ))
        .await
        .expect_err("no prediction");
    assert_eq!(score.code(), tonic::Code::FailedPrecondition);
}
on_both_backends!(too_little_history_is_refused);

/// Refits `chain` under `request_id` and waits for the job to succeed; the job's id.
async fn refit(h: &mut Harness, chain: &str, request_id: &str) -> String {
    let job = h
        .client
        .refit_models(admin(
            chain,
            RefitModelsRequest {
                request_id: request_id.into(),
            },
        ))
        .await
        .expect("refit")
        .into_inner()
        .progress
        .expect("job");
    let done = h.wait_job(chain, &job.job_id).await;
    assert_eq!(done.state, 3, "{done:?}");
    job.job_id
}

async fn threshold(h: &mut Harness, chain: &str) -> f64 {
    h.client
        .get_model_report(admin(chain, GetModelReportRequest {}))
        .await
        .expect("report")
        .into_inner()
        .report
        .and_then(|r| r.settings)
        .expect("settings")
        .churn_threshold
}

fn settings(churn_threshold: f64) -> UpdateModelSettingsRequest {
    UpdateModelSettingsRequest {
        settings: Some(ModelSettings { churn_threshold }),
    }
}

async fn churn_threshold_is_the_chains_setting(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    push_synthetic_chain(&h, chain);
    h.sync_profile(chain, "marker-1").await;
    refit(&mut h, chain, "refit-1").await;
    assert_eq!(threshold(&mut h, chain).await, 0.3, "seed 002's default");
    let churn = model_tag_id(&mut h, chain, "churn_risk")
        .await
        .expect("churn_risk tag");
    let at_default = h.members(chain, &churn).await.len();

    // Out of range, missing, or not the admin's to set: refused, nothing changes.
    for bad in [0.0, 1.0, -0.2, 1.5, f64::NAN] {
        let refused = h
            .client
            .update_model_settings(admin(chain, settings(bad)))
            .await
            .expect_err("out of range");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{bad}");
        assert_eq!(
            field_of(&refused).as_deref(),
            Some("settings.churn_threshold")
        );
    }
    let missing = h
        .client
        .update_model_settings(admin(chain, UpdateModelSettingsRequest::default()))
        .await
        .expect_err("no settings");
    assert_eq!(field_of(&missing).as_deref(), Some("settings"));
    let denied = h
        .client
        .update_model_settings(req(chain, Role::CustomerManager, settings(0.5)))
        .await
        .expect_err("not an admin");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    // Another chain's setting is its own.
    h.client
        .update_model_settings(admin("chain-2", settings(0.9)))
        .await
        .expect("chain-2 sets its own");
    assert_eq!(threshold(&mut h, chain).await, 0.3);

    let set = h
        .client
        .update_model_settings(admin(chain, settings(0.95)))
        .await
        .expect("update")
        .into_inner()
        .settings
        .expect("settings");
    assert_eq!(set.churn_threshold, 0.95);
    // The next refit scores with it, and keeps it.
    refit(&mut h, chain, "refit-2").await;
    assert_eq!(threshold(&mut h, chain).await, 0.95);
    let at_095 = h.members(chain, &churn).await.len();
    assert!(
        at_095 > at_default,
        "a higher threshold marks more guests at risk: {at_095} vs {at_default}"
    );
}
on_both_backends!(churn_threshold_is_the_chains_setting);

/// A refit that read the settings before an update writes its model afterwards: the update
/// stands (the refit's model write leaves the settings alone).
async fn a_refit_keeps_a_setting_made_while_it_ran(backend: Backend) {
    use maitre_tagging::storage::{
        Migrator,
        models::{ModelRow, load_model, save_model, save_settings},
    };
    let storage = maitre_kit::testing::TestConfig::new(
        maitre_kit::config::ServiceName::Tagging,
        backend,
        &[],
    );
    let config = &storage.config;
    let db = maitre_kit::db::connect_and_migrate::<Migrator>(
        &config.database_url,
        &config.database_schema,
    )
    .await
    .expect("database");
    let read_by_refit = load_model(&db, "chain-1")
        .await
        .expect("load")
        .unwrap_or_default();
    save_settings(&db, "chain-1", 0.6).await.expect("settings");
    let fitted = ModelRow {
        customers: 120,
        ..read_by_refit
    };
    save_model(&db, "chain-1", &fitted).await.expect("model");
    let stored = load_model(&db, "chain-1")
        .await
        .expect("load")
        .expect("row");
    assert_eq!(stored.customers, 120, "the refit's model is written");
    assert_eq!(
        stored.churn_threshold, 0.6,
        "the setting made meanwhile stands"
    );
}
on_both_backends!(a_refit_keeps_a_setting_made_while_it_ran);
