//! A synthetic restaurant chain for the tagging benchmarks: guests with profiles (birthday,
//! gender, RFM class, the manual tags `vip` and `churned`) and two years of visits with
//! amounts, stores and dish lines by category. Seeded and drawn in fixed blocks of guests,
//! so the same spec gives the same chain whatever the number of threads.
//!
//! Stored column-wise (one `Vec` of visits, sorted by day within each guest, and offsets per
//! guest) so 20,000,000 visits take ~400 MB and the same data can be loaded into the rule
//! engine's `CustomerFacts` and into PostgreSQL. Owns the simulation only.

use anyhow::{Context, Result, ensure};
use chrono::{Datelike, Days, NaiveDate};
use maitre_tagging::domain::rule::{EpochDay, epoch_day};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, Poisson};

/// Dish categories of the menu; index = category number.
pub const CATEGORIES: [&str; 8] = [
    "seafood",
    "dessert",
    "hotpot",
    "noodles",
    "vegetarian",
    "grill",
    "soup",
    "drinks",
];
pub const CATEGORY_COUNT: usize = CATEGORIES.len();
pub const STORE_COUNT: u16 = 50;
/// Guests drawn from one seed; fixed so the chain does not depend on the thread count.
const BLOCK_GUESTS: u32 = 16_384;

/// The store's name as rules and PostgreSQL see it (`store-007`).
pub fn store_name(store: u16) -> String {
    format!("store-{store:03}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Unset,
}

impl Gender {
    /// The profile attribute's value; `None` when unset.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            Gender::Female => Some("female"),
            Gender::Male => Some("male"),
            Gender::Unset => None,
        }
    }
}

/// What the profile service knows about a guest besides visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    /// (month, day); Feb 29 occurs.
    pub birthday: Option<(u8, u8)>,
    pub gender: Gender,
    /// RFM class `A`/`B`/`C`; `None` when unclassified.
    pub class: Option<char>,
    /// Manual tags.
    pub vip: bool,
    pub churned: bool,
}

/// One visit (order): dish lines counted per category; lines with no category are
/// `dish_lines − Σ category_lines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainVisit {
    pub day: EpochDay,
    pub amount_fen: u32,
    pub store: u16,
    pub dish_lines: u8,
    pub category_lines: [u8; CATEGORY_COUNT],
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaggingChainSpec {
    pub customers: u32,
    /// Mean visits per guest over the history (20 gives 20M visits for 1M guests).
    pub mean_visits: f64,
    pub history_days: u32,
    /// The last day of the history, the `today` rules are evaluated on.
    pub today: NaiveDate,
    pub seed: u64,
}

impl TaggingChainSpec {
    /// Two years of history ending 2025-06-30 (away from Feb 29, so every SQL birthday
    /// formulation agrees), 20 visits per guest on average.
    pub fn two_years(customers: u32, seed: u64) -> Self {
        TaggingChainSpec {
            customers,
            mean_visits: 20.0,
            history_days: 730,
            today: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap_or_default(),
            seed,
        }
    }
}

/// The drawn chain. Customer numbers are dense: `0..customers()`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggingChain {
    pub today: EpochDay,
    pub today_date: NaiveDate,
    pub guests: Vec<Guest>,
    /// `visit_starts[c]..visit_starts[c + 1]` are guest `c`'s visits.
    visit_starts: Vec<usize>,
    visits: Vec<ChainVisit>,
}

impl TaggingChain {
    /// A chain from explicit guests and their visits (each guest's sorted by day here).
    pub fn from_guests(today_date: NaiveDate, guests: Vec<(Guest, Vec<ChainVisit>)>) -> Self {
        let mut chain = TaggingChain {
            today: epoch_day(today_date),
            today_date,
            guests: Vec::with_capacity(guests.len()),
            visit_starts: vec![0],
            visits: Vec::new(),
        };
        for (guest, mut visits) in guests {
            visits.sort_by_key(|v| v.day);
            chain.guests.push(guest);
            chain.visits.extend(visits);
            chain.visit_starts.push(chain.visits.len());
        }
        chain
    }

    pub fn customers(&self) -> usize {
        self.guests.len()
    }

    pub fn visit_count(&self) -> usize {
        self.visits.len()
    }

    /// Guest `customer`'s visits in day order; empty for an unknown number.
    pub fn visits_of(&self, customer: usize) -> &[ChainVisit] {
        match (
            self.visit_starts.get(customer),
            self.visit_starts.get(customer + 1),
        ) {
            (Some(&start), Some(&end)) => self.visits.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The first `customers` guests (a smaller chain for the PostgreSQL comparison).
    pub fn prefix(&self, customers: usize) -> TaggingChain {
        let customers = customers.min(self.customers());
        let end = self.visit_starts[customers];
        TaggingChain {
            today: self.today,
            today_date: self.today_date,
            guests: self.guests[..customers].to_vec(),
            visit_starts: self.visit_starts[..=customers].to_vec(),
            visits: self.visits[..end].to_vec(),
        }
    }
}

/// Draws the chain on `threads` threads; the result does not depend on `threads`.
pub fn generate_tagging_chain(spec: &TaggingChainSpec, threads: usize) -> Result<TaggingChain> {
    ensure!(spec.history_days > 0, "history_days must be positive");
    ensure!(spec.mean_visits > 0.0, "mean_visits must be positive");
    let blocks: Vec<u32> = (0..spec.customers.div_ceil(BLOCK_GUESTS)).collect();
    let per_thread = blocks.len().div_ceil(threads.max(1)).max(1);
    let drawn: Vec<Result<Vec<Block>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = blocks
            .chunks(per_thread)
            .map(|mine| scope.spawn(move || mine.iter().map(|&b| draw_block(spec, b)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a generator thread panicked")))
            })
            .collect()
    });
    let mut guests = Vec::with_capacity(spec.customers as usize);
    let mut visit_starts = Vec::with_capacity(spec.customers as usize + 1);
    let mut visits = Vec::new();
    visit_starts.push(0);
    for block in drawn
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
    {
        visits.reserve(block.visits.len());
        for (guest, count) in block.guests.into_iter().zip(block.visit_counts) {
            guests.push(guest);
            visit_starts.push(visit_starts.last().copied().unwrap_or(0) + count);
        }
        visits.extend(block.visits);
    }
    Ok(TaggingChain {
        today: epoch_day(spec.today),
        today_date: spec.today,
        guests,
        visit_starts,
        visits,
    })
}

struct Block {
    guests: Vec<Guest>,
    visit_counts: Vec<usize>,
    visits: Vec<ChainVisit>,
}

fn draw_block(spec: &TaggingChainSpec, block: u32) -> Result<Block> {
    // SplitMix-style mixing keeps neighbouring blocks' streams unrelated.
    let mut rng = StdRng::seed_from_u64(
        spec.seed ^ (u64::from(block) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    // Visit counts are Gamma–Poisson (shape 1.2): many occasional guests, a long tail of
    // regulars with 100+ visits — the shape that makes per-customer latency vary.
    let visit_rate = Gamma::new(1.2, spec.mean_visits / 1.2)?;
    // Guests' own average tickets around ¥150 (15,000 fen), ±50%.
    let mean_ticket = Gamma::new(4.0, 15_000.0 / 4.0)?;
    let extra_lines = Poisson::new(2.5)?;
    let first = spec.customers.min(block * BLOCK_GUESTS);
    let last = spec.customers.min(first + BLOCK_GUESTS);
    let first_day = i64::from(epoch_day(spec.today)) - i64::from(spec.history_days) + 1;
    let mut out = Block {
        guests: Vec::with_capacity((last - first) as usize),
        visit_counts: Vec::with_capacity((last - first) as usize),
        visits: Vec::new(),
    };
    let mut days = Vec::new();
    for _ in first..last {
        out.guests.push(draw_guest(&mut rng));
        let lambda: f64 = visit_rate.sample(&mut rng);
        let count = if lambda > 0.0 {
            Poisson::new(lambda)?.sample(&mut rng) as usize
        } else {
            0
        };
        // Active from a random day; 45% stopped coming at a random later day (so
        // `days_since_last_visit` rules have members).
        let start = rng.random_range(0..spec.history_days);
        let end = if rng.random_bool(0.55) {
            spec.history_days
        } else {
            rng.random_range(start + 1..=spec.history_days)
        };
        days.clear();
        days.extend((0..count).map(|_| rng.random_range(start..end)));
        days.sort_unstable();
        let ticket_fen: f64 = mean_ticket.sample(&mut rng);
        let ticket = Gamma::new(8.0, ticket_fen.max(1_000.0) / 8.0)?;
        // A home store (skewed: low numbers are the big flagship stores) for 75% of visits.
        let home = (rng.random::<f64>().powi(2) * f64::from(STORE_COUNT)) as u16;
        let favourite = rng.random_range(0..CATEGORY_COUNT);
        for &offset in &days {
            let day = i32::try_from(first_day + i64::from(offset)).context("day out of range")?;
            let store = if rng.random_bool(0.75) {
                home
            } else {
                rng.random_range(0..STORE_COUNT)
            };
            let extra: f64 = extra_lines.sample(&mut rng);
            let dish_lines = (1.0 + extra).min(15.0) as u8;
            let mut category_lines = [0u8; CATEGORY_COUNT];
            for _ in 0..dish_lines {
                // 10% of lines (rice, tea) carry no category; 35% are the favourite.
                let roll: f64 = rng.random();
                if roll < 0.10 {
                    continue;
                }
                let category = if roll < 0.45 {
                    favourite
                } else {
                    rng.random_range(0..CATEGORY_COUNT)
                };
                category_lines[category] += 1;
            }
            let amount: f64 = ticket.sample(&mut rng);
            out.visits.push(ChainVisit {
                day,
                amount_fen: amount.round().clamp(100.0, 10_000_000.0) as u32,
                store,
                dish_lines,
                category_lines,
            });
        }
        out.visit_counts.push(days.len());
    }
    Ok(out)
}

fn draw_guest(rng: &mut StdRng) -> Guest {
    // Birthdays uniform over the 366 days of a leap year, 85% known.
    let birthday = rng.random_bool(0.85).then(|| {
        let date = NaiveDate::from_yo_opt(2000, rng.random_range(1..=366)).unwrap_or_default();
        (date.month() as u8, date.day() as u8)
    });
    let gender = match rng.random_range(0..100) {
        0..48 => Gender::Female,
        48..93 => Gender::Male,
        _ => Gender::Unset,
    };
    let class = match rng.random_range(0..10) {
        0 => Some('A'),
        1..4 => Some('B'),
        4..9 => Some('C'),
        _ => None,
    };
    Guest {
        birthday,
        gender,
        class,
        vip: rng.random_bool(0.05),
        churned: rng.random_bool(0.08),
    }
}

/// The first day of the history as a date (for tests and the PostgreSQL loader).
pub fn history_start(spec: &TaggingChainSpec) -> Option<NaiveDate> {
    spec.today
        .checked_sub_days(Days::new(u64::from(spec.history_days.saturating_sub(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(customers: u32) -> TaggingChainSpec {
        TaggingChainSpec::two_years(customers, 42)
    }

    #[test]
    fn the_chain_does_not_depend_on_the_thread_count_but_on_the_seed() {
        let one = generate_tagging_chain(&spec(40_000), 1).expect("drawn");
        let three = generate_tagging_chain(&spec(40_000), 3).expect("drawn");
        assert_eq!(one, three);
        let other = generate_tagging_chain(
            &TaggingChainSpec {
                seed: 43,
                ..spec(40_000)
            },
            1,
        )
        .expect("drawn");
        assert_ne!(one.visits, other.visits);
    }

    #[test]
    fn visits_are_in_the_history_sorted_and_shaped_like_the_spec() {
        let spec = spec(50_000);
        let chain = generate_tagging_chain(&spec, 2).expect("drawn");
        assert_eq!(chain.customers(), 50_000);
        let mean = chain.visit_count() as f64 / 50_000.0;
        assert!((18.5..21.5).contains(&mean), "{mean}");
        let first = history_start(&spec).map(epoch_day).expect("date");
        for c in 0..chain.customers() {
            let visits = chain.visits_of(c);
            assert!(visits.windows(2).all(|w| w[0].day <= w[1].day));
            for v in visits {
                assert!((first..=chain.today).contains(&v.day), "{v:?}");
                assert!(v.store < STORE_COUNT && v.dish_lines >= 1);
                let categorised: u32 = v.category_lines.iter().map(|&n| u32::from(n)).sum();
                assert!(categorised <= u32::from(v.dish_lines));
            }
        }
        let never = (0..chain.customers())
            .filter(|&c| chain.visits_of(c).is_empty())
            .count();
        assert!(never > 0 && never < 5_000, "{never} guests without visits");
        let vip = chain.guests.iter().filter(|g| g.vip).count() as f64 / 50_000.0;
        assert!((0.04..0.06).contains(&vip), "{vip}");
        assert!(chain.visits_of(50_000).is_empty());
    }

    #[test]
    fn a_prefix_keeps_the_first_guests_and_their_visits() {
        let chain = generate_tagging_chain(&spec(5_000), 1).expect("drawn");
        let prefix = chain.prefix(1_000);
        assert_eq!(prefix.customers(), 1_000);
        assert_eq!(prefix.visits_of(999), chain.visits_of(999));
        assert_eq!(prefix.guests[..], chain.guests[..1_000]);
        assert!(prefix.visits_of(1_000).is_empty());
    }
}
