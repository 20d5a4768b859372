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
pub async fn lock_all(coord: &Arc<dyn Coordination>, mut names: Vec<String>) -> Result<KeyLocks> {
    names.sort();
    names.dedup();
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
    /// Releases every lock still held (best effort: they expire anyway).
    pub async fn release(mut self) {
        for (name, fence) in self.held.drain(..) {
            if let Err(e) = self.coord.unlock(&name, fence).await {
                tracing::warn!(error = %e, lock = %name, "unlock failed; the lock will expire");
            }
        }
    }
}
