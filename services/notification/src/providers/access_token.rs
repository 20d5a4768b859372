//! One access token per provider app, shared by every replica: WeCom (`gettoken`) and WeChat
//! (`stable_token`) both hand out a token valid for `expires_in` seconds and limit how often it
//! may be fetched, so it lives in the coordination store (Redis in production, in-process when
//! embedded), is fetched by one replica at a time (a lock), expires from the store a margin
//! before the provider's expiry, and is forgotten — only that token, a replica may have stored a
//! newer one — when the provider answers that it is not valid, before the one retry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::{CoordError, Coordination};

use super::ProviderError;

/// A token is dropped from the store this long before the provider says it expires (replicas'
/// clocks and the request in flight).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How long one replica may hold the fetch lock.
const FETCH_LOCK: Duration = Duration::from_secs(10);

/// One app's token in the shared store under `key`.
#[derive(Clone)]
pub struct SharedToken {
    coord: Arc<dyn Coordination>,
    key: String,
    provider: &'static str,
}

impl SharedToken {
    /// `provider` names it in errors (`wecom`, `wechat`); `key` is unique per app.
    pub fn new(coord: Arc<dyn Coordination>, provider: &'static str, key: String) -> Self {
        Self {
            coord,
            key,
            provider,
        }
    }

    fn store_error(&self, e: CoordError) -> ProviderError {
        ProviderError::Transient {
            error: format!("{} token store: {e}", self.provider),
            retry_after_ms: None,
        }
    }

    /// The shared token; when there is none, `fetch` (by one replica at a time) answers
    /// `(token, expires_in seconds)`.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<String, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, u64), ProviderError>>,
    {
        let key = &self.key;
        if let Some(token) = self.coord.get(key).await.map_err(|e| self.store_error(e))? {
            return Ok(token);
        }
        let lock_key = format!("{key}:fetch");
        // Another replica fetching: wait for its token a little, then fetch regardless.
        let mut fence = None;
        for _ in 0..20 {
            fence = self
                .coord
                .lock(&lock_key, FETCH_LOCK)
                .await
                .map_err(|e| self.store_error(e))?;
            if fence.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(token) = self.coord.get(key).await.map_err(|e| self.store_error(e))? {
                return Ok(token);
            }
        }
        // The lock holder may have stored it just before we took the lock.
        if let Some(token) = self.coord.get(key).await.map_err(|e| self.store_error(e))? {
            if let Some(fence) = fence {
                let _ = self.coord.unlock(&lock_key, fence).await;
            }
            return Ok(token);
        }
        let fetched = fetch().await;
        if let Ok((token, expires_in)) = &fetched {
            let ttl = Duration::from_secs(*expires_in)
                .saturating_sub(REFRESH_MARGIN)
                .max(Duration::from_secs(1));
            self.coord
                .set(key, token, Some(ttl))
                .await
                .map_err(|e| self.store_error(e))?;
        }
        if let Some(fence) = fence {
            let _ = self.coord.unlock(&lock_key, fence).await;
        }
        fetched.map(|(token, _)| token)
    }

    /// Forgets `token` (only that one: a replica may have stored a newer).
    pub async fn forget(&self, token: &str) {
        let _ = self
            .coord
            .compare_and_set(&self.key, Some(token), None, None)
            .await;
    }
}
