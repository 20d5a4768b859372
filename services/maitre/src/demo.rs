//! `maitre demo`: loads a sample chain through the gateway's public REST API, as the apps
//! would — 3 stores, 12 managers, 5,000 guests, a year of visits with realistic patterns
//! (a few regulars, many occasional guests, some who drift away; weekends busier; dessert
//! and seafood lovers), the chain's policies, rule tags and automation presets — so a
//! newcomer sees assignments, locks, A/B/C classes, tags, churn risk and automations.
//!
//! Every step reports what it did; a step a service does not support yet (HTTP 501) is
//! reported and skipped, so the demo shows exactly what works.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Datelike, Duration as Days, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// Demo size.
const STORES: usize = 3;
const MANAGERS_PER_STORE: usize = 4;
const GUESTS: usize = 5_000;
/// Events per batch import request (the gateway accepts bodies up to 1 MiB).
const BATCH: usize = 500;
/// Requests in flight at once.
const PARALLEL: usize = 8;

const SURNAMES: &[&str] = &[
    "李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
];
const MANAGER_NAMES: &[&str] = &[
    "王经理",
    "张经理",
    "李经理",
    "赵经理",
    "陈经理",
    "刘经理",
    "杨经理",
    "黄经理",
    "周经理",
    "吴经理",
    "徐经理",
    "孙经理",
];
/// (dish, category, price in fen, ingredients)
const MENU: &[(&str, &str, i64, &[&str])] = &[
    ("清蒸石斑鱼", "seafood", 18_800, &["grouper", "ginger"]),
    (
        "椒盐濑尿虾",
        "seafood",
        12_800,
        &["mantis shrimp", "pepper salt"],
    ),
    (
        "蒜蓉粉丝蒸扇贝",
        "seafood",
        6_800,
        &["scallop", "garlic", "vermicelli"],
    ),
    ("白切鸡", "poultry", 7_800, &["chicken", "ginger"]),
    ("烧鹅", "poultry", 9_800, &["goose"]),
    ("麻婆豆腐", "spicy", 3_800, &["tofu", "chili"]),
    ("水煮牛肉", "spicy", 8_800, &["beef", "chili"]),
    ("清炒时蔬", "vegetable", 2_800, &["greens"]),
    ("杨枝甘露", "dessert", 2_800, &["mango", "pomelo"]),
    ("双皮奶", "dessert", 2_200, &["milk"]),
    ("芒果班戟", "dessert", 3_200, &["mango", "cream"]),
    ("扬州炒饭", "staple", 3_800, &["rice", "shrimp", "egg"]),
];

/// A client of the gateway's REST API.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Result<Value, String>> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(Ok(serde_json::from_str(&text).unwrap_or(Value::Null)))
        } else {
            Ok(Err(format!("{status}: {text}")))
        }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Result<Value, String>> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Tallies one step's outcomes.
#[derive(Default)]
struct Step {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
}

impl Step {
    fn record(&mut self, outcome: &Result<Value, String>) {
        match outcome {
            Ok(_) => self.ok += 1,
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert_with(|| e.clone());
            }
        }
    }

    fn report(&self, what: &str) {
        match &self.first_error {
            None => println!("  ✓ {what}: {}", self.ok),
            Some(e) => println!(
                "  ✗ {what}: {} ok, {} failed — first error: {}",
                self.ok,
                self.failed,
                truncate(e)
            ),
        }
    }
}

/// Prints a step's progress while it runs: a line at most every [`PROGRESS_EVERY`], so a
/// long step (thousands of guests, a year of visits) shows it is moving.
struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    last: std::time::Instant,
    started: std::time::Instant,
}

/// How often a running step prints its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    fn new(what: &'static str, total: usize) -> Self {
        let now = std::time::Instant::now();
        Self {
            what,
            total,
            done: 0,
            last: now,
            started: now,
        }
    }

    fn advance(&mut self, by: usize) {
        self.done += by;
        if self.last.elapsed() >= PROGRESS_EVERY && self.done < self.total {
            self.last = std::time::Instant::now();
            println!(
                "    … {}: {} of {} ({:.0} s)",
                self.what,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A guest's behaviour over the year.
struct Guest {
    phone: String,
    name: String,
    home_store: usize,
    /// Visits per 30 days while active.
    rate: f64,
    /// Day (0..365) after which the guest stops coming, if they drift away.
    drops_out_after: Option<i64>,
    favourite: &'static str,
    booked_with: Option<usize>,
    birthday: (u32, u32),
}

pub async fn run(gateway: &str, token: &str, seed: u64) -> anyhow::Result<()> {
    let api = Api {
        http: maitre_kit::http::client_builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        base: gateway.trim_end_matches('/').into(),
        token: token.into(),
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let now = Utc::now();
    println!("Loading the demo chain into {gateway} …");

    let mut step = Step::default();
    let mut stores = Vec::new();
    for i in 0..STORES {
        let outcome = api
            .post("/v1/stores", json!({"store": {"name": format!("海港酒家 {}号店", i + 1), "timeZone": "Asia/Shanghai", "code": format!("S{}", i + 1)}, "requestId": format!("demo-store-{i}")}))
            .await?;
        step.record(&outcome);
        if let Ok(v) = outcome {
            stores.push(
                v["store"]["storeId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    step.report("stores");
    if stores.len() < STORES {
        anyhow::bail!("cannot continue without stores");
    }

    let mut step = Step::default();
    let managers: Vec<(String, usize)> = (0..STORES * MANAGERS_PER_STORE)
        .map(|i| (format!("m{:02}", i + 1), i / MANAGERS_PER_STORE))
        .collect();
    for (i, (id, store)) in managers.iter().enumerate() {
        let body = json!({"manager": {"managerId": id, "name": MANAGER_NAMES[i % MANAGER_NAMES.len()], "storeIds": [stores[*store]], "capacity": "600", "status": "MANAGER_STATUS_ON_DUTY"}, "requestId": format!("demo-manager-{id}")});
        step.record(
            &api.call(
                reqwest::Method::PUT,
                &format!("/v1/managers/{id}"),
                Some(body),
            )
            .await?,
        );
    }
    step.report("managers");

    let mut step = Step::default();
    step.record(&api.call(reqwest::Method::PATCH, "/v1/assignment-policy", Some(json!({
        "policy": {"valueLockThresholdFen": "500000", "valueWindowDays": 365, "lockExpiryDays": 365, "strategy": "STRATEGY_DAILY_EVEN_SPLIT", "lockCrossing": "LOCK_CROSSING_OWNER_BEFORE_CONTACT"},
        "updateMask": "valueLockThresholdFen,valueWindowDays,lockExpiryDays,strategy,lockCrossing"
    }))).await?);
    step.report("assignment policy (value lock at ¥5,000 over 365 days, daily even split)");

    let mut step = Step::default();
    let dishes: Vec<Value> = MENU
        .iter()
        .enumerate()
        .map(|(i, (name, category, price, ingredients))| {
            let launch = if *category == "dessert" && i == 10 { now - Days::days(45) } else { now - Days::days(400) };
            json!({"dishId": format!("d{:02}", i + 1), "name": name, "category": category, "ingredients": ingredients, "priceFen": price.to_string(), "active": true,
                   "launchDate": {"year": launch.year(), "month": launch.month(), "day": launch.day()}})
        })
        .collect();
    step.record(
        &api.post("/v1/dishes:import", json!({"dishes": dishes}))
            .await?,
    );
    step.report("menu");

    let guests: Vec<Guest> = (0..GUESTS)
        .map(|i| guest(&mut rng, i, managers.len()))
        .collect();
    let bodies: Vec<Value> = guests
        .iter()
        .map(|g| json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": g.phone}], "storeId": stores[g.home_store],
                        "profile": {"name": g.name, "birthday": {"month": g.birthday.0, "day": g.birthday.1}}, "requestId": format!("demo-guest-{}", g.phone)}))
        .collect();
    post_all(&api, "/v1/customers", bodies, "guests")
        .await?
        .report("guests");

    // A year of history in batches; the last 30 days one by one so assignment decides owners.
    type Dated = Vec<(DateTime<Utc>, Value)>;
    let (history, recent): (Dated, Dated) = {
        let mut all = Vec::new();
        for g in &guests {
            all.extend(visits(&mut rng, g, &stores, &managers, now));
        }
        all.into_iter()
            .partition(|(at, _)| *at < now - Days::days(30))
    };
    let history: Vec<Value> = history.into_iter().map(|(_, e)| e).collect();
    let mut step = Step::default();
    let mut progress = Progress::new("visits imported", history.len());
    for chunk in history.chunks(BATCH) {
        step.record(
            &api.post("/v1/events:batch", json!({"events": chunk}))
                .await?,
        );
        progress.advance(chunk.len());
    }
    step.report(&format!(
        "history import ({} visits in batches)",
        history.len()
    ));
    let mut step = Step::default();
    let mut recent = recent;
    recent.sort_by_key(|(at, _)| *at);
    let mut progress = Progress::new("recent contacts recorded", recent.len());
    for (_, event) in &recent {
        step.record(&api.post("/v1/events", json!({"event": event})).await?);
        progress.advance(1);
    }
    step.report(&format!(
        "recent contacts ({} visits and bookings, owners decided)",
        recent.len()
    ));

    let mut step = Step::default();
    for (name, display, rule) in [
        (
            "likes_dessert",
            "喜欢甜点",
            r#"dish_share("dessert", 180d) >= 0.2"#,
        ),
        (
            "likes_seafood",
            "海鲜爱好者",
            r#"dish_share("seafood", 180d) >= 0.3"#,
        ),
        (
            "high_value_regular",
            "高价值常客",
            "visits(30d) > 5 and avg_ticket(30d) > 150",
        ),
        (
            "lapsed_60d",
            "超过60天未消费",
            "days_since_last_visit >= 60",
        ),
    ] {
        let created = api
            .post("/v1/tags", json!({"tag": {"name": name, "displayName": display, "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_RULE", "rule": rule}, "requestId": format!("demo-tag-{name}")}))
            .await?;
        step.record(&created);
        if let Ok(tag) = created {
            let id = tag["tag"]["tagId"].as_str().unwrap_or_default();
            step.record(
                &api.post(
                    &format!("/v1/tags/{id}:transition"),
                    json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
                )
                .await?,
            );
        }
    }
    step.report("rule tags (created and activated)");

    let mut step = Step::default();
    let presets = api
        .call(reqwest::Method::GET, "/v1/automation-presets", None)
        .await?;
    step.record(&presets);
    let keys: Vec<String> = presets
        .map(|p| {
            p["presets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["preset"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for preset in keys {
        step.record(
            &api.post(
                &format!("/v1/automation-presets/{preset}:install"),
                json!({"enable": true, "coupon": "DEMO2026"}),
            )
            .await?,
        );
    }
    step.report("automation presets");

    // The refit fits what tagging has applied: wait until every service has consumed
    // everything the steps above caused, showing the lag as it falls.
    caught_up(&api).await?;

    let mut step = Step::default();
    let mut refit = Err(String::new());
    // A refit refuses (503, naming the lag) while tagging is behind profile; once more after
    // a pause if an event arrived since the wait above.
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        refit = api
            .post(
                "/v1/models:refit",
                json!({"requestId": format!("demo-refit-{seed}-{attempt}")}),
            )
            .await?;
        if !refit.as_ref().is_err_and(|e| e.starts_with("503")) {
            break;
        }
    }
    step.record(&refit);
    step.report("churn model refit started");
    let fitted = model_fitted(&api).await?;
    if fitted {
        println!("  ✓ churn model fitted on the whole history");
    } else {
        println!("  ✗ churn model not fitted within {MODEL_WAIT:?} (see GET /v1/models/report)");
    }
    step_summary(&api).await
}

/// How long the demo waits for the services to consume what it loaded.
const CATCH_UP_WAIT: Duration = Duration::from_secs(900);
/// How long the demo waits for the refit to report.
const MODEL_WAIT: Duration = Duration::from_secs(300);

/// A proto3 JSON uint64 (a string; absent when 0).
fn count(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// Waits until `GET /v1/consumers` says every consumer of every service has caught up,
/// printing the events still pending (and the slowest consumer) as they fall.
async fn caught_up(api: &Api) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut last_print: Option<std::time::Instant> = None;
    loop {
        let answer = api
            .call(reqwest::Method::GET, "/v1/consumers", None)
            .await?;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                println!(
                    "  ✗ consumer lag unavailable ({}); not waiting",
                    truncate(&e)
                );
                return Ok(());
            }
        };
        let consumers = answer["consumers"].as_array().cloned().unwrap_or_default();
        let pending: u64 = consumers.iter().map(|c| count(&c["pendingEvents"])).sum();
        if answer["caughtUp"] == true {
            println!(
                "  ✓ every service caught up ({} consumers, {:.0} s)",
                consumers.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > CATCH_UP_WAIT {
            println!(
                "  ✗ services still catching up after {CATCH_UP_WAIT:?}: {pending} events pending"
            );
            return Ok(());
        }
        if last_print.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            last_print = Some(std::time::Instant::now());
            let slowest = consumers
                .iter()
                .max_by_key(|c| count(&c["pendingEvents"]))
                .and_then(|c| c["consumer"].as_str())
                .unwrap_or("?");
            println!(
                "    … services catching up: {pending} events pending (most behind: {slowest}; {:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until `GET /v1/models/report` answers (the refit finished); whether it did.
async fn model_fitted(api: &Api) -> anyhow::Result<bool> {
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    while started.elapsed() < MODEL_WAIT {
        if api
            .call(reqwest::Method::GET, "/v1/models/report", None)
            .await?
            .is_ok()
        {
            return Ok(true);
        }
        if last_print.elapsed() >= PROGRESS_EVERY {
            last_print = std::time::Instant::now();
            println!("    … refitting ({:.0} s)", started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(false)
}

/// Posts every body to `path`, `PARALLEL` at a time, showing progress as `what`.
async fn post_all(
    api: &Api,
    path: &str,
    bodies: Vec<Value>,
    what: &'static str,
) -> anyhow::Result<Step> {
    use futures::StreamExt;
    let mut progress = Progress::new(what, bodies.len());
    let mut outcomes = futures::stream::iter(bodies.into_iter().map(|body| api.post(path, body)))
        .buffer_unordered(PARALLEL);
    let mut step = Step::default();
    while let Some(outcome) = outcomes.next().await {
        step.record(&outcome?);
        progress.advance(1);
    }
    Ok(step)
}

/// Prints what a newcomer can look at next.
async fn step_summary(api: &Api) -> anyhow::Result<()> {
    println!("\nTry next (with the same token):");
    for path in [
        "/v1/managers",
        "/v1/unassigned",
        "/v1/tags",
        "/v1/classification-policy",
        "/v1/automations",
        "/v1/models/report",
    ] {
        let outcome = api.call(reqwest::Method::GET, path, None).await?;
        let state = match outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => truncate(&e),
        };
        println!("  GET {path:<28} {state}");
    }
    Ok(())
}

fn guest(rng: &mut StdRng, i: usize, managers: usize) -> Guest {
    // Heterogeneous frequency (gamma-like): many occasional guests, a few regulars.
    let u: f64 = rng.random();
    let rate = if u < 0.05 {
        rng.random_range(4.0..8.0)
    } else if u < 0.25 {
        rng.random_range(1.0..3.0)
    } else {
        rng.random_range(0.1..0.8)
    };
    let drops_out_after = (rng.random::<f64>() < 0.3).then(|| rng.random_range(30..330));
    let favourite = ["dessert", "seafood", "spicy", "poultry", "vegetable"][rng.random_range(0..5)];
    let home_store = i % STORES;
    let booked_with = (rng.random::<f64>() < 0.5)
        .then(|| home_store * MANAGERS_PER_STORE + rng.random_range(0..MANAGERS_PER_STORE))
        .filter(|m| *m < managers);
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let title = if rng.random::<bool>() {
        "女士"
    } else {
        "先生"
    };
    Guest {
        phone: format!("+86139{:08}", 10_000_000 + i),
        name: format!("{surname}{title}"),
        home_store,
        rate,
        drops_out_after,
        favourite,
        booked_with,
        birthday: (rng.random_range(1..=12), rng.random_range(1..=28)),
    }
}

/// The guest's visits (and some bookings) over the last 365 days.
fn visits(
    rng: &mut StdRng,
    g: &Guest,
    stores: &[String],
    managers: &[(String, usize)],
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Value)> {
    let mut out = Vec::new();
    let mut day = rng.random_range(0..60) as i64;
    let mut n = 0;
    while day < 365 {
        if g.drops_out_after.is_some_and(|d| day > d) {
            break;
        }
        let at = now - Days::days(365 - day) + Days::hours(rng.random_range(11..21));
        // Weekends are busier: a weekday visit is kept with probability 0.7.
        let weekend = matches!(at.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        if weekend || rng.random::<f64>() < 0.7 {
            let party = rng.random_range(1..=8);
            let lines: Vec<Value> = (0..rng.random_range(2..=5))
                .map(|_| {
                    let pick = if rng.random::<f64>() < 0.5 { MENU.iter().filter(|d| d.1 == g.favourite).nth(rng.random_range(0..2)) } else { None };
                    let (name, category, price, _) = pick.copied().unwrap_or(MENU[rng.random_range(0..MENU.len())]);
                    json!({"dishName": name, "category": category, "quantity": 1, "amountFen": price.to_string()})
                })
                .collect();
            let amount: i64 = lines
                .iter()
                .map(|l| {
                    l["amountFen"]
                        .as_str()
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0)
                })
                .sum::<i64>()
                * (1 + party as i64 / 4);
            let manager = g
                .booked_with
                .map(|m| managers[m].0.clone())
                .unwrap_or_default();
            out.push((at, json!({
                "channel": "EVENT_CHANNEL_POS", "externalId": format!("pos-{}-{n}", g.phone), "kind": "CONTACT_KIND_VISIT",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": g.phone}], "storeId": stores[g.home_store],
                "managerId": manager, "amount": {"amountFen": amount.to_string(), "currency": "CNY"},
                "occurredAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "partySize": party, "lines": lines,
            })));
            n += 1;
        }
        // Exponential gaps between visits at the guest's rate (per 30 days).
        let gap = -(1.0 - rng.random::<f64>()).ln() * 30.0 / g.rate;
        day += gap.ceil().max(1.0) as i64;
    }
    out
}
