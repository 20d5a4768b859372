//! The segment benchmark's data: 100 tags over dense customer numbers with densities from
//! 0.1% to 40% (log-spaced, spread over the tag numbers by a fixed permutation), drawn as
//! roaring bitmaps, and the segment count the service answers — `parse_segment` then
//! `SegmentExpr::evaluate` with leaves cloned out of the tag map, as
//! `api::segments` does it.

use std::collections::HashMap;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use maitre_tagging::domain::segment::{Leaf, parse_segment};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;

use super::report::quantile;

pub const TAG_COUNT: u16 = 100;
const MIN_DENSITY: f64 = 0.001;
const MAX_DENSITY: f64 = 0.40;

/// The tag's name (`t7`), as segments and PostgreSQL's `tag_id` name it.
pub fn tag_name(tag: u16) -> String {
    format!("t{tag}")
}

/// Share of customers carrying tag `tag`: rank `37·tag mod 100` on a log scale from 0.1%
/// to 40% (37 is prime to 100, so every density occurs once and neighbours differ).
pub fn tag_density(tag: u16) -> f64 {
    let rank = f64::from((u32::from(tag) * 37) % u32::from(TAG_COUNT));
    let top = f64::from(TAG_COUNT - 1);
    MIN_DENSITY * (MAX_DENSITY / MIN_DENSITY).powf(rank / top)
}

/// The tags' bitmaps and the universe (every customer).
#[derive(Debug, Clone, PartialEq)]
pub struct TagBitmaps {
    pub universe: RoaringBitmap,
    /// Tag name → members, like the service's `ChainBitmaps::tags`.
    pub tags: HashMap<String, RoaringBitmap>,
}

impl TagBitmaps {
    /// Σ `serialized_size` over the tags and the universe (what the service reports as
    /// `bitmap_bytes`).
    pub fn serialized_bytes(&self) -> usize {
        self.tags
            .values()
            .map(RoaringBitmap::serialized_size)
            .sum::<usize>()
            + self.universe.serialized_size()
    }

    pub fn memberships(&self) -> u64 {
        self.tags.values().map(RoaringBitmap::len).sum()
    }
}

/// Draws every tag's members over `0..customers`: gaps between members are geometric
/// with the tag's density, so each customer carries the tag independently. Tags are drawn
/// on `threads` threads, each from its own seed, so the result does not depend on them.
pub fn generate_tag_bitmaps(customers: u32, seed: u64, threads: usize) -> Result<TagBitmaps> {
    ensure!(customers > 0, "no customers");
    let tags: Vec<u16> = (0..TAG_COUNT).collect();
    let per_thread = tags.len().div_ceil(threads.max(1)).max(1);
    let drawn: Vec<(u16, RoaringBitmap)> = std::thread::scope(|scope| {
        let handles: Vec<_> = tags
            .chunks(per_thread)
            .map(|mine| {
                scope.spawn(move || {
                    mine.iter()
                        .map(|&tag| (tag, draw_members(customers, tag_density(tag), seed, tag)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    ensure!(drawn.len() == tags.len(), "a tag generator thread panicked");
    // Built as the service builds it (`ChainBitmaps::add_customers` inserts one number at a
    // time), which leaves plain bitmap containers, not runs.
    let universe = RoaringBitmap::from_sorted_iter(0..customers).unwrap_or_default();
    Ok(TagBitmaps {
        universe,
        tags: drawn
            .into_iter()
            .map(|(tag, members)| (tag_name(tag), members))
            .collect(),
    })
}

fn draw_members(customers: u32, density: f64, seed: u64, tag: u16) -> RoaringBitmap {
    let mut rng =
        StdRng::seed_from_u64(seed ^ (u64::from(tag) + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let log_miss = (1.0 - density).ln();
    let mut next = 0u64;
    let members = std::iter::from_fn(move || {
        // Geometric skip: failures before the next success, by inversion.
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        next += (u.ln() / log_miss).floor() as u64;
        let member = u32::try_from(next).ok().filter(|&n| n < customers)?;
        next += 1;
        Some(member)
    });
    RoaringBitmap::from_sorted_iter(members).unwrap_or_default()
}

/// A segment count as the service answers it: parse, evaluate over the bitmaps (each
/// tag leaf cloned from the map, unknown tags empty), count.
pub fn count_segment(expression: &str, bitmaps: &TagBitmaps) -> Result<u64> {
    let expr = parse_segment(expression)?;
    let members = expr.evaluate(&bitmaps.universe, &|leaf| match leaf {
        Leaf::Tag { name } => bitmaps.tags.get(name).cloned().unwrap_or_default(),
        _ => RoaringBitmap::new(),
    });
    Ok(members.len())
}

/// Counts `expression` `warmups` times untimed, then `runs` times timed; returns the
/// median time and the count.
pub fn median_segment_count(
    expression: &str,
    bitmaps: &TagBitmaps,
    warmups: usize,
    runs: usize,
) -> Result<(Duration, u64)> {
    let mut count = count_segment(expression, bitmaps)?;
    for _ in 0..warmups {
        count_segment(expression, bitmaps)?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        count = count_segment(expression, bitmaps)?;
        times.push(started.elapsed());
    }
    let median = quantile(&mut times, 0.5).context("no timed segment count")?;
    Ok((median, count))
}

/// Resident set size of this process in bytes (Linux `/proc/self/status`, `VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn densities_span_the_range_once_each() {
        let mut densities: Vec<f64> = (0..TAG_COUNT).map(tag_density).collect();
        densities.sort_by(f64::total_cmp);
        assert!((densities[0] - MIN_DENSITY).abs() < 1e-12);
        assert!((densities[99] - MAX_DENSITY).abs() < 1e-9);
        assert!(densities.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bitmaps_follow_their_densities_and_the_seed() {
        let bitmaps = generate_tag_bitmaps(200_000, 9, 3).expect("drawn");
        assert_eq!(bitmaps, generate_tag_bitmaps(200_000, 9, 1).expect("drawn"));
        assert_eq!(bitmaps.universe.len(), 200_000);
        for tag in 0..TAG_COUNT {
            let members = &bitmaps.tags[&tag_name(tag)];
            let expected = 200_000.0 * tag_density(tag);
            let sd = expected.sqrt();
            assert!(
                (members.len() as f64 - expected).abs() < 5.0 * sd + 1.0,
                "t{tag}: {} vs {expected}",
                members.len()
            );
            assert!(members.max().is_none_or(|m| m < 200_000));
        }
        assert!(bitmaps.serialized_bytes() > 0);
    }

    #[test]
    fn segment_counts_match_a_plain_set_computation() {
        let bitmaps = generate_tag_bitmaps(50_000, 3, 2).expect("drawn");
        let has = |tag: &str, c: u32| bitmaps.tags[tag].contains(c);
        let expected = (0..50_000u32)
            .filter(|&c| has("t27", c) && (has("t54", c) || has("t81", c)) && !has("t8", c))
            .count() as u64;
        let counted = count_segment("t27 and (t54 or t81) and not t8", &bitmaps);
        assert_eq!(counted.ok(), Some(expected));
        assert!(count_segment("t27 and", &bitmaps).is_err());
        assert_eq!(count_segment("nosuchtag", &bitmaps).ok(), Some(0));
        let timed = median_segment_count("t27 and not t8", &bitmaps, 1, 5).expect("timed");
        assert_eq!(
            Some(timed.1),
            count_segment("t27 and not t8", &bitmaps).ok()
        );
    }

    #[test]
    fn resident_size_is_readable_on_linux() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
