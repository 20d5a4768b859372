//! Gateway-only settings (rate limits, CORS, size and time limits), from `MAITRE_*`
//! environment variables with defaults; tests build them directly.

use std::time::Duration;

use crate::{GatewayError, edge::RateLimits};

/// Settings of the gateway's edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Requests per minute per token (`MAITRE_RATE_LIMIT_PER_MINUTE`, default 6000) and per
    /// chain (`MAITRE_CHAIN_RATE_LIMIT_PER_MINUTE`, default 60000).
    pub rate_limits: RateLimits,
    /// Origins allowed cross-origin access (`MAITRE_CORS_ORIGINS`, comma list; empty = none).
    pub cors_origins: Vec<String>,
    /// Largest request body (`MAITRE_MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Largest bulk import body (`/v1/events:batch`; `MAITRE_MAX_IMPORT_BODY_BYTES`, default
    /// 16 MiB: 10,000 events of about 1.6 KB of JSON each).
    pub max_import_body_bytes: usize,
    /// Time until response headers (`MAITRE_REQUEST_TIMEOUT_SECS`, default 30).
    pub request_timeout: Duration,
    /// Units of a replica's requests in flight one chain may hold (`MAITRE_CHAIN_CONCURRENCY`,
    /// default 16; a request costs one unit plus one per 32 KiB of body, `shares`).
    pub chain_concurrency: u32,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            rate_limits: RateLimits::default(),
            cors_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_import_body_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            chain_concurrency: 16,
        }
    }
}

impl GatewayOptions {
    /// From the process environment.
    pub fn from_env() -> Result<Self, GatewayError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    /// Through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GatewayError> {
        let defaults = Self::default();
        let number = |variable: &str, default: u64| -> Result<u64, GatewayError> {
            match lookup(variable) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(GatewayError::Config {
                        variable: variable.into(),
                        reason: format!("`{text}` is not a positive integer"),
                    }),
                },
            }
        };
        let per_token = number(
            "MAITRE_RATE_LIMIT_PER_MINUTE",
            defaults.rate_limits.per_token_per_minute,
        )?;
        let per_chain = number(
            "MAITRE_CHAIN_RATE_LIMIT_PER_MINUTE",
            defaults.rate_limits.per_chain_per_minute,
        )?;
        let max_body = number("MAITRE_MAX_BODY_BYTES", defaults.max_body_bytes as u64)?;
        let max_import_body = number(
            "MAITRE_MAX_IMPORT_BODY_BYTES",
            defaults.max_import_body_bytes as u64,
        )?;
        let timeout = number(
            "MAITRE_REQUEST_TIMEOUT_SECS",
            defaults.request_timeout.as_secs(),
        )?;
        let chain_concurrency = number(
            "MAITRE_CHAIN_CONCURRENCY",
            u64::from(defaults.chain_concurrency),
        )?;
        let cors_origins = lookup("MAITRE_CORS_ORIGINS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            rate_limits: RateLimits {
                per_token_per_minute: per_token,
                per_chain_per_minute: per_chain,
            },
            cors_origins,
            max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
            max_import_body_bytes: usize::try_from(max_import_body).unwrap_or(usize::MAX),
            request_timeout: Duration::from_secs(timeout),
            chain_concurrency: u32::try_from(chain_concurrency).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Result<GatewayOptions, GatewayError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayOptions::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(options(&[]).unwrap(), GatewayOptions::default());
        let o = options(&[
            ("MAITRE_RATE_LIMIT_PER_MINUTE", "10"),
            (
                "MAITRE_CORS_ORIGINS",
                "https://a.example, https://b.example,",
            ),
        ])
        .unwrap();
        assert_eq!(o.rate_limits.per_token_per_minute, 10);
        assert_eq!(o.rate_limits.per_chain_per_minute, 60_000);
        assert_eq!(o.cors_origins, ["https://a.example", "https://b.example"]);
    }

    #[test]
    fn refuses_unusable_numbers_naming_the_variable() {
        for bad in ["0", "-1", "many"] {
            let err = options(&[("MAITRE_RATE_LIMIT_PER_MINUTE", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("MAITRE_RATE_LIMIT_PER_MINUTE"),
                "{err}"
            );
        }
    }
}
