//! API keys of integrations: created, listed and revoked by an HQ admin of the chain
//! (`ProfileService`), and resolved for the gateway (`ApiKeyResolver`). Profile keeps them
//! because it owns the stores a key is scoped to (ARCHITECTURE "Cross-cutting").
//!
//! A key resolves to the same identity a token carries (role and stores of one chain), and
//! the resolver answers with a short-lived token for it, signed with this service's own
//! key: the services verify it like any other, so every scope rule applies unchanged, and
//! the internet-facing gateway holds no signing key.

use std::collections::BTreeSet;

use chrono::Utc;
use maitre_kit::{
    audit,
    auth::{Caller, MAX_TOKEN_STORES, Role, api_key},
};
use maitre_proto::{common::v1::Role as PbRole, profile::v1 as pb};
use tonic::Status;

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::begin_write,
    convert::{required, timestamp_us},
    error::{Error, Result},
    storage::{
        api_keys::{self, ApiKeyRow},
        stores,
    },
};

/// How long a resolved key's token is valid. The gateway asks again far sooner (its cache
/// holds a resolution for seconds, so a revocation takes effect within seconds); this only
/// bounds a token that leaked from inside the cluster.
pub const TOKEN_TTL_SECS: u64 = 60;

const MAX_NAME_CHARS: usize = 100;

fn pb_role(role: &str) -> PbRole {
    match role.parse::<Role>() {
        Ok(Role::HqAdmin) => PbRole::HqAdmin,
        Ok(Role::StoreManager) => PbRole::StoreManager,
        Ok(Role::CustomerManager) => PbRole::CustomerManager,
        Ok(Role::FrontDesk) => PbRole::FrontDesk,
        Ok(Role::Service) => PbRole::Service,
        Err(_) => PbRole::Unspecified,
    }
}

fn key_role(role: i32) -> Result<Role> {
    let role = match PbRole::try_from(role) {
        Ok(PbRole::HqAdmin) => Some(Role::HqAdmin),
        Ok(PbRole::StoreManager) => Some(Role::StoreManager),
        Ok(PbRole::FrontDesk) => Some(Role::FrontDesk),
        _ => None,
    };
    role.filter(|role| api_key::is_key_role(*role))
        .ok_or_else(|| {
            Error::invalid(
                "api_key.role",
                "must be ROLE_HQ_ADMIN, ROLE_STORE_MANAGER or ROLE_FRONT_DESK (a key acts as \
             neither a customer manager nor a service)",
            )
        })
}

fn to_proto(key: &ApiKeyRow) -> pb::ApiKey {
    pb::ApiKey {
        key_id: key.key_id.clone(),
        name: key.name.clone(),
        role: pb_role(&key.role) as i32,
        store_ids: key.store_ids.clone(),
        create_time: Some(timestamp_us(key.created_at_us)),
        created_by: key.created_by.clone(),
        revoke_time: key.revoked_at_us.map(timestamp_us),
        revoked_by: key.revoked_by.clone(),
    }
}

/// Keys are managed by HQ admins signed in as themselves: a key (even an HQ admin's) may not
/// mint keys that outlive its own revocation.
fn require_key_manager(caller: &Caller) -> Result<&str> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin])?;
    if caller.staff_id.starts_with("api_key:") {
        return Err(Error::PermissionDenied(
            "an API key may not manage API keys; an HQ admin signed in as themselves may".into(),
        ));
    }
    Ok(chain)
}

/// The key's stores: none for an HQ admin key, at least one existing store of the chain
/// otherwise (in the order given, without repeats).
async fn check_stores(
    api: &ProfileServiceApi,
    chain: &str,
    role: Role,
    store_ids: &[String],
) -> Result<Vec<String>> {
    if role.is_chain_wide() {
        if !store_ids.is_empty() {
            return Err(Error::invalid(
                "api_key.store_ids",
                "an HQ admin key covers the whole chain; leave store_ids empty",
            ));
        }
        return Ok(Vec::new());
    }
    if store_ids.is_empty() {
        return Err(Error::invalid(
            "api_key.store_ids",
            "is required for a store manager or front desk key",
        ));
    }
    if store_ids.len() > MAX_TOKEN_STORES {
        return Err(Error::invalid(
            "api_key.store_ids",
            format!("at most {MAX_TOKEN_STORES} stores"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut stores_in_order = Vec::new();
    for (i, id) in store_ids.iter().enumerate() {
        let field = format!("api_key.store_ids[{i}]");
        let id = required(&field, id)?;
        if stores::get(&api.runtime.db, chain, id).await?.is_none() {
            return Err(Error::invalid(
                field,
                format!("store `{id}` is not a store of the chain"),
            ));
        }
        if seen.insert(id.to_owned()) {
            stores_in_order.push(id.to_owned());
        }
    }
    Ok(stores_in_order)
}

pub(super) async fn create(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::CreateApiKeyRequest,
) -> Result<pb::CreateApiKeyResponse> {
    let chain = require_key_manager(caller)?;
    let key = r
        .api_key
        .ok_or_else(|| Error::invalid("api_key", "is required"))?;
    let name = required("api_key.name", &key.name)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid("api_key.name", "longer than 100 characters"));
    }
    let role = key_role(key.role)?;
    let request_id = r.request_id.trim();
    if request_id.chars().count() > 128 {
        return Err(Error::invalid("request_id", "longer than 128 characters"));
    }
    if !request_id.is_empty()
        && let Some(first) = api_keys::by_request(&api.runtime.db, chain, request_id).await?
    {
        // A replay: the first key, but never its secret again (only its hash is kept).
        return Ok(pb::CreateApiKeyResponse {
            api_key: Some(to_proto(&first)),
            secret: String::new(),
        });
    }
    let store_ids = check_stores(api, chain, role, &key.store_ids).await?;
    let new = api_key::generate();
    let row = ApiKeyRow {
        key_id: new.key_id.clone(),
        chain_id: chain.to_owned(),
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        store_ids,
        secret_sha256: new.hash.clone(),
        created_at_us: Utc::now().timestamp_micros(),
        created_by: caller.staff_id.clone(),
        revoked_at_us: None,
        revoked_by: String::new(),
        request_id: request_id.to_owned(),
    };
    let txn = begin_write(&api.runtime.db).await?;
    api_keys::insert(&txn, &row).await?;
    // The key as listed: its hash is not part of it (and would be redacted anyway).
    audit::record(
        &txn,
        &audit::Actor::of(caller),
        chain,
        audit::Change {
            action: "profile.api_key.create",
            target_type: "api_key",
            target_id: &row.key_id,
            before: None,
            after: audit::json_of(&to_proto(&row)),
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(key_id = %row.key_id, chain = chain, role = %row.role, by = %caller.staff_id, "API key created");
    Ok(pb::CreateApiKeyResponse {
        api_key: Some(to_proto(&row)),
        secret: new.secret,
    })
}

pub(super) async fn list(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListApiKeysRequest,
) -> Result<pb::ListApiKeysResponse> {
    let chain = require_key_manager(caller)?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let rows = api_keys::list(&api.runtime.db, chain, offset, size).await?;
    Ok(pb::ListApiKeysResponse {
        next_page_token: next_page(offset, size, rows.len()),
        api_keys: rows.iter().map(to_proto).collect(),
    })
}

pub(super) async fn revoke(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::RevokeApiKeyRequest,
) -> Result<pb::RevokeApiKeyResponse> {
    let chain = require_key_manager(caller)?;
    let key_id = required("key_id", &r.key_id)?;
    let txn = begin_write(&api.runtime.db).await?;
    let now_us = Utc::now().timestamp_micros();
    let before = api_keys::get(&txn, chain, key_id).await?;
    let revoked = api_keys::revoke(&txn, chain, key_id, now_us, &caller.staff_id).await?;
    let row = api_keys::get(&txn, chain, key_id)
        .await?
        .ok_or_else(|| Error::not_found("API key", key_id))?;
    if revoked {
        tracing::info!(key_id = key_id, chain = chain, by = %caller.staff_id, "API key revoked");
        // Only an actual revocation is a change; revoking a revoked key records nothing.
        audit::record(
            &txn,
            &audit::Actor::of(caller),
            chain,
            audit::Change {
                action: "profile.api_key.revoke",
                target_type: "api_key",
                target_id: key_id,
                before: before.as_ref().and_then(|b| audit::json_of(&to_proto(b))),
                after: audit::json_of(&to_proto(&row)),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(pb::RevokeApiKeyResponse {
        api_key: Some(to_proto(&row)),
    })
}

/// The identity of an active key's secret and a token for it; every refusal is the same
/// UNAUTHENTICATED answer, so a caller learns nothing about which part was wrong.
pub async fn resolve(
    runtime: &maitre_kit::runtime::Runtime,
    r: pb::ResolveApiKeyRequest,
) -> Result<pb::ResolveApiKeyResponse, Status> {
    let refused = || Status::unauthenticated("unknown or revoked API key");
    let key_id = api_key::key_id_of(&r.secret).ok_or_else(refused)?;
    let row = api_keys::get_any_chain(&runtime.db, key_id)
        .await
        .map_err(Status::from)?
        .ok_or_else(refused)?;
    if !api_key::matches(&r.secret, &row.secret_sha256) || row.revoked_at_us.is_some() {
        return Err(refused());
    }
    let role = row
        .role
        .parse::<Role>()
        .map_err(|e| Status::internal(format!("stored API key role: {e}")))?;
    let token = runtime
        .minter
        .mint(
            &api_key::subject(&row.key_id),
            &row.chain_id,
            role,
            &row.store_ids,
            TOKEN_TTL_SECS,
        )
        .map_err(|e| Status::internal(e.to_string()))?;
    let expires_us = Utc::now().timestamp_micros()
        + i64::try_from(TOKEN_TTL_SECS * 1_000_000).unwrap_or(i64::MAX);
    Ok(pb::ResolveApiKeyResponse {
        api_key: Some(to_proto(&row)),
        chain_id: row.chain_id,
        token,
        token_expire_time: Some(timestamp_us(expires_us)),
    })
}

/// `maitre.profile.v1.ApiKeyResolver`, served without the auth interceptor: the secret in
/// the request is the credential.
#[derive(Clone)]
pub struct ApiKeyResolverApi {
    runtime: maitre_kit::runtime::Runtime,
}

impl ApiKeyResolverApi {
    /// The resolver over the service's runtime.
    pub fn new(runtime: maitre_kit::runtime::Runtime) -> Self {
        Self { runtime }
    }
}

#[tonic::async_trait]
impl pb::api_key_resolver_server::ApiKeyResolver for ApiKeyResolverApi {
    async fn resolve_api_key(
        &self,
        request: tonic::Request<pb::ResolveApiKeyRequest>,
    ) -> Result<tonic::Response<pb::ResolveApiKeyResponse>, Status> {
        resolve(&self.runtime, request.into_inner())
            .await
            .map(tonic::Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_act_only_as_staff_roles() {
        assert_eq!(
            key_role(PbRole::StoreManager as i32).unwrap(),
            Role::StoreManager
        );
        for refused in [
            PbRole::Unspecified,
            PbRole::CustomerManager,
            PbRole::Service,
        ] {
            let error = key_role(refused as i32).unwrap_err();
            assert!(error.to_string().starts_with("api_key.role"), "{error}");
        }
        assert!(key_role(99).is_err());
        assert_eq!(pb_role("front_desk"), PbRole::FrontDesk);
    }
}
