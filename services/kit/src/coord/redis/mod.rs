//! [`Coordination`] on Redis (>= 5, for effects replication of scripts that read `TIME`).
//!
//! Every operation is one round trip: a single command, or one Lua script from `coord/lua/`
//! run through [`redis::Script`] (EVALSHA, falling back to loading the script on NOSCRIPT, e.g.
//! after a restart or `SCRIPT FLUSH`). Keys are `<prefix>:<kind>:<key>`, so services, tenants
//! of a shared server and parallel tests never collide; pub/sub uses one dedicated connection
//! per subscription.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

mod scripts;

use super::{
    CoordError, CoordResult, Coordination, Fence, Pick, WindowDecision, duration_ms, rate_limit,
};
use scripts::Scripts;

/// How long connecting and each command may take before the caller gets a backend error
/// instead of hanging a request.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys deleted per SCAN page by [`RedisCoordination::clear_namespace`].
const SCAN_PAGE: usize = 500;

/// Redis coordination (see the module docs). Cheap to share behind an `Arc`; the connection
/// manager reconnects by itself.
pub struct RedisCoordination {
    client: Client,
    connection: ConnectionManager,
    prefix: String,
    scripts: Scripts,
}

/// Milliseconds of an optional TTL as a script argument; `"0"` means none.
fn ttl_arg(ttl: Option<Duration>) -> CoordResult<String> {
    Ok(ttl
        .map(|ttl| duration_ms("ttl", ttl))
        .transpose()?
        .unwrap_or(0)
        .to_string())
}

/// `prefix` with the glob characters of SCAN MATCH escaped.
pub(crate) fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for character in prefix.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

impl RedisCoordination {
    /// Connects to `url` (`redis://host:port/db`); every key and channel is namespaced by
    /// `key_prefix`.
    pub async fn connect(url: &str, key_prefix: &str) -> CoordResult<Self> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self {
            client,
            connection,
            prefix: key_prefix.to_owned(),
            scripts: Scripts::new(),
        })
    }

    /// Deletes every key of this namespace (SCAN + DEL, never FLUSHALL: others share the
    /// server). For tests that simulate losing Redis, and for operators. Returns the count.
    pub async fn clear_namespace(&self) -> CoordResult<u64> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}:*", glob_escape(&self.prefix));
        let mut cursor = 0u64;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_PAGE)
                .query_async(&mut connection)
                .await?;
            if !keys.is_empty() {
                let removed: u64 = redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut connection)
                    .await?;
                deleted += removed;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    fn key(&self, kind: &str, key: &str) -> String {
        format!("{}:{kind}:{key}", self.prefix)
    }
}

#[async_trait]
impl Coordination for RedisCoordination {
    async fn lock(&self, key: &str, ttl: Duration) -> CoordResult<Option<Fence>> {
        let ttl_ms = duration_ms("ttl", ttl)?;
        let fence: Option<u64> = self
            .scripts
            .lock
            .key(self.key("lock", key))
            .key(self.key("fence:lock", key))
            .arg(ttl_ms)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(fence.map(Fence))
    }

    async fn unlock(&self, key: &str, fence: Fence) -> CoordResult<bool> {
        let released: i64 = self
            .scripts
            .unlock
            .key(self.key("lock", key))
            .arg(fence.0)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(released == 1)
    }

    async fn get(&self, key: &str) -> CoordResult<Option<String>> {
        Ok(redis::cmd("GET")
            .arg(self.key("v", key))
            .query_async(&mut self.connection.clone())
            .await?)
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> CoordResult<()> {
        let mut command = redis::cmd("SET");
        command.arg(self.key("v", key)).arg(value);
        if let Some(ttl) = ttl {
            command.arg("PX").arg(duration_ms("ttl", ttl)?);
        }
        let () = command.query_async(&mut self.connection.clone()).await?;
        Ok(())
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        let flag = |value: Option<&str>| if value.is_some() { "1" } else { "0" };
        let swapped: i64 = self
            .scripts
            .compare_and_set
            .key(self.key("v", key))
            .arg(flag(expected))
            .arg(expected.unwrap_or(""))
            .arg(flag(new))
            .arg(new.unwrap_or(""))
            .arg(ttl_arg(ttl)?)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(swapped == 1)
    }

    async fn delete(&self, key: &str) -> CoordResult<()> {
        let _removed: i64 = redis::cmd("DEL")
            .arg(self.key("v", key))
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(())
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> CoordResult<i64> {
        let value: Option<i64> = self
            .scripts
            .incr
            .key(self.key("v", key))
            .arg(delta)
            .arg(ttl_arg(ttl)?)
            .invoke_async(&mut self.connection.clone())
            .await?;
        value.ok_or_else(|| CoordError::NotAnInteger {
            key: key.to_owned(),
        })
    }

    async fn balance_seed(
        &self,
        key: &str,
        entries: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        let mut invocation = self.scripts.balance_seed.key(self.key("bal", key));
        invocation.arg(ttl_arg(ttl)?);
        for (member, score) in entries {
            invocation.arg(score).arg(member);
        }
        let seeded: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(seeded == 1)
    }

    async fn balance_pick(&self, pick: Pick<'_>) -> CoordResult<Option<(String, i64)>> {
        if pick.candidates.is_empty() {
            return Ok(None);
        }
        let start = pick.tie_offset % pick.candidates.len() as u64;
        let mut keys = vec![pick.balance];
        if let Some((ceiling, _)) = pick.ceiling {
            keys.push(ceiling);
        }
        keys.extend(pick.also_increment.iter().copied());
        let mut invocation = self.scripts.balance_pick.prepare_invoke();
        for key in &keys {
            invocation.key(self.key("bal", key));
        }
        let (has_ceiling, ceiling_max) = match pick.ceiling {
            Some((_, max)) => ("1", max),
            None => ("0", 0),
        };
        invocation
            .arg(has_ceiling)
            .arg(ceiling_max)
            .arg(start)
            .arg(ttl_arg(pick.ttl)?)
            .arg(if pick.seeded_only { "1" } else { "0" });
        for candidate in pick.candidates {
            invocation.arg(candidate);
        }
        let answer: Option<(i64, ::redis::Value, Option<i64>)> = invocation
            .invoke_async(&mut self.connection.clone())
            .await?;
        match answer {
            None => Ok(None),
            Some((1, winner, Some(score))) => Ok(Some((parse(winner)?, score))),
            Some((0, index, _)) => {
                let index: usize = parse(index)?;
                let key = keys
                    .get(index.saturating_sub(1))
                    .copied()
                    .unwrap_or(pick.balance);
                Err(CoordError::Unseeded {
                    key: key.to_owned(),
                })
            }
            Some(other) => Err(CoordError::Backend(format!(
                "unexpected balance_pick answer {other:?}"
            ))),
        }
    }

    async fn balance_add(
        &self,
        key: &str,
        member: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> CoordResult<i64> {
        Ok(self
            .scripts
            .balance_add
            .key(self.key("bal", key))
            .arg(member)
            .arg(delta)
            .arg(ttl_arg(ttl)?)
            .invoke_async(&mut self.connection.clone())
            .await?)
    }

    async fn balance_scores(&self, key: &str) -> CoordResult<Vec<(String, i64)>> {
        let scores: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.key("bal", key))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut self.connection.clone())
            .await?;
        // Scores only ever change by integer deltas, so they are exact integers.
        Ok(scores
            .into_iter()
            .map(|(member, score)| (member, score as i64))
            .collect())
    }

    async fn balance_exists(&self, key: &str) -> CoordResult<bool> {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(self.key("bal", key))
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(exists == 1)
    }

    async fn window_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> CoordResult<WindowDecision> {
        let window_ms = duration_ms("window", window)?;
        if cost > limit {
            return Err(CoordError::CostExceedsLimit {
                key: key.to_owned(),
                cost,
                limit,
            });
        }
        let (allowed, count, retry_after_us): (i64, u64, u64) = self
            .scripts
            .window_hit
            .key(self.key("win", key))
            .arg(limit)
            .arg(window_ms)
            .arg(cost)
            .arg(rand::random::<u64>())
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(WindowDecision {
            allowed: allowed == 1,
            count,
            retry_after: Duration::from_micros(retry_after_us),
        })
    }

    async fn rate_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> CoordResult<WindowDecision> {
        let window_ms = duration_ms("window", window)?;
        rate_limit("limit", limit)?;
        let (allowed, count, retry_after_us): (i64, u64, u64) = self
            .scripts
            .rate_hit
            .key(self.key("rate", key))
            .arg(limit)
            .arg(window_ms)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(WindowDecision {
            allowed: allowed == 1,
            count,
            retry_after: Duration::from_micros(retry_after_us),
        })
    }

    async fn window_seed(
        &self,
        key: &str,
        hits_unix_ms: &[i64],
        window: Duration,
    ) -> CoordResult<bool> {
        let mut invocation = self.scripts.window_seed.key(self.key("win", key));
        invocation
            .arg(duration_ms("window", window)?)
            .arg(rand::random::<u64>());
        for at_ms in hits_unix_ms {
            invocation.arg(at_ms);
        }
        let seeded: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(seeded == 1)
    }

    async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> CoordResult<Option<Fence>> {
        let fence: Option<u64> = self
            .scripts
            .lease_acquire
            .key(self.key("lease", name))
            .key(self.key("fence:lease", name))
            .arg(holder)
            .arg(duration_ms("ttl", ttl)?)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(fence.map(Fence))
    }

    async fn lease_release(&self, name: &str, holder: &str) -> CoordResult<bool> {
        let released: i64 = self
            .scripts
            .lease_release
            .key(self.key("lease", name))
            .arg(holder)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(released == 1)
    }

    async fn publish(&self, channel: &str, message: &str) -> CoordResult<()> {
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(self.key("chan", channel))
            .arg(message)
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> CoordResult<BoxStream<'static, String>> {
        // A subscribed connection can run no other command, hence its own connection; the
        // subscription is confirmed before this returns, so no later publish is missed.
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key("chan", channel)).await?;
        let messages = pubsub
            .into_on_message()
            .filter_map(|message| async move { message.get_payload::<String>().ok() });
        Ok(messages.boxed())
    }
}

/// A value of a script's answer, a malformed one reported as a backend failure.
fn parse<T: ::redis::FromRedisValue>(value: ::redis::Value) -> CoordResult<T> {
    ::redis::from_redis_value(value).map_err(|error| CoordError::Backend(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_protects_scan_patterns() {
        assert_eq!(glob_escape("maitre-test-1"), "maitre-test-1");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn ttl_arg_is_zero_for_none_and_rounds_up() {
        assert_eq!(ttl_arg(None).ok().as_deref(), Some("0"));
        assert_eq!(
            ttl_arg(Some(Duration::from_micros(1200))).ok().as_deref(),
            Some("2")
        );
        assert!(ttl_arg(Some(Duration::ZERO)).is_err());
    }
}
