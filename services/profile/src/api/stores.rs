//! Stores: created and changed by HQ; store-scoped roles see only their stores.

use chrono::Utc;
use maitre_kit::{
    auth::{Caller, Role},
    idempotency,
};
use maitre_proto::{
    events::v1::{EventScope, StoreChanged, event::Payload},
    profile::v1::{self as pb},
};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::begin_write,
    convert::{required, timestamp_us},
    error::{Error, Result},
    storage::stores::{self, StoreRow},
};

/// Every store's default zone (the chains Maitre serves are in mainland China).
const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
const MAX_NAME_CHARS: usize = 100;

fn to_proto(s: &StoreRow) -> pb::Store {
    pb::Store {
        store_id: s.store_id.clone(),
        name: s.name.clone(),
        time_zone: s.time_zone.clone(),
        code: s.code.clone(),
        create_time: Some(timestamp_us(s.created_at_us)),
    }
}

fn check_zone(zone: &str) -> Result<String> {
    let zone = zone.trim();
    if zone.is_empty() {
        return Ok(DEFAULT_TIME_ZONE.into());
    }
    zone.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            Error::invalid(
                "store.time_zone",
                format!("`{zone}` is not an IANA time zone"),
            )
        })
}

fn check_name(name: &str) -> Result<String> {
    let name = required("store.name", name)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid("store.name", "longer than 100 characters"));
    }
    Ok(name.to_owned())
}

fn check_code(code: &str) -> Result<String> {
    let code = code.trim();
    if code.chars().count() > 64 {
        return Err(Error::invalid("store.code", "longer than 64 characters"));
    }
    Ok(code.to_owned())
}

async fn emit(
    api: &ProfileServiceApi,
    conn: &impl sea_orm::ConnectionTrait,
    chain: &str,
    s: &StoreRow,
) -> Result<()> {
    api.runtime
        .events
        .append(
            conn,
            chain,
            EventScope {
                store_id: s.store_id.clone(),
                ..EventScope::default()
            },
            Payload::StoreChanged(StoreChanged {
                store_id: s.store_id.clone(),
                time_zone: s.time_zone.clone(),
                name: s.name.clone(),
            }),
        )
        .await?;
    Ok(())
}

pub(super) async fn create(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::CreateStoreRequest,
) -> Result<pb::CreateStoreResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin])?;
    let store = r
        .store
        .ok_or_else(|| Error::invalid("store", "is required"))?;
    let row = StoreRow {
        store_id: if store.store_id.trim().is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            required("store.store_id", &store.store_id)?.to_owned()
        },
        name: check_name(&store.name)?,
        time_zone: check_zone(&store.time_zone)?,
        code: check_code(&store.code)?,
        created_at_us: Utc::now().timestamp_micros(),
    };
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) = idempotency::recall(&txn, chain, "CreateStore", &r.request_id).await? {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    if stores::get(&txn, chain, &row.store_id).await?.is_some() {
        return Err(Error::AlreadyExists {
            field: "store.store_id".into(),
            message: format!("store `{}` exists", row.store_id),
        });
    }
    stores::insert(&txn, chain, &row).await?;
    emit(api, &txn, chain, &row).await?;
    let response = pb::CreateStoreResponse {
        store: Some(to_proto(&row)),
    };
    idempotency::remember(&txn, chain, "CreateStore", &r.request_id, &response).await?;
    txn.commit().await?;
    api.runtime.events.committed();
    Ok(response)
}

pub(super) async fn get(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::GetStoreRequest,
) -> Result<pb::GetStoreResponse> {
    let chain = caller.chain()?;
    let id = required("store_id", &r.store_id)?;
    let row = stores::get(&api.runtime.db, chain, id)
        .await?
        .ok_or_else(|| Error::not_found("store", id))?;
    caller.require_store(id)?;
    Ok(pb::GetStoreResponse {
        store: Some(to_proto(&row)),
    })
}

pub(super) async fn list(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListStoresRequest,
) -> Result<pb::ListStoresResponse> {
    let chain = caller.chain()?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let scope = (!caller.role.is_chain_wide()).then_some(caller.stores.as_slice());
    let rows = stores::list(&api.runtime.db, chain, scope, offset, size).await?;
    Ok(pb::ListStoresResponse {
        next_page_token: next_page(offset, size, rows.len()),
        stores: rows.iter().map(to_proto).collect(),
    })
}

pub(super) async fn update(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpdateStoreRequest,
) -> Result<pb::UpdateStoreResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin])?;
    let store = r
        .store
        .ok_or_else(|| Error::invalid("store", "is required"))?;
    let id = required("store.store_id", &store.store_id)?;
    let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::invalid("update_mask", "is required"));
    }
    let txn = begin_write(&api.runtime.db).await?;
    let mut row = stores::get(&txn, chain, id)
        .await?
        .ok_or_else(|| Error::not_found("store", id))?;
    for path in &paths {
        match path.as_str() {
            "name" => row.name = check_name(&store.name)?,
            "time_zone" => row.time_zone = check_zone(&store.time_zone)?,
            "code" => row.code = check_code(&store.code)?,
            other => {
                return Err(Error::invalid(
                    "update_mask",
                    format!("unknown field path `{other}`"),
                ));
            }
        }
    }
    stores::update(&txn, chain, &row).await?;
    emit(api, &txn, chain, &row).await?;
    txn.commit().await?;
    // After the commit: a reader in between would keep the old zone otherwise.
    api.caches.forget_stores(chain);
    api.runtime.events.committed();
    Ok(pb::UpdateStoreResponse {
        store: Some(to_proto(&row)),
    })
}
