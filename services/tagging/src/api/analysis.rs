//! Analysis RPCs (seed 002 §4): CompareGroups (from the segment bitmaps and the visit and
//! campaign facts), GetDishDemand (库存联动), GetIngredientAudience (a segment of guests who
//! like dishes using an ingredient) and GetNewDishAcceptance (对新品接受度).

use std::sync::Arc;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::{common::v1::Date, tagging::v1::*};
use tonic::{Request, Response};

use super::{convert::AUDIENCE_READERS, segments::segment_members_for};
use crate::{
    app::analysis::{dish_demand, ingredient_audience, new_dish_acceptance, window_activity},
    domain::{
        analysis::{Demand, group_figures},
        rule::date_of,
    },
    error::{Result, TaggingError},
    state::Deps,
};

const DEFAULT_WINDOW_DAYS: i32 = 90;
const DEFAULT_HORIZON_DAYS: i32 = 7;
const DEFAULT_ACCEPTANCE_WINDOW_DAYS: i32 = 30;
const MAX_DAYS: i32 = 3650;
const MAX_GROUPS: usize = 20;
const MAX_INGREDIENT_CHARS: usize = 100;

/// `value`, or `default` when 0; INVALID_ARGUMENT naming `field` outside 1..=`MAX_DAYS`.
fn days_or_default(value: i32, default: i32, field: &str) -> Result<i32> {
    match value {
        0 => Ok(default),
        1..=MAX_DAYS => Ok(value),
        _ => Err(TaggingError::invalid(
            field,
            format!("must be between 1 and {MAX_DAYS} days"),
        )),
    }
}

fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

pub async fn compare_groups(
    deps: &Arc<Deps>,
    request: Request<CompareGroupsRequest>,
) -> Result<Response<CompareGroupsResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let r = request.into_inner();
    if r.groups.len() < 2 || r.groups.len() > MAX_GROUPS {
        return Err(TaggingError::invalid(
            "groups",
            format!("name 2 to {MAX_GROUPS} groups"),
        ));
    }
    let window_days = days_or_default(r.window_days, DEFAULT_WINDOW_DAYS, "window_days")?;
    let (activity, chain_spend) = window_activity(deps, chain, window_days, Utc::now()).await?;
    let mut out = Vec::with_capacity(r.groups.len());
    for group in r.groups {
        let (members, shared) =
            segment_members_for(deps, chain, &caller, Some(group.clone())).await?;
        let figures = {
            let bitmaps = shared
                .read()
                .map_err(|_| TaggingError::precondition("groups", "bitmap cache unavailable"))?;
            group_figures(
                members
                    .iter()
                    .map(|n| bitmaps.customer_id(n).and_then(|id| activity.get(id))),
                window_days,
                chain_spend,
            )
        };
        out.push(GroupFigures {
            group: Some(group),
            size: figures.size,
            visits_per_month: finite_or_zero(figures.visits_per_month),
            average_ticket_fen: figures.average_ticket_fen,
            spend_share: finite_or_zero(figures.spend_share),
            response_rate: finite_or_zero(figures.response_rate),
        });
    }
    Ok(Response::new(CompareGroupsResponse { groups: out }))
}

fn demand_message(d: &Demand, dish_id: &str, name: &str, category: &str) -> DishDemand {
    DishDemand {
        dish_id: dish_id.to_owned(),
        name: name.to_owned(),
        category: category.to_owned(),
        customers: d.customers,
        expected_covers: finite_or_zero(d.expected_covers),
    }
}

pub async fn get_dish_demand(
    deps: &Arc<Deps>,
    request: Request<GetDishDemandRequest>,
) -> Result<Response<GetDishDemandResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let horizon = days_or_default(r.horizon_days, DEFAULT_HORIZON_DAYS, "horizon_days")?;
    if !r.store_id.is_empty() {
        caller.require_store(&r.store_id)?;
    }
    let (dishes, categories) = dish_demand(deps, chain, horizon, &r.store_id, Utc::now()).await?;
    Ok(Response::new(GetDishDemandResponse {
        dishes: dishes
            .iter()
            .map(|(d, dish)| match dish {
                Some(dish) => demand_message(d, &dish.dish_id, &dish.name, &dish.category),
                None => demand_message(d, &d.key, "", ""),
            })
            .collect(),
        categories: categories
            .iter()
            .map(|d| demand_message(d, "", &d.key, &d.key))
            .collect(),
    }))
}

pub async fn get_ingredient_audience(
    deps: &Arc<Deps>,
    request: Request<GetIngredientAudienceRequest>,
) -> Result<Response<GetIngredientAudienceResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let ingredient = request.get_ref().ingredient.trim();
    if ingredient.is_empty() || ingredient.chars().count() > MAX_INGREDIENT_CHARS {
        return Err(TaggingError::invalid(
            "ingredient",
            format!("1 to {MAX_INGREDIENT_CHARS} characters"),
        ));
    }
    let (tag, dish_ids, count) = ingredient_audience(deps, chain, ingredient, Utc::now())
        .await?
        .ok_or_else(|| TaggingError::not_found("ingredient", ingredient))?;
    Ok(Response::new(GetIngredientAudienceResponse {
        expression: tag.name,
        count,
        dish_ids,
    }))
}

pub async fn get_new_dish_acceptance(
    deps: &Arc<Deps>,
    request: Request<GetNewDishAcceptanceRequest>,
) -> Result<Response<GetNewDishAcceptanceResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let window = days_or_default(
        request.get_ref().window_days,
        DEFAULT_ACCEPTANCE_WINDOW_DAYS,
        "window_days",
    )?;
    let dishes = new_dish_acceptance(deps, chain, window).await?;
    Ok(Response::new(GetNewDishAcceptanceResponse {
        dishes: dishes
            .into_iter()
            .map(|d| {
                use chrono::Datelike;
                let date = date_of(d.launch_day);
                NewDishAcceptance {
                    dish_id: d.dish.dish_id,
                    name: d.dish.name,
                    launch_date: date.map(|date| Date {
                        year: date.year(),
                        month: date.month() as i32,
                        day: date.day() as i32,
                    }),
                    tried: d.tried,
                    visited: d.visited,
                    acceptance: finite_or_zero(d.acceptance),
                }
            })
            .collect(),
    }))
}
