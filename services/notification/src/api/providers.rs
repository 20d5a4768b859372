//! Provider-account RPCs (`PUT`/`GET /v1/providers/{channel}`): an HQ admin sets the chain's
//! provider of a channel with its settings and secrets; the secrets are sealed before they are
//! stored and never answered. A secret left out keeps the stored one (of the same kind), so
//! changing a setting does not need the secret again; the same request twice changes nothing.

use std::collections::BTreeMap;

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_proto::notification::v1 as pb;
use tonic::{Request, Response, Status};

use super::NotificationServiceApi;
use crate::convert::{channel_from_str, timestamp_from_us};
use crate::domain::channel::Channel;
use crate::domain::provider_account::{self, ProposedAccount};
use crate::error::{Error, Result};
use crate::storage::provider_accounts::{self, AccountRow};

fn channel(value: &str) -> Result<Channel> {
    channel_from_str(value).ok_or_else(|| {
        Error::invalid(
            "channel",
            format!("unknown channel `{value}`; one of sms, wechat, email, app_push, staff_inbox"),
        )
    })
}

/// The account as shown: settings and the names of the secrets that are set, never their values.
fn to_proto(row: &AccountRow) -> pb::ProviderAccount {
    pb::ProviderAccount {
        channel: row.channel.as_str().to_owned(),
        kind: row.kind.as_str().to_owned(),
        settings: row.settings.clone().into_iter().collect(),
        secrets_set: row.secret_names.clone(),
        key_id: row.key_id.clone(),
        update_time: Some(timestamp_from_us(row.update_time_us)),
    }
}

fn unusable_key(e: impl ToString) -> Error {
    Error::Precondition {
        field: "secrets",
        message: e.to_string(),
    }
}

impl NotificationServiceApi {
    pub(super) async fn put_provider_account_rpc(
        &self,
        request: Request<pb::PutProviderAccountRequest>,
    ) -> Result<Response<pb::PutProviderAccountResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin])?;
        let chain = caller.chain()?.to_owned();
        let r = request.into_inner();
        let channel = channel(r.channel.trim())?;
        let kind = provider_account::parse_kind(r.kind.trim())
            .map_err(|e| Error::invalid(e.field, e.message))?;
        let settings: BTreeMap<String, String> = r
            .settings
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_owned()))
            .collect();
        let given: BTreeMap<String, String> = r
            .secrets
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        use crate::domain::provider_callbacks::{CALLBACK_TOKEN, CALLBACK_TOKEN_MIN_CHARS};
        if given
            .get(CALLBACK_TOKEN)
            .is_some_and(|token| token.chars().count() < CALLBACK_TOKEN_MIN_CHARS)
        {
            return Err(Error::invalid(
                format!("secrets.{CALLBACK_TOKEN}"),
                format!(
                    "must be at least {CALLBACK_TOKEN_MIN_CHARS} characters: it authenticates the provider's callbacks"
                ),
            )
            .into());
        }
        let keyring = &self.provider_secrets;
        let txn = maitre_kit::db::begin_write(&self.runtime.db)
            .await
            .map_err(Error::from)?;
        let stored = provider_accounts::get(&txn, &chain, channel).await?;
        // The stored secrets of the same kind that this request does not replace.
        let mut secrets = match &stored {
            Some(stored) if stored.kind == kind => stored.open(keyring).map_err(unusable_key)?,
            _ => BTreeMap::new(),
        };
        let unchanged = stored.as_ref().is_some_and(|stored| {
            stored.kind == kind
                && stored.settings == settings
                && given.iter().all(|(k, v)| secrets.get(k) == Some(v))
        });
        if unchanged && let Some(stored) = stored {
            txn.rollback().await.map_err(Error::from)?;
            return Ok(Response::new(pb::PutProviderAccountResponse {
                account: Some(to_proto(&stored)),
            }));
        }
        secrets.extend(given.clone());
        let proposed = ProposedAccount {
            channel,
            kind,
            settings,
            secret_names: secrets.keys().cloned().collect(),
        };
        let given_names: Vec<&str> = given.keys().map(String::as_str).collect();
        provider_account::validate(&proposed, &given_names, self.production)
            .map_err(|e| Error::invalid(e.field, e.message))?;
        let (key_id, sealed) = provider_accounts::seal(keyring, &chain, channel, kind, &secrets)
            .map_err(unusable_key)?;
        let row = AccountRow {
            chain_id: chain,
            channel,
            kind,
            settings: proposed.settings,
            secret_names: proposed.secret_names,
            sealed,
            key_id,
            update_time_us: Utc::now().timestamp_micros(),
        };
        provider_accounts::put(&txn, &row).await?;
        // The account as `GetProviderAccount` shows it (secret names, never values), and which
        // secrets this change replaced.
        let mut after = maitre_kit::audit::json_of(&to_proto(&row));
        if let Some(serde_json::Value::Object(fields)) = after.as_mut() {
            fields.insert("replacedSecretNames".into(), serde_json::json!(given_names));
        }
        maitre_kit::audit::record(
            &txn,
            &maitre_kit::audit::Actor::of(&caller),
            &row.chain_id,
            maitre_kit::audit::Change {
                action: "notification.provider_account.put",
                target_type: "provider_account",
                target_id: channel.as_str(),
                before: stored
                    .as_ref()
                    .and_then(|s| maitre_kit::audit::json_of(&to_proto(s))),
                after,
            },
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        tracing::info!(channel = %channel, kind = kind.as_str(), "provider account set");
        Ok(Response::new(pb::PutProviderAccountResponse {
            account: Some(to_proto(&row)),
        }))
    }

    pub(super) async fn get_provider_account_rpc(
        &self,
        request: Request<pb::GetProviderAccountRequest>,
    ) -> Result<Response<pb::GetProviderAccountResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin])?;
        let channel = channel(request.get_ref().channel.trim())?;
        let row = provider_accounts::get(&self.runtime.db, caller.chain()?, channel)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "provider account",
                id: channel.as_str().to_owned(),
            })?;
        Ok(Response::new(pb::GetProviderAccountResponse {
            account: Some(to_proto(&row)),
        }))
    }
}
