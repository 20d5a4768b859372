//! The chain's classification policy and its identity block list.

use chrono::Utc;
use maitre_kit::{
    audit,
    auth::{Caller, Role},
};
use maitre_proto::profile::v1::{self as pb};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::{begin_write, classify::recompute_chain},
    convert::{
        parse_keys,
        policy::{default_policy, to_domain},
        proto_key,
    },
    domain::resolution::IdentityGuards,
    error::Result,
    storage::{identity, policy},
};

pub(super) async fn get(
    api: &ProfileServiceApi,
    caller: &Caller,
    _: pb::GetClassificationPolicyRequest,
) -> Result<pb::GetClassificationPolicyResponse> {
    let chain = caller.chain()?;
    let stored = policy::get(&api.runtime.db, chain)
        .await?
        .unwrap_or_else(default_policy);
    Ok(pb::GetClassificationPolicyResponse {
        policy: Some(stored),
    })
}

pub(super) async fn update(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpdateClassificationPolicyRequest,
) -> Result<pb::UpdateClassificationPolicyResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin])?;
    let mut new = r
        .policy
        .ok_or_else(|| crate::error::Error::invalid("policy", "is required"))?;
    if new.window_days == 0 {
        new.window_days = 365;
    }
    to_domain(&new)?;
    let now = Utc::now();
    let txn = begin_write(&api.runtime.db).await?;
    let before = policy::get(&txn, chain)
        .await?
        .unwrap_or_else(default_policy);
    policy::put(&txn, chain, &new, now.timestamp_micros()).await?;
    audit::record(
        &txn,
        &audit::Actor::of(caller),
        chain,
        audit::Change {
            action: "profile.classification_policy.update",
            target_type: "classification_policy",
            target_id: "chain",
            before: audit::json_of(&before),
            after: audit::json_of(&new),
        },
    )
    .await?;
    txn.commit().await?;
    api.caches.forget_class(chain);
    // Classes follow the new policy at once (ClassChanged for every change).
    recompute_chain(&api.runtime.db, &api.runtime.events, chain, now).await?;
    // Again: the recompute stored new cut-offs.
    api.caches.forget_class(chain);
    Ok(pb::UpdateClassificationPolicyResponse { policy: Some(new) })
}

pub(super) async fn list_blocked(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListBlockedIdentifiersRequest,
) -> Result<pb::ListBlockedIdentifiersResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin, Role::Service])?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let limit = IdentityGuards::default().max_customers_per_key;
    let rows = identity::blocked_report(&api.runtime.db, chain, limit, offset, size).await?;
    Ok(pb::ListBlockedIdentifiersResponse {
        next_page_token: next_page(offset, size, rows.len()),
        identifiers: rows
            .iter()
            .map(|b| pb::BlockedIdentifier {
                identity_key: Some(proto_key(&b.key)),
                reason: if b.configured {
                    "configured"
                } else {
                    "shared_by_too_many"
                }
                .into(),
                customer_count: b.customer_count,
            })
            .collect(),
    })
}

pub(super) async fn update_blocked(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpdateBlockedIdentifiersRequest,
) -> Result<pb::UpdateBlockedIdentifiersResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin])?;
    let add = parse_keys("add", &r.add)?;
    let remove = parse_keys("remove", &r.remove)?;
    let count = identity::update_blocked(
        &api.runtime.db,
        chain,
        &add.keys,
        &remove.keys,
        Utc::now().timestamp_micros(),
    )
    .await?;
    api.caches.forget_blocked(chain);
    Ok(pb::UpdateBlockedIdentifiersResponse {
        configured_count: count,
    })
}
