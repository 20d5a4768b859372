//! The service's dependencies, built once in `serve` and shared by handlers, the profile
//! consumer, jobs and the schedule.

use std::sync::Arc;

use maitre_kit::runtime::Runtime;

use crate::{bitmaps::Bitmaps, engine::ruleset::RuleSets};

pub struct Deps {
    pub runtime: Runtime,
    /// Compiled rules per chain.
    pub rules: RuleSets,
    /// Membership bitmaps per chain (a cache of `tag_membership`).
    pub bitmaps: Arc<Bitmaps>,
}

impl Deps {
    pub fn new(runtime: Runtime) -> Arc<Self> {
        Arc::new(Deps {
            runtime,
            rules: RuleSets::default(),
            bitmaps: Arc::new(Bitmaps::default()),
        })
    }
}
