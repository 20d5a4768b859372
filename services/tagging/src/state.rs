//! The service's dependencies, built once in `serve` and shared by handlers, the profile
//! consumer, jobs and the schedule.

use std::sync::Arc;

use maitre_kit::runtime::Runtime;

use crate::{
    domain::analysis::DEFAULT_RESPONSE_WINDOW_DAYS,
    storage::{bitmaps::Bitmaps, ruleset::RuleSets},
};

/// The environment variable of the campaign response window.
pub const RESPONSE_WINDOW_VAR: &str = "MAITRE_TAGGING_RESPONSE_WINDOW_DAYS";

/// The response window from its setting: 1–365 days, else the default.
pub fn response_window_days(setting: Option<&str>) -> i32 {
    setting
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(DEFAULT_RESPONSE_WINDOW_DAYS)
}

pub struct Deps {
    pub runtime: Runtime,
    /// Compiled rules per chain.
    pub rules: RuleSets,
    /// Membership bitmaps per chain (a cache of `tag_membership`).
    pub bitmaps: Arc<Bitmaps>,
    /// Days after a campaign send within which a visit counts as a response
    /// (`MAITRE_TAGGING_RESPONSE_WINDOW_DAYS`, default 7).
    pub response_window_days: i32,
}

impl Deps {
    pub fn new(runtime: Runtime) -> Arc<Self> {
        Arc::new(Deps {
            runtime,
            rules: RuleSets::default(),
            bitmaps: Arc::new(Bitmaps::default()),
            response_window_days: response_window_days(
                std::env::var(RESPONSE_WINDOW_VAR).ok().as_deref(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_window_setting() {
        assert_eq!(response_window_days(None), 7);
        assert_eq!(response_window_days(Some(" 14 ")), 14);
        assert_eq!(response_window_days(Some("0")), 7);
        assert_eq!(response_window_days(Some("soon")), 7);
    }
}
