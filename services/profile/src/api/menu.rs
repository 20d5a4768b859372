//! The chain's menu: dishes created or replaced one by one or imported in bulk.

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_proto::{
    common::v1::Date,
    events::v1::{DishChanged, EventScope, event::Payload},
    profile::v1::{self as pb},
};
use sea_orm::ConnectionTrait;

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::begin_write,
    convert::required,
    error::{Error, Result},
    storage::menu::{self, DishRow},
};

const MAX_IMPORT: usize = 5_000;

fn check(field: &str, d: &pb::Dish) -> Result<DishRow> {
    let name = required(&format!("{field}.name"), &d.name)?;
    let category = required(&format!("{field}.category"), &d.category)?;
    if d.price_fen < 0 {
        return Err(Error::invalid(
            format!("{field}.price_fen"),
            "must not be negative",
        ));
    }
    let launch_date = match &d.launch_date {
        Some(date) => {
            let parsed = chrono::NaiveDate::from_ymd_opt(
                date.year,
                u32::try_from(date.month).unwrap_or(0),
                u32::try_from(date.day).unwrap_or(0),
            )
            .ok_or_else(|| Error::invalid(format!("{field}.launch_date"), "no such date"))?;
            parsed.format("%Y-%m-%d").to_string()
        }
        None => String::new(),
    };
    Ok(DishRow {
        dish_id: if d.dish_id.trim().is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            required(&format!("{field}.dish_id"), &d.dish_id)?.to_owned()
        },
        name: name.to_owned(),
        category: category.to_owned(),
        ingredients: d
            .ingredients
            .iter()
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty())
            .collect(),
        launch_date,
        price_fen: d.price_fen,
        active: d.active,
    })
}

fn to_proto(d: &DishRow) -> pb::Dish {
    let launch = chrono::NaiveDate::parse_from_str(&d.launch_date, "%Y-%m-%d").ok();
    pb::Dish {
        dish_id: d.dish_id.clone(),
        name: d.name.clone(),
        category: d.category.clone(),
        ingredients: d.ingredients.clone(),
        launch_date: launch.map(|l| {
            use chrono::Datelike;
            Date {
                year: l.year(),
                month: i32::try_from(l.month()).unwrap_or(0),
                day: i32::try_from(l.day()).unwrap_or(0),
            }
        }),
        price_fen: d.price_fen,
        active: d.active,
    }
}

async fn store(
    api: &ProfileServiceApi,
    conn: &impl ConnectionTrait,
    chain: &str,
    d: &DishRow,
) -> Result<()> {
    menu::upsert(conn, chain, d, Utc::now().timestamp_micros()).await?;
    api.runtime
        .events
        .append(
            conn,
            chain,
            EventScope::default(),
            Payload::DishChanged(DishChanged {
                dish_id: d.dish_id.clone(),
                name: d.name.clone(),
                category: d.category.clone(),
                ingredients: d.ingredients.clone(),
                launch_date: d.launch_date.clone(),
            }),
        )
        .await?;
    Ok(())
}

pub(super) async fn upsert(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpsertDishRequest,
) -> Result<pb::UpsertDishResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin, Role::Service])?;
    let dish = check(
        "dish",
        &r.dish
            .ok_or_else(|| Error::invalid("dish", "is required"))?,
    )?;
    let txn = begin_write(&api.runtime.db).await?;
    store(api, &txn, chain, &dish).await?;
    txn.commit().await?;
    api.caches.forget_menu(chain);
    api.runtime.events.committed();
    Ok(pb::UpsertDishResponse {
        dish: Some(to_proto(&dish)),
    })
}

pub(super) async fn import(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ImportDishesRequest,
) -> Result<pb::ImportDishesResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin, Role::Service])?;
    if r.dishes.len() > MAX_IMPORT {
        return Err(Error::invalid(
            "dishes",
            format!("at most {MAX_IMPORT} dishes per import"),
        ));
    }
    let dishes = r
        .dishes
        .iter()
        .enumerate()
        .map(|(i, d)| check(&format!("dishes[{i}]"), d))
        .collect::<Result<Vec<_>>>()?;
    let txn = begin_write(&api.runtime.db).await?;
    for dish in &dishes {
        store(api, &txn, chain, dish).await?;
    }
    txn.commit().await?;
    api.caches.forget_menu(chain);
    api.runtime.events.committed();
    Ok(pb::ImportDishesResponse {
        imported: i64::try_from(dishes.len()).unwrap_or(i64::MAX),
    })
}

pub(super) async fn list(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListDishesRequest,
) -> Result<pb::ListDishesResponse> {
    let chain = caller.chain()?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let category = Some(r.category.trim()).filter(|c| !c.is_empty());
    let rows = menu::list(&api.runtime.db, chain, category, offset, size).await?;
    Ok(pb::ListDishesResponse {
        next_page_token: next_page(offset, size, rows.len()),
        dishes: rows.iter().map(to_proto).collect(),
    })
}
