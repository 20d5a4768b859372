//! Loading what the analysis RPCs compute over (seed 002 §4): per-guest activity in a
//! window, dish and category preferences over the last 180 days with expected covers, the
//! guests who like an ingredient (kept as a model tag so the answer is a segment ready to
//! target) and per-dish new-dish acceptance. The figures themselves are
//! [`crate::domain::analysis`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{apply::apply_changes, zones::chain_today};
use crate::domain::membership::Change;
use crate::{
    domain::{
        analysis::{
            Demand, FALLBACK_PRIOR, PREFERENCE_WINDOW_DAYS, Preference, Send, WindowActivity,
            demand, preferences, response_observation,
        },
        model::{BetaPrior, PriorFitOptions, RateObservation, beta_binomial},
        predict::FORECAST_DAYS,
        rule::EpochDay,
    },
    error::Result,
    state::Deps,
    storage::{
        begin_write,
        campaigns::sends_since,
        catalog::{LIFECYCLE_ACTIVE, SOURCE_MODEL, TagRow, all_tags, insert_tag},
        membership::members_of_tag,
        menu::{DishRow, LineRow, all_dishes, lines_since, visit_days_since},
        predictions::all_predictions,
    },
};

/// Per-guest activity in the last `window_days` (by customer id) and the chain's spend.
pub async fn window_activity(
    deps: &Deps,
    chain_id: &str,
    window_days: i32,
    now: DateTime<Utc>,
) -> Result<(HashMap<String, WindowActivity>, i64)> {
    // The chain's latest local day over its stores (not a fixed Shanghai calendar).
    let from = chain_today(&deps.runtime.db, chain_id, now).await? - window_days + 1;
    let mut activity: HashMap<String, WindowActivity> = HashMap::new();
    let mut days: HashMap<String, Vec<EpochDay>> = HashMap::new();
    let mut chain_spend = 0i64;
    for (customer, _, day, spend) in visit_days_since(&deps.runtime.db, chain_id, from).await? {
        let a = activity.entry(customer.clone()).or_default();
        a.visit_days += 1;
        a.spend_fen = a.spend_fen.saturating_add(spend);
        chain_spend = chain_spend.saturating_add(spend);
        days.entry(customer).or_default().push(day);
    }
    let mut sends: HashMap<String, Vec<Send>> = HashMap::new();
    for s in sends_since(&deps.runtime.db, chain_id, from).await? {
        sends.entry(s.customer_id).or_default().push(Send {
            sent_day: s.sent_day,
            responded: s.responded,
        });
    }
    for (customer, sends) in sends {
        let visit_days = days.get(&customer).map_or(&[][..], Vec::as_slice);
        let obs = response_observation(&sends, visit_days, deps.response_window_days);
        let a = activity.entry(customer).or_default();
        a.sends = obs.trials;
        a.responses = obs.successes;
    }
    Ok((activity, chain_spend))
}

/// Dish lines of the preference window, optionally of one store.
async fn recent_lines(
    deps: &Deps,
    chain_id: &str,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<LineRow>> {
    let from = chain_today(&deps.runtime.db, chain_id, now).await? - PREFERENCE_WINDOW_DAYS + 1;
    Ok(lines_since(&deps.runtime.db, chain_id, from)
        .await?
        .into_iter()
        .filter(|l| store_id.is_empty() || l.store_id == store_id)
        .collect())
}

/// Demand per dish and per category over `horizon_days`, with the menu.
pub async fn dish_demand(
    deps: &Deps,
    chain_id: &str,
    horizon_days: i32,
    store_id: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<(Demand, Option<DishRow>)>, Vec<Demand>)> {
    let lines = recent_lines(deps, chain_id, store_id, now).await?;
    // Expected visits in the horizon from the stored 30-day figure, as the rule fact
    // `expected_visits(Nd)` reads it (per-day rate × N).
    let expected: HashMap<String, f64> = all_predictions(&deps.runtime.db, chain_id)
        .await?
        .into_iter()
        .map(|p| {
            let visits = p.expected_visits_30d / FORECAST_DAYS * f64::from(horizon_days);
            (p.customer_id, visits)
        })
        .collect();
    let visits_of = |c: &str| expected.get(c).copied().unwrap_or(0.0);
    let dish_prefs = preferences(
        lines
            .iter()
            .map(|l| (l.customer_id.as_str(), l.dish_id.as_str())),
    );
    let category_prefs = preferences(
        lines
            .iter()
            .map(|l| (l.customer_id.as_str(), l.category.as_str())),
    );
    let menu: HashMap<String, DishRow> = all_dishes(&deps.runtime.db, chain_id)
        .await?
        .into_iter()
        .map(|d| (d.dish_id.clone(), d))
        .collect();
    let dishes = demand(&dish_prefs, visits_of)
        .into_iter()
        .map(|d| {
            let dish = menu.get(&d.key).cloned();
            (d, dish)
        })
        .collect();
    Ok((dishes, demand(&category_prefs, visits_of)))
}

/// The tag name of an ingredient's audience: `likes_ingredient_` and the ingredient in
/// lower-case ASCII letters and digits, other characters as `u<hex code point>`.
pub fn ingredient_tag_name(ingredient: &str) -> String {
    let mut name = String::from("likes_ingredient_");
    for c in ingredient.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if c == ' ' || c == '-' || c == '_' {
            name.push('_');
        } else {
            name.push_str(&format!("u{:x}", u32::from(c)));
        }
    }
    name
}

/// The guests who like dishes using `ingredient` (those dishes are at least the
/// preference share of their recent lines), kept as the members of the ingredient's
/// audience tag. Returns the tag, the dishes and the member count; `None` when no dish of
/// the menu uses the ingredient.
pub async fn ingredient_audience(
    deps: &Deps,
    chain_id: &str,
    ingredient: &str,
    now: DateTime<Utc>,
) -> Result<Option<(TagRow, Vec<String>, i64)>> {
    let wanted = ingredient.trim().to_lowercase();
    let dishes: Vec<String> = all_dishes(&deps.runtime.db, chain_id)
        .await?
        .into_iter()
        .filter(|d| d.ingredients.iter().any(|i| i.to_lowercase() == wanted))
        .map(|d| d.dish_id)
        .collect();
    if dishes.is_empty() {
        return Ok(None);
    }
    let using: HashSet<&str> = dishes.iter().map(String::as_str).collect();
    let lines = recent_lines(deps, chain_id, "", now).await?;
    let prefs: Vec<Preference> = preferences(lines.iter().map(|l| {
        let liked = if using.contains(l.dish_id.as_str()) {
            "yes"
        } else {
            ""
        };
        (l.customer_id.as_str(), liked)
    }));
    let audience: HashSet<&str> = prefs.iter().map(|p| p.customer_id.as_str()).collect();
    let name = ingredient_tag_name(ingredient);
    let model = format!("ingredient:{}", ingredient.trim());
    let now_us = now.timestamp_micros();
    let db = &deps.runtime.db;
    let txn = begin_write(db).await?;
    let tags = all_tags(&txn, chain_id).await?;
    let tag = match tags.into_iter().find(|t| t.name == name) {
        Some(tag) => tag,
        None => {
            let tag = TagRow {
                chain_id: chain_id.to_owned(),
                tag_id: uuid::Uuid::now_v7().to_string(),
                name: name.clone(),
                display_name: format!("喜欢含{}的菜", ingredient.trim()),
                category: 2,
                source: SOURCE_MODEL,
                lifecycle: LIFECYCLE_ACTIVE,
                description: format!(
                    "Guests for whom dishes using {} are at least 30% of their dish lines in the last 180 days",
                    ingredient.trim()
                ),
                owner: "analysis".into(),
                rule: String::new(),
                rule_version: 0,
                rule_refs: Vec::new(),
                time_dependent: false,
                model: model.clone(),
                created_at_us: now_us,
                updated_at_us: now_us,
            };
            insert_tag(&txn, &tag).await?;
            tag
        }
    };
    let current: HashMap<String, u32> = members_of_tag(&txn, chain_id, &tag.tag_id)
        .await?
        .into_iter()
        .map(|m| (m.customer_id, m.number))
        .collect();
    let shared = deps.bitmaps.fresh(&txn, chain_id).await?;
    let numbers: HashMap<String, u32> = {
        let bitmaps = shared.read().map_err(|_| {
            crate::error::TaggingError::precondition("ingredient", "bitmap cache unavailable")
        })?;
        audience
            .iter()
            .filter_map(|c| Some(((*c).to_owned(), bitmaps.number(c)?)))
            .collect()
    };
    let change = |customer_id: &str, number: u32, added: bool| Change {
        tag_id: tag.tag_id.clone(),
        tag_name: tag.name.clone(),
        customer_id: customer_id.to_owned(),
        number,
        added,
        source: SOURCE_MODEL,
        rule_version: 0,
        actor: format!("model:{model}"),
        reason: if added {
            "likes dishes using the ingredient".into()
        } else {
            "no longer likes dishes using the ingredient".into()
        },
    };
    let mut changes: Vec<Change> = numbers
        .iter()
        .filter(|(c, _)| !current.contains_key(*c))
        .map(|(c, n)| change(c, *n, true))
        .collect();
    changes.extend(
        current
            .iter()
            .filter(|(c, _)| !numbers.contains_key(*c))
            .map(|(c, n)| change(c, *n, false)),
    );
    let applied = apply_changes(&txn, &deps.runtime.events, chain_id, changes, now_us).await?;
    txn.commit().await?;
    deps.runtime.events.committed();
    deps.bitmaps.apply(chain_id, &applied);
    Ok(Some((tag, dishes, numbers.len() as i64)))
}

/// One new dish's acceptance.
#[derive(Debug, Clone, PartialEq)]
pub struct DishAcceptance {
    pub dish: DishRow,
    pub launch_day: EpochDay,
    pub tried: i64,
    pub visited: i64,
    pub acceptance: f64,
}

/// Per launched dish: guests who visited within `window_days` of the launch, those of
/// them who ordered the dish in that window, and the smoothed share
/// `(tried + α)/(visited + α + β)`, the prior fitted across the chain's dishes, or
/// Beta(1, 1) when there are too few dishes to fit one.
pub async fn new_dish_acceptance(
    deps: &Deps,
    chain_id: &str,
    window_days: i32,
) -> Result<Vec<DishAcceptance>> {
    let db = &deps.runtime.db;
    let launched: Vec<(DishRow, EpochDay)> = all_dishes(db, chain_id)
        .await?
        .into_iter()
        .filter_map(|d| {
            let day = d.launch_day?;
            Some((d, day))
        })
        .collect();
    let Some(first) = launched.iter().map(|(_, d)| *d).min() else {
        return Ok(Vec::new());
    };
    let visits = visit_days_since(db, chain_id, first).await?;
    let lines = lines_since(db, chain_id, first).await?;
    let mut records = Vec::with_capacity(launched.len());
    for (dish, launch) in &launched {
        let end = launch.saturating_add(window_days);
        let in_window = |day: EpochDay| day >= *launch && day <= end;
        let visited: HashSet<&str> = visits
            .iter()
            .filter(|v| in_window(v.2))
            .map(|v| v.0.as_str())
            .collect();
        let tried = lines
            .iter()
            .filter(|l| l.dish_id == dish.dish_id && in_window(l.day))
            .map(|l| l.customer_id.as_str())
            .filter(|c| visited.contains(c))
            .collect::<HashSet<&str>>()
            .len();
        records.push(RateObservation {
            successes: u32::try_from(tried).unwrap_or(u32::MAX),
            trials: u32::try_from(visited.len()).unwrap_or(u32::MAX),
        });
    }
    let prior: BetaPrior = beta_binomial::fit(&records, &PriorFitOptions::default())
        .map(|f| f.prior)
        .unwrap_or(FALLBACK_PRIOR);
    let mut out = Vec::with_capacity(launched.len());
    for ((dish, launch), record) in launched.into_iter().zip(records) {
        let acceptance = prior
            .posterior_mean(&record)
            .unwrap_or_else(|_| FALLBACK_PRIOR.mean());
        out.push(DishAcceptance {
            dish,
            launch_day: launch,
            tried: i64::from(record.successes),
            visited: i64::from(record.trials),
            acceptance,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingredient_tag_names_are_identifiers() {
        assert_eq!(ingredient_tag_name(" Shrimp "), "likes_ingredient_shrimp");
        assert_eq!(ingredient_tag_name("虾"), "likes_ingredient_u867e");
        assert_eq!(
            ingredient_tag_name("king crab"),
            "likes_ingredient_king_crab"
        );
    }
}
