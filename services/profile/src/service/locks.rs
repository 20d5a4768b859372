//! Coordination locks on identity keys: two first events of one new customer arriving at
//! once through two channels (or replicas) are serialised on their shared keys, so the
//! second sees the customer the first created instead of creating another.
//!
//! Locks are taken in sorted order (no deadlock) and expire by themselves (a crashed
//! holder blocks nobody for long).

use std::{sync::Arc, time::Duration};

use maitre_kit::coord::{Coordination, Fence};

use crate::error::{Error, Result};

/// How long a holder may keep a key before it expires.
const LOCK_TTL: Duration = Duration::from_secs(15);
/// How long to wait for a busy key before giving up.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Locks held by one operation; release with [`KeyLocks::release`].
pub struct KeyLocks {
    coord: Arc<dyn Coordination>,
    held: Vec<(String, Fence)>,
}

/// The lock name of an identity key (canonical form) of a chain.
pub fn key_lock(chain: &str, canonical: &str) -> String {
    format!("identity:{chain}:{canonical}")
}

/// Takes every lock in `names` (sorted, de-duplicated), waiting for busy ones.
///
/// Uncontended (the common case) they are all asked for at once, one round trip in all;
/// if any is busy, the ones taken are given back and the locks are taken one by one in
/// sorted order, so two holders never wait on each other.
pub async fn lock_all(coord: &Arc<dyn Coordination>, mut names: Vec<String>) -> Result<KeyLocks> {
    names.sort();
    names.dedup();
    let attempts =
        futures::future::join_all(names.iter().map(|name| coord.lock(name, LOCK_TTL))).await;
    let mut locks = KeyLocks {
        coord: coord.clone(),
        held: Vec::with_capacity(names.len()),
    };
    let (mut busy, mut failure) = (false, None);
    for (name, attempt) in names.iter().zip(attempts) {
        match attempt {
            Ok(Some(fence)) => locks.held.push((name.clone(), fence)),
            Ok(None) => busy = true,
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        locks.release().await;
        return Err(Error::Coord(e));
    }
    if !busy {
        return Ok(locks);
    }
    locks.release().await;
    lock_in_order(coord, names).await
}

async fn lock_in_order(coord: &Arc<dyn Coordination>, names: Vec<String>) -> Result<KeyLocks> {
    let mut locks = KeyLocks {
        coord: coord.clone(),
        held: Vec::with_capacity(names.len()),
    };
    for name in names {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match coord.lock(&name, LOCK_TTL).await {
                Ok(Some(fence)) => {
                    locks.held.push((name, fence));
                    break;
                }
                Ok(None) if started.elapsed() < WAIT_LIMIT => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(None) => {
                    locks.release().await;
                    return Err(Error::Status(tonic::Status::unavailable(
                        "identity key busy; retry",
                    )));
                }
                Err(e) => {
                    locks.release().await;
                    return Err(Error::Coord(e));
                }
            }
        }
    }
    Ok(locks)
}

impl KeyLocks {
    /// Releases every lock still held (best effort: they expire anyway), all at once.
    pub async fn release(mut self) {
        let held = std::mem::take(&mut self.held);
        let coord = &self.coord;
        let results =
            futures::future::join_all(held.iter().map(|(name, fence)| coord.unlock(name, *fence)))
                .await;
        for ((name, _), result) in held.iter().zip(results) {
            if let Err(e) = result {
                tracing::warn!(error = %e, lock = %name, "unlock failed; the lock will expire");
            }
        }
    }
}
