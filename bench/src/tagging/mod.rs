//! The tagging benchmarks (issue 5, "Benchmarks"): live re-evaluation of one guest's 20
//! rules, the full recompute of 20 rules over a chain, and segment counts over roaring
//! bitmaps — each side by side with PostgreSQL in the same run.
//!
//! - [`chain`]: the synthetic chain (guests, visits, dishes, stores).
//! - [`rules`]: the 20 rules and the load-then-evaluate loop of the engine.
//! - [`segments`]: tag bitmaps with realistic densities, the service's segment count.
//! - [`sql`], [`postgres`]: the same work in PostgreSQL.
//! - [`report`]: rows, verdicts, units; [`scale`]: sizes from the environment.
//!
//! This module runs the engine side on all cores (`std::thread::scope`, one contiguous
//! share of the guests per thread).

pub mod chain;
pub mod postgres;
pub mod report;
pub mod rules;
pub mod scale;
pub mod segments;
pub mod sql;

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use crate::timing::best_of;
use maitre_tagging::domain::rule::CustomerFacts;

use chain::{ChainVisit, TaggingChain};
use rules::{RULE_COUNT, RuleBook};

/// The threads to use: `MAITRE_BENCH_THREADS`, else every core.
pub fn thread_count() -> usize {
    std::env::var("MAITRE_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Every guest's facts in memory, built on `threads` threads.
pub fn build_all_facts(
    book: &RuleBook,
    chain: &TaggingChain,
    threads: usize,
) -> Result<Vec<CustomerFacts>> {
    let customers: Vec<usize> = (0..chain.customers()).collect();
    let per_thread = customers.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Option<Vec<CustomerFacts>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = customers
            .chunks(per_thread)
            .map(|mine| {
                scope.spawn(move || {
                    mine.iter()
                        .map(|&c| {
                            let mut facts = CustomerFacts::new();
                            book.load_facts(chain, c, None, &mut facts);
                            facts
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut all = Vec::with_capacity(chain.customers());
    for part in parts {
        all.extend(part.ok_or_else(|| anyhow!("a facts thread panicked"))?);
    }
    Ok(all)
}

/// Evaluates every rule for every guest on `threads` threads; returns each rule's member
/// count. True rule tags join the facts (as in the engine), so running it again gives the
/// same counts.
pub fn evaluate_all(
    book: &RuleBook,
    facts: &mut [CustomerFacts],
    today: i32,
    threads: usize,
) -> Result<[u64; RULE_COUNT]> {
    let per_thread = facts.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Option<[u64; RULE_COUNT]>> = std::thread::scope(|scope| {
        let handles: Vec<_> = facts
            .chunks_mut(per_thread)
            .map(|mine| {
                scope.spawn(move || {
                    let mut counts = [0u64; RULE_COUNT];
                    for customer in mine {
                        let holds = book.evaluate(customer, today);
                        for (count, h) in counts.iter_mut().zip(holds) {
                            *count += u64::from(h);
                        }
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut total = [0u64; RULE_COUNT];
    for part in parts {
        let part = part.ok_or_else(|| anyhow!("an evaluation thread panicked"))?;
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    Ok(total)
}

/// Builds every guest's facts (timed once), then times the evaluation of every rule for
/// every guest, best of 3. Returns (build time, evaluation time, member counts).
pub fn engine_recompute(
    book: &RuleBook,
    chain: &TaggingChain,
    threads: usize,
) -> Result<(Duration, Duration, [u64; RULE_COUNT])> {
    let started = Instant::now();
    let mut facts = build_all_facts(book, chain, threads)?;
    let built = started.elapsed();
    let (evaluated, counts) = best_of(0, 3, || {
        evaluate_all(book, &mut facts, chain.today, threads)
    })?;
    Ok((built, evaluated, counts))
}

/// The live path, `evaluations` times over distinct guests spread through the chain: a
/// visit arrives today, the guest's facts are reloaded with it and the 20 rules
/// re-evaluated, one thread, each evaluation timed. Returns the latencies and how often
/// each rule held (so the work cannot be optimised away).
pub fn live_latencies(
    book: &RuleBook,
    chain: &TaggingChain,
    evaluations: usize,
) -> (Vec<Duration>, [u64; RULE_COUNT]) {
    let mut facts = CustomerFacts::new();
    let mut latencies = Vec::with_capacity(evaluations);
    let mut held = [0u64; RULE_COUNT];
    let customers = chain.customers().max(1);
    // A stride prime to any realistic chain size visits guests in a scattered order.
    let stride = 7_919usize;
    for i in 0..evaluations {
        let customer = (i * stride) % customers;
        let event = ChainVisit {
            day: chain.today,
            amount_fen: 16_800,
            store: (i % 50) as u16,
            dish_lines: 4,
            category_lines: [1, 1, 0, 1, 0, 0, 0, 0],
        };
        let started = Instant::now();
        book.load_facts(chain, customer, Some(&event), &mut facts);
        let holds = book.evaluate(&mut facts, chain.today);
        latencies.push(started.elapsed());
        for (count, h) in held.iter_mut().zip(holds) {
            *count += u64::from(h);
        }
    }
    (latencies, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::{TaggingChainSpec, generate_tagging_chain};

    #[test]
    fn parallel_recompute_equals_one_thread_and_repeats() {
        let chain =
            generate_tagging_chain(&TaggingChainSpec::two_years(20_000, 3), 2).expect("drawn");
        let book = RuleBook::compile().expect("compiles");
        let mut one = build_all_facts(&book, &chain, 1).expect("built");
        let mut three = build_all_facts(&book, &chain, 3).expect("built");
        assert_eq!(one.len(), 20_000);
        let counts = evaluate_all(&book, &mut one, chain.today, 1).expect("ran");
        assert_eq!(
            evaluate_all(&book, &mut three, chain.today, 3).ok(),
            Some(counts)
        );
        assert_eq!(
            evaluate_all(&book, &mut three, chain.today, 3).ok(),
            Some(counts)
        );
        assert!(counts.iter().all(|&c| c > 0 && c < 20_000), "{counts:?}");
    }

    #[test]
    fn live_evaluations_are_timed_one_by_one() {
        let chain =
            generate_tagging_chain(&TaggingChainSpec::two_years(2_000, 3), 1).expect("drawn");
        let book = RuleBook::compile().expect("compiles");
        let (latencies, held) = live_latencies(&book, &chain, 500);
        assert_eq!(latencies.len(), 500);
        // Every guest just visited: nobody is a churn risk or lapsed; about half are women.
        let at = |name: &str| {
            rules::RULES
                .iter()
                .position(|r| r.name == name)
                .unwrap_or(0)
        };
        assert_eq!((held[at("churn_risk")], held[at("lapsed")]), (0, 0));
        assert!((150..350).contains(&held[at("female_guest")]), "{held:?}");
    }
}
