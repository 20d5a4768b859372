//! The Lua scripts of [`super::RedisCoordination`], one per operation, from `coord/lua/`.
//! Scripts that issue fences are prefixed with `lua/fence.lua` (Lua has no includes here).

use redis::Script;

macro_rules! script_with_fence {
    ($file:literal) => {
        concat!(include_str!("../lua/fence.lua"), include_str!($file))
    };
}

/// The Lua scripts, hashed once per `RedisCoordination`.
pub(super) struct Scripts {
    pub(super) lock: Script,
    pub(super) unlock: Script,
    pub(super) compare_and_set: Script,
    pub(super) incr: Script,
    pub(super) balance_seed: Script,
    pub(super) balance_pick: Script,
    pub(super) balance_add: Script,
    pub(super) window_hit: Script,
    pub(super) window_seed: Script,
    pub(super) rate_hit: Script,
    pub(super) lease_acquire: Script,
    pub(super) lease_release: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            lock: Script::new(script_with_fence!("../lua/lock.lua")),
            unlock: Script::new(include_str!("../lua/unlock.lua")),
            compare_and_set: Script::new(include_str!("../lua/compare_and_set.lua")),
            incr: Script::new(include_str!("../lua/incr.lua")),
            balance_seed: Script::new(include_str!("../lua/balance_seed.lua")),
            balance_pick: Script::new(include_str!("../lua/balance_pick.lua")),
            balance_add: Script::new(include_str!("../lua/balance_add.lua")),
            window_hit: Script::new(include_str!("../lua/window_hit.lua")),
            window_seed: Script::new(include_str!("../lua/window_seed.lua")),
            rate_hit: Script::new(include_str!("../lua/rate_hit.lua")),
            lease_acquire: Script::new(script_with_fence!("../lua/lease_acquire.lua")),
            lease_release: Script::new(include_str!("../lua/lease_release.lua")),
        }
    }
}
