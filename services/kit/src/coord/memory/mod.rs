//! In-process [`Coordination`] for the embedded single-process mode: one mutex over plain maps,
//! TTLs checked on access (and swept every few thousand writes), broadcast channels for
//! pub/sub. Windows and fences use the wall clock (the process is the only "replica"); TTLs
//! use the monotonic clock.

mod state;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::{Mutex, broadcast};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::{
    CoordError, CoordResult, Coordination, Fence, Pick, WindowDecision, decide_rate_hit,
    duration_ms, pick_winner, rate_limit,
};
use state::{Entry, State, decide_window_hit, expiry, live, unix_us, validated};

/// Writes between two sweeps of expired entries (bounds memory without a background task).
const WRITES_PER_SWEEP: u32 = 4096;
/// Messages a slow subscriber may lag behind before it loses some (signals may be lost).
const CHANNEL_CAPACITY: usize = 256;

/// In-process coordination (see the module docs).
#[derive(Default)]
pub struct MemoryCoordination {
    state: Mutex<State>,
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

impl MemoryCoordination {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Coordination for MemoryCoordination {
    async fn lock(&self, key: &str, ttl: Duration) -> CoordResult<Option<Fence>> {
        duration_ms("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        if live(&mut state.locks, key, now).is_some() {
            return Ok(None);
        }
        let fence = state.next_fence(format!("lock:{key}"));
        let expires_at = expiry(Some(ttl), now);
        state.locks.insert(
            key.to_owned(),
            Entry {
                value: fence,
                expires_at,
            },
        );
        state.wrote(now);
        Ok(Some(fence))
    }

    async fn unlock(&self, key: &str, fence: Fence) -> CoordResult<bool> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        if live(&mut state.locks, key, now).is_some_and(|entry| entry.value == fence) {
            state.locks.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn get(&self, key: &str) -> CoordResult<Option<String>> {
        let mut state = self.state.lock().await;
        Ok(live(&mut state.values, key, Instant::now()).map(|entry| entry.value.clone()))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> CoordResult<()> {
        let ttl = validated("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        state.values.insert(
            key.to_owned(),
            Entry {
                value: value.to_owned(),
                expires_at: expiry(ttl, now),
            },
        );
        state.wrote(now);
        Ok(())
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        let ttl = validated("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let current = live(&mut state.values, key, now).map(|entry| entry.value.as_str());
        if current != expected {
            return Ok(false);
        }
        match new {
            Some(value) => {
                let entry = Entry {
                    value: value.to_owned(),
                    expires_at: expiry(ttl, now),
                };
                state.values.insert(key.to_owned(), entry);
            }
            None => {
                state.values.remove(key);
            }
        }
        state.wrote(now);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> CoordResult<()> {
        self.state.lock().await.values.remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> CoordResult<i64> {
        let ttl = validated("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let (current, expires_at) = match live(&mut state.values, key, now) {
            Some(entry) => {
                let current = entry.value.parse::<i64>().map_err(|_| not_integer(key))?;
                (current, entry.expires_at.or_else(|| expiry(ttl, now)))
            }
            None => (0, expiry(ttl, now)),
        };
        let next = current.checked_add(delta).ok_or_else(|| not_integer(key))?;
        let value = next.to_string();
        state
            .values
            .insert(key.to_owned(), Entry { value, expires_at });
        state.wrote(now);
        Ok(next)
    }

    async fn balance_seed(
        &self,
        key: &str,
        entries: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        let ttl = validated("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        if entries.is_empty() || live(&mut state.balances, key, now).is_some() {
            return Ok(false);
        }
        let value = entries.iter().cloned().collect();
        let expires_at = expiry(ttl, now);
        state
            .balances
            .insert(key.to_owned(), Entry { value, expires_at });
        state.wrote(now);
        Ok(true)
    }

    async fn balance_pick(&self, pick: Pick<'_>) -> CoordResult<Option<(String, i64)>> {
        let ttl = validated("ttl", pick.ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        if pick.seeded_only && !pick.candidates.is_empty() {
            let ceiling = pick.ceiling.map(|(key, _)| key);
            let keys = std::iter::once(pick.balance)
                .chain(ceiling)
                .chain(pick.also_increment.iter().copied());
            for key in keys {
                if live(&mut state.balances, key, now).is_none() {
                    return Err(CoordError::Unseeded {
                        key: key.to_owned(),
                    });
                }
            }
        }
        let scores: Vec<Option<i64>> = pick
            .candidates
            .iter()
            .map(|member| match pick.ceiling {
                Some((ceiling, max)) if state.balance_score(ceiling, member, now) >= max => None,
                _ => Some(state.balance_score(pick.balance, member, now)),
            })
            .collect();
        let Some(winner) = pick_winner(&scores, pick.tie_offset) else {
            return Ok(None);
        };
        let member = &pick.candidates[winner];
        let score = state.balance_add(pick.balance, member, 1, ttl, now);
        for other in pick.also_increment {
            state.balance_add(other, member, 1, ttl, now);
        }
        state.wrote(now);
        Ok(Some((member.clone(), score)))
    }

    async fn balance_add(
        &self,
        key: &str,
        member: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> CoordResult<i64> {
        let ttl = validated("ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let score = state.balance_add(key, member, delta, ttl, now);
        state.wrote(now);
        Ok(score)
    }

    async fn balance_scores(&self, key: &str) -> CoordResult<Vec<(String, i64)>> {
        let mut state = self.state.lock().await;
        let mut scores: Vec<(String, i64)> = live(&mut state.balances, key, Instant::now())
            .map(|entry| entry.value.clone().into_iter().collect())
            .unwrap_or_default();
        scores.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(scores)
    }

    async fn balance_exists(&self, key: &str) -> CoordResult<bool> {
        let mut state = self.state.lock().await;
        Ok(live(&mut state.balances, key, Instant::now()).is_some())
    }

    async fn window_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> CoordResult<WindowDecision> {
        let window_us =
            i64::try_from(duration_ms("window", window)?.saturating_mul(1000)).unwrap_or(i64::MAX);
        if cost > limit {
            return Err(CoordError::CostExceedsLimit {
                key: key.to_owned(),
                cost,
                limit,
            });
        }
        let now = Instant::now();
        let now_us = unix_us();
        let mut state = self.state.lock().await;
        let mut hits = state
            .windows
            .remove(key)
            .map(|entry| entry.value)
            .unwrap_or_default();
        let decision = decide_window_hit(&mut hits, limit, window_us, cost, now_us);
        if !hits.is_empty() {
            let expires_at = expiry(Some(window), now);
            state.windows.insert(
                key.to_owned(),
                Entry {
                    value: hits,
                    expires_at,
                },
            );
        }
        state.wrote(now);
        Ok(decision)
    }

    async fn rate_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> CoordResult<WindowDecision> {
        let window_us = duration_ms("window", window)?.saturating_mul(1000) as f64;
        rate_limit("limit", limit)?;
        let now = Instant::now();
        let now_us = unix_us() as f64;
        let mut state = self.state.lock().await;
        let tat = live(&mut state.rates, key, now).map(|entry| entry.value);
        let (decision, next_tat) = decide_rate_hit(tat, limit, window_us, now_us);
        if let Some(next_tat) = next_tat {
            let ttl = Duration::from_micros((next_tat - now_us).ceil().max(1.0) as u64);
            state.rates.insert(
                key.to_owned(),
                Entry {
                    value: next_tat,
                    expires_at: expiry(Some(ttl), now),
                },
            );
            state.wrote(now);
        }
        Ok(decision)
    }

    async fn window_seed(
        &self,
        key: &str,
        hits_unix_ms: &[i64],
        window: Duration,
    ) -> CoordResult<bool> {
        let window_us =
            i64::try_from(duration_ms("window", window)?.saturating_mul(1000)).unwrap_or(i64::MAX);
        let now = Instant::now();
        let now_us = unix_us();
        let mut state = self.state.lock().await;
        if live(&mut state.windows, key, now).is_some() {
            return Ok(false);
        }
        let mut hits: Vec<(i64, u64)> = hits_unix_ms
            .iter()
            .map(|&at_ms| (at_ms.saturating_mul(1000), 1))
            .filter(|&(at_us, _)| at_us.saturating_add(window_us) > now_us)
            .collect();
        if hits.is_empty() {
            return Ok(false);
        }
        hits.sort_unstable();
        let expires_at = expiry(Some(window), now);
        state.windows.insert(
            key.to_owned(),
            Entry {
                value: hits,
                expires_at,
            },
        );
        state.wrote(now);
        Ok(true)
    }

    async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> CoordResult<Option<Fence>> {
        duration_ms("ttl", ttl)?;
        let now = Instant::now();
        let expires_at = expiry(Some(ttl), now);
        let mut state = self.state.lock().await;
        if let Some(entry) = live(&mut state.leases, name, now) {
            if entry.value.0 != holder {
                return Ok(None);
            }
            entry.expires_at = expires_at;
            return Ok(Some(entry.value.1));
        }
        let fence = state.next_fence(format!("lease:{name}"));
        let value = (holder.to_owned(), fence);
        state
            .leases
            .insert(name.to_owned(), Entry { value, expires_at });
        state.wrote(now);
        Ok(Some(fence))
    }

    async fn lease_release(&self, name: &str, holder: &str) -> CoordResult<bool> {
        let mut state = self.state.lock().await;
        if live(&mut state.leases, name, Instant::now()).is_some_and(|e| e.value.0 == holder) {
            state.leases.remove(name);
            return Ok(true);
        }
        Ok(false)
    }

    async fn publish(&self, channel: &str, message: &str) -> CoordResult<()> {
        let mut channels = self.channels.lock().await;
        if let Some(sender) = channels.get(channel) {
            // No receiver left: forget the channel instead of keeping it forever.
            if sender.send(message.to_owned()).is_err() {
                channels.remove(channel);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> CoordResult<BoxStream<'static, String>> {
        let mut channels = self.channels.lock().await;
        let receiver = match channels.get(channel) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
                channels.insert(channel.to_owned(), sender);
                receiver
            }
        };
        // A lagging subscriber skips what it missed: these are wake-up signals only.
        let messages = BroadcastStream::new(receiver).filter_map(Result::ok);
        Ok(Box::pin(messages))
    }
}

fn not_integer(key: &str) -> CoordError {
    CoordError::NotAnInteger {
        key: key.to_owned(),
    }
}
