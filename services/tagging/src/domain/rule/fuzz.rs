//! Property tests: the front end never panics on any input, and printing a tree then
//! reparsing it gives the same tree.

use proptest::prelude::*;

use super::*;

const VALID_RULES: [&str; 12] = [
    "visits(30d) > 5 and avg_ticket(30d) > 150",
    "days_since_last_visit >= 60",
    "birthday_within(7d)",
    r#"dish_share("seafood", 90d) >= 0.3"#,
    "spend(365d) >= 5000",
    r#"store_visits("store-id", 30d) >= 2"#,
    r#"attr("gender") == "female""#,
    r#"has_tag("vip") and not has_tag("churned")"#,
    r#"class == "A""#,
    "p_alive < 0.3 or -(1 - p_alive) * 2 / 4 >= -0.5",
    "expected_visits(30d) >= 2",
    r#"(has_tag("高价值常客") or visits(12w) != 0) and not (spend(1y) - spend(6m) < 10)"#,
];

fn sample_facts(interner: &mut Interner) -> CustomerFacts {
    let mut facts = CustomerFacts::new();
    let store = interner.store("store-id");
    let seafood = interner.category("seafood");
    facts.add_visit(100, 1, store, &[Some(seafood), None]);
    facts.add_visit(95, i64::MAX, store, &[]);
    facts.add_visit(i32::MIN, i64::MIN, store, &[Some(seafood)]);
    facts.set_birthday(Birthday::new(2, 29));
    facts.add_tag(interner.tag("vip"));
    facts.set_p_alive(Some(0.2));
    facts.set_expected_visits_per_day(Some(1e300));
    facts
}

/// Compiles with an accepting catalog and, when it compiles, evaluates and explains on
/// extreme days: none of it may panic.
fn exercise(src: &str) {
    let mut interner = Interner::new();
    let facts = sample_facts(&mut interner);
    if let Ok(rule) = compile(src, &|_: &str| true, &mut interner) {
        for today in [i32::MIN, -1, 0, 100, i32::MAX] {
            let result = rule.eval(&facts, today);
            assert_eq!(rule.explain(&facts, today).result, result);
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = prop_oneof![
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"".to_owned()),
        Just(" and ".to_owned()),
        Just(" not ".to_owned()),
        Just("==".to_owned()),
        Just("99999999999y".to_owned()),
        Just(",".to_owned()),
        Just("-".to_owned()),
        Just("\\".to_owned()),
        "\\PC{0,4}",
    ];
    prop_oneof![
        (any::<usize>(), 0usize..6).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), fragment).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), 0usize..10).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(src: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for m in mutations {
        let n = chars.len();
        match m {
            Mutation::Delete(at, len) => {
                let start = at % (n + 1);
                let end = (start + len).min(n);
                chars.drain(start..end);
            }
            Mutation::Insert(at, s) => {
                let at = at % (n + 1);
                chars.splice(at..at, s.chars());
            }
            Mutation::Duplicate(at, len) => {
                let start = at % (n + 1);
                let end = (start + len).min(n);
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
        }
    }
    chars.into_iter().collect()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,7}".prop_filter("not a keyword", |n| {
        !["and", "or", "not", "true", "false"].contains(&n.as_str())
    })
}

fn leaf(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn expr_tree() -> impl Strategy<Value = Expr> {
    let binary_ops = prop::sample::select(vec![
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
    ]);
    let units = prop::sample::select(vec![
        DurationUnit::Days,
        DurationUnit::Weeks,
        DurationUnit::Months,
        DurationUnit::Years,
    ]);
    let atom = prop_oneof![
        (0u64..1_000_000, 0u32..3)
            .prop_map(|(n, scale)| leaf(ExprKind::Number(n as f64 / 10f64.powi(scale as i32)))),
        any::<u32>().prop_map(|n| leaf(ExprKind::Number(f64::from(n) * 1e10))),
        "\\PC{0,6}".prop_map(|s| leaf(ExprKind::Text(s))),
        (any::<u64>(), units).prop_map(|(amount, unit)| leaf(ExprKind::Duration { amount, unit })),
        any::<bool>().prop_map(|b| leaf(ExprKind::Bool(b))),
        name().prop_map(|n| leaf(ExprKind::Name(n))),
    ];
    atom.prop_recursive(6, 48, 3, move |inner| {
        prop_oneof![
            (name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| leaf(ExprKind::Call { name, args })),
            inner.clone().prop_map(|e| leaf(ExprKind::Not(Box::new(e)))),
            inner.clone().prop_map(|e| leaf(ExprKind::Neg(Box::new(e)))),
            (binary_ops.clone(), inner.clone(), inner).prop_map(|(op, l, r)| leaf(
                ExprKind::Binary {
                    op,
                    left: Box::new(l),
                    right: Box::new(r)
                }
            )),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,80}") {
        exercise(&src);
    }

    #[test]
    fn arbitrary_token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "visits", "(", ")", "30d", "12w", "6m", "1y", ">", ">=", "==", "!=", "<", "<=", "and", "or", "not",
        "\"vip\"", "has_tag", "p_alive", "class", "attr", "\"A\"", "5", "0.3", "+", "-", "*", "/", ",",
        "birthday_within", "dish_share", "store_visits", "days_since_last_visit", "true", "false",
    ]), 0..30)) {
        exercise(&parts.join(" "));
    }

    #[test]
    fn mutated_valid_rules_never_panic(index in 0usize..VALID_RULES.len(), mutations in prop::collection::vec(mutation(), 1..4)) {
        exercise(&apply(VALID_RULES[index], &mutations));
    }

    #[test]
    fn printed_trees_reparse_to_the_same_tree(tree in expr_tree()) {
        let printed = tree.to_string();
        let reparsed = parse(&printed);
        prop_assert!(reparsed.is_ok(), "{printed} failed: {:?}", reparsed.err());
        let reparsed = reparsed.map(|p| p.expr).unwrap_or_else(|_| leaf(ExprKind::Bool(false)));
        prop_assert!(reparsed.same_shape(&tree), "{printed} reparsed as {reparsed}");
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn parsed_mutants_round_trip(index in 0usize..VALID_RULES.len(), mutations in prop::collection::vec(mutation(), 0..3)) {
        let src = apply(VALID_RULES[index], &mutations);
        if let Ok(parsed) = parse(&src) {
            let printed = parsed.expr.to_string();
            let again = parse(&printed).map(|p| p.expr);
            prop_assert!(again.as_ref().is_ok_and(|e| e.same_shape(&parsed.expr)), "{src} → {printed} → {again:?}");
        }
    }

}
