//! The `notif_provider_accounts` table: one provider account per chain and channel. Settings are
//! stored as given; the secrets as one sealed JSON map (`storage::secrets`) beside the id of the
//! key that sealed them. Nothing here returns a secret to an API caller: [`AccountRow`] keeps the
//! sealed text, and only the dispatcher opens it (`providers::accounts`).

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::convert::channel_from_str;
use crate::domain::channel::Channel;
use crate::domain::provider_account::ProviderKind;
use crate::error::{Error, Result};
use crate::storage::secrets::{Keyring, SecretError};
use maitre_kit::db::DbError;

/// A stored account (secrets sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub chain_id: String,
    pub channel: Channel,
    pub kind: ProviderKind,
    pub settings: BTreeMap<String, String>,
    pub secret_names: Vec<String>,
    pub sealed: String,
    pub key_id: String,
    pub update_time_us: i64,
}

/// The associated data the account's secrets are sealed with: they open only on this row.
pub fn aad(chain_id: &str, channel: Channel, kind: ProviderKind) -> String {
    format!("{chain_id}/{channel}/{}", kind.as_str())
}

impl AccountRow {
    /// The account's secrets in clear (for building its provider; never for an API answer).
    pub fn open(
        &self,
        keyring: &Keyring,
    ) -> std::result::Result<BTreeMap<String, String>, SecretError> {
        if self.sealed.is_empty() {
            return Ok(BTreeMap::new());
        }
        let plain = keyring.open(
            &self.key_id,
            &aad(&self.chain_id, self.channel, self.kind),
            &self.sealed,
        )?;
        serde_json::from_slice(&plain).map_err(|_| SecretError::Corrupt(self.key_id.clone()))
    }
}

/// Seals `secrets` for the account `(chain, channel, kind)`: `(key id, sealed)`; empty secrets
/// seal to nothing.
pub fn seal(
    keyring: &Keyring,
    chain_id: &str,
    channel: Channel,
    kind: ProviderKind,
    secrets: &BTreeMap<String, String>,
) -> std::result::Result<(String, String), SecretError> {
    if secrets.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let plain = serde_json::to_vec(secrets).unwrap_or_default();
    keyring.seal(&aad(chain_id, channel, kind), &plain)
}

fn corrupt(what: &str, reason: impl ToString) -> Error {
    Error::Db(DbError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    })
}

fn from_row(row: &QueryResult) -> Result<AccountRow> {
    let channel: String = row.try_get("", "channel")?;
    let kind: String = row.try_get("", "kind")?;
    let settings: String = row.try_get("", "settings")?;
    let names: String = row.try_get("", "secret_names")?;
    Ok(AccountRow {
        chain_id: row.try_get("", "chain_id")?,
        channel: channel_from_str(&channel).ok_or_else(|| corrupt("account.channel", &channel))?,
        kind: ProviderKind::parse(&kind).ok_or_else(|| corrupt("account.kind", &kind))?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("account.settings", e))?,
        secret_names: serde_json::from_str(&names).map_err(|e| corrupt("account.secrets", e))?,
        sealed: row.try_get("", "sealed")?,
        key_id: row.try_get("", "key_id")?,
        update_time_us: row.try_get("", "update_time_us")?,
    })
}

const COLUMNS: &str =
    "chain_id, channel, kind, settings, secret_names, sealed, key_id, update_time_us";

/// The chain's account of `channel`, if any.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    channel: Channel,
) -> Result<Option<AccountRow>> {
    query_one(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_provider_accounts WHERE chain_id = $1 AND channel = $2"
        ),
        [chain_id.into(), channel.as_str().into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Stores `account`, replacing the chain's account of its channel.
pub async fn put(conn: &impl ConnectionTrait, account: &AccountRow) -> Result<()> {
    exec(
        conn,
        &format!(
            "INSERT INTO notif_provider_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (chain_id, channel) DO UPDATE SET kind = excluded.kind,
               settings = excluded.settings, secret_names = excluded.secret_names,
               sealed = excluded.sealed, key_id = excluded.key_id,
               update_time_us = excluded.update_time_us"
        ),
        [
            account.chain_id.clone().into(),
            account.channel.as_str().into(),
            account.kind.as_str().into(),
            serde_json::to_string(&account.settings)
                .unwrap_or_default()
                .into(),
            serde_json::to_string(&account.secret_names)
                .unwrap_or_default()
                .into(),
            account.sealed.clone().into(),
            account.key_id.clone().into(),
            account.update_time_us.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Re-seals under the keyring's current key every account sealed under another (rotation):
/// returns how many were re-sealed. An account whose key is not in the keyring is left as it
/// is (and reported), so a missing old key never destroys secrets.
pub async fn reseal(conn: &impl ConnectionTrait, keyring: &Keyring) -> Result<usize> {
    let Some(current) = keyring.current_id() else {
        return Ok(0);
    };
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_provider_accounts WHERE key_id <> $1 AND sealed <> ''"
        ),
        [current.into()],
    )
    .await?;
    let mut resealed = 0;
    for row in rows {
        let account = from_row(&row)?;
        let secrets = match account.open(keyring) {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(chain_id = %account.chain_id, channel = %account.channel, error = %e,
                    "provider secrets cannot be re-sealed under the current key");
                continue;
            }
        };
        let (key_id, sealed) = seal(
            keyring,
            &account.chain_id,
            account.channel,
            account.kind,
            &secrets,
        )
        .map_err(|e| Error::Precondition {
            field: "MAITRE_SECRET_KEY",
            message: e.to_string(),
        })?;
        // Guarded by the key id read: an admin's concurrent change wins.
        let changed = exec(
            conn,
            "UPDATE notif_provider_accounts SET key_id = $1, sealed = $2
             WHERE chain_id = $3 AND channel = $4 AND key_id = $5 AND update_time_us = $6",
            [
                key_id.into(),
                sealed.into(),
                account.chain_id.clone().into(),
                account.channel.as_str().into(),
                account.key_id.clone().into(),
                account.update_time_us.into(),
            ],
        )
        .await?;
        resealed += usize::try_from(changed).unwrap_or(0);
    }
    Ok(resealed)
}
