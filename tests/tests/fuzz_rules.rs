//! Fuzzing the rule language and segment expression parsers (issue 21): arbitrary text and
//! soups of the languages' own tokens never panic, every refusal says where, and rules built
//! from the grammar compile. Bounded for CI by proptest's case counts.

use maitre_tagging::domain::{
    rule::{Interner, compile},
    segment::parse_segment,
};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "visits(30d)",
    "spend(7d)",
    "avg_ticket(90d)",
    "dish_share(\"seafood\", 90d)",
    "store_visits(\"s1\", 1y)",
    "days_since_last_visit",
    "birthday_within(7d)",
    "attr(\"gender\")",
    "has_tag(\"vip\")",
    "class",
    "p_alive",
    "p_alive()",
    "expected_visits(30d)",
    "visits(",
    "visits(3651d)",
    "visits(0d)",
    ">",
    ">=",
    "<",
    "<=",
    "==",
    "!=",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "\"A\"",
    "\"\\q\"",
    "\"unterminated",
    "5",
    "0.3",
    "-1",
    "1e999",
    "99999999999999999999999",
    "likes_dessert",
    "vip",
    "\u{0}",
    "長",
];

fn catalog(name: &str) -> bool {
    matches!(name, "vip" | "likes_dessert")
}

/// A well-formed rule of at most `depth` levels.
fn rule(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        (0u32..50).prop_map(|n| format!("visits(30d) > {n}")),
        (0u32..500).prop_map(|n| format!("avg_ticket(90d) >= {n}")),
        (0u32..400).prop_map(|n| format!("days_since_last_visit >= {n}")),
        (1u32..60).prop_map(|n| format!("birthday_within({n}d)")),
        Just("dish_share(\"seafood\", 90d) >= 0.3".to_owned()),
        Just("has_tag(\"vip\")".to_owned()),
        Just("class == \"A\"".to_owned()),
        Just("p_alive < 0.3".to_owned()),
    ];
    leaf.prop_recursive(depth, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_rule_or_a_located_refusal(source in "\\PC{0,120}") {
        if let Err(error) = compile(&source, &catalog, &mut Interner::new()) {
            prop_assert!(!error.to_string().is_empty());
        }
        let _ = parse_segment(&source);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let source: Vec<&str> = tokens.iter().map(|i| TOKENS[*i]).collect();
        let source = source.join(" ");
        if let Err(error) = compile(&source, &catalog, &mut Interner::new()) {
            prop_assert!(!error.to_string().is_empty(), "{source}");
        }
        let _ = parse_segment(&source);
    }

    #[test]
    fn rules_from_the_grammar_compile(source in rule(4)) {
        let compiled = compile(&source, &catalog, &mut Interner::new());
        prop_assert!(compiled.is_ok(), "{source}: {:?}", compiled.err());
    }
}
