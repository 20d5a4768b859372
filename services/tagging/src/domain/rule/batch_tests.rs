//! Batch path: 20 rules over 10 000 synthetic customers with one reused `CustomerFacts`,
//! cross-checked against plain re-statements of some rules (no timing asserts).

use super::*;

const TODAY: EpochDay = 20_000;

fn catalog(tag: &str) -> bool {
    ["vip", "churned"].contains(&tag)
}

/// Deterministic pseudo-random numbers for the synthetic batch (no extra dependency).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const BATCH_RULES: [&str; 20] = [
    "visits(30d) > 5 and avg_ticket(30d) > 150",
    "days_since_last_visit >= 60",
    "birthday_within(7d)",
    r#"dish_share("seafood", 90d) >= 0.3"#,
    "spend(365d) >= 5000",
    r#"store_visits("s1", 30d) >= 2"#,
    r#"attr("gender") == "female""#,
    r#"has_tag("vip") and not has_tag("churned")"#,
    r#"class == "A""#,
    "p_alive < 0.3",
    "expected_visits(30d) >= 2",
    "visits(90d) == 0",
    "spend(30d) / (visits(30d) + 1) > 100",
    r#"not (class == "C") and visits(1y) >= 3"#,
    "avg_ticket(12w) >= 80 or spend(1y) > 2000",
    r#"dish_share("dessert", 6m) > 0 and birthday_within(30d)"#,
    "days_since_last_visit < 7",
    r#"store_visits("s2", 1y) > store_visits("s1", 1y)"#,
    r#"p_alive >= 0.3 and has_tag("vip")"#,
    "visits(7d) >= 1 or visits(14d) >= 2",
];

/// Straightforward re-statements of a few batch rules, to cross-check the compiled path.
fn reference(
    rule_index: usize,
    visits: &[(EpochDay, i64, u32)],
    p_alive: Option<f64>,
    vip: bool,
    churned: bool,
) -> Option<bool> {
    let in_window = |days: i32| {
        visits
            .iter()
            .filter(move |v| v.0 > TODAY - days && v.0 <= TODAY)
    };
    match rule_index {
        // A visit is a day with orders (`maitre_kit::visits`).
        0 => {
            let n = maitre_kit::visits::count_visits(in_window(30).map(|v| v.0));
            let spend: i64 = in_window(30).map(|v| v.1).sum();
            Some(n > 5 && spend as f64 / 100.0 / n as f64 > 150.0)
        }
        1 => visits
            .iter()
            .filter(|v| v.0 <= TODAY)
            .map(|v| TODAY - v.0)
            .min()
            .map(|d| d >= 60)
            .or(Some(false)),
        4 => Some(in_window(365).map(|v| v.1).sum::<i64>() >= 500_000),
        5 => Some(
            maitre_kit::visits::count_visits(in_window(30).filter(|v| v.2 == 1).map(|v| v.0)) >= 2,
        ),
        7 => Some(vip && !churned),
        9 => Some(p_alive.is_some_and(|p| p < 0.3)),
        _ => None,
    }
}

#[test]
fn batch_of_20_rules_over_10_000_customers() {
    let mut interner = Interner::new();
    let rules: Vec<CompiledRule> = BATCH_RULES
        .iter()
        .map(|src| compile(src, &catalog, &mut interner))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    assert_eq!(rules.len(), 20);
    let stores = [
        interner.store("s0"),
        interner.store("s1"),
        interner.store("s2"),
    ];
    let categories = [
        interner.category("seafood"),
        interner.category("dessert"),
        interner.category("staple"),
    ];
    let (vip, churned, gender) = (
        interner.tag("vip"),
        interner.tag("churned"),
        interner.attribute("gender"),
    );

    let mut rng = SplitMix(42);
    let mut facts = CustomerFacts::new();
    let mut matches = [0usize; 20];
    let mut lines = Vec::new();
    let mut raw_visits = Vec::new();
    for _customer in 0..10_000 {
        facts.clear();
        raw_visits.clear();
        for _ in 0..rng.below(40) {
            let day = TODAY - rng.below(500) as i32;
            let amount_fen = 2_000 + rng.below(40_000) as i64;
            let store = rng.below(3) as u32;
            lines.clear();
            for _ in 0..rng.below(6) {
                let pick = rng.below(4) as usize;
                lines.push(categories.get(pick).copied());
            }
            facts.add_visit(day, amount_fen, stores[store as usize], &lines);
            raw_visits.push((day, amount_fen, store));
        }
        let is_vip = rng.below(5) == 0;
        let is_churned = rng.below(7) == 0;
        if is_vip {
            facts.add_tag(vip);
        }
        if is_churned {
            facts.add_tag(churned);
        }
        facts.set_attribute(gender, if rng.below(2) == 0 { "female" } else { "male" });
        facts.set_class(['A', 'B', 'C'].get(rng.below(4) as usize).copied());
        facts.set_birthday(Birthday::new(
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        ));
        let p_alive = (rng.below(3) > 0).then(|| rng.below(1000) as f64 / 1000.0);
        facts.set_p_alive(p_alive);
        facts.set_expected_visits_per_day(p_alive.map(|p| p * 0.2));

        for (i, rule) in rules.iter().enumerate() {
            let result = rule.eval(&facts, TODAY);
            assert_eq!(
                result,
                rule.explain(&facts, TODAY).result,
                "eval and explain agree"
            );
            if let Some(expected) = reference(i, &raw_visits, p_alive, is_vip, is_churned) {
                assert_eq!(result, expected, "rule {i} ({})", BATCH_RULES[i]);
            }
            matches[i] += usize::from(result);
        }
    }
    // Synthetic data is varied enough that every rule matches someone and not everyone,
    // except rule 11 (no visit in 90 days) which may legitimately be rare.
    for (i, count) in matches.iter().enumerate() {
        assert!(*count < 10_000, "rule {i} matched every customer");
        if i != 11 {
            assert!(*count > 0, "rule {i} matched nobody");
        }
    }
}
