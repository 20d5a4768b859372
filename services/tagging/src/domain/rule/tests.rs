//! End-to-end tests of the language: every built-in and operator against hand-built facts,
//! type errors with positions and explanations.

use chrono::NaiveDate;

use super::*;

const TODAY: EpochDay = 20_000; // 2024-10-04

struct World {
    interner: Interner,
    facts: CustomerFacts,
}

fn catalog(tag: &str) -> bool {
    ["vip", "churned", "高价值常客"].contains(&tag)
}

impl World {
    fn new() -> World {
        World {
            interner: Interner::new(),
            facts: CustomerFacts::new(),
        }
    }

    fn compile(&mut self, src: &str) -> CompiledRule {
        match compile(src, &catalog, &mut self.interner) {
            Ok(rule) => rule,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    fn eval(&mut self, src: &str) -> bool {
        self.compile(src).eval(&self.facts, TODAY)
    }

    /// A customer with visits 1, 10, 40 and 400 days ago (and one "future" visit).
    fn regular() -> World {
        let mut world = World::new();
        let (main, mall) = (
            world.interner.store("store-main"),
            world.interner.store("store-mall"),
        );
        let (seafood, dessert) = (
            world.interner.category("seafood"),
            world.interner.category("dessert"),
        );
        world.facts.add_visit(
            TODAY - 1,
            20_000,
            main,
            &[Some(seafood), Some(seafood), Some(dessert), None],
        );
        world
            .facts
            .add_visit(TODAY - 10, 10_050, mall, &[Some(dessert), None]);
        world
            .facts
            .add_visit(TODAY - 40, 5_000, main, &[Some(seafood)]);
        world.facts.add_visit(TODAY - 400, 100_000, main, &[]);
        world
            .facts
            .add_visit(TODAY + 3, 999_999, main, &[Some(seafood)]);
        world
    }
}

#[test]
fn windowed_aggregates() {
    let mut w = World::regular();
    assert!(w.eval("visits(30d) == 2"));
    assert!(
        w.eval("visits(10d) == 1"),
        "day today−10 is outside (today−10, today]"
    );
    assert!(w.eval("visits(11d) == 2"));
    assert!(w.eval("visits(1y) == 3 and visits(2y) == 4"));
    assert!(w.eval("visits(0d) == 0"));
    assert!(w.eval("spend(30d) == 300.5"), "fen are converted to yuan");
    assert!(w.eval("avg_ticket(30d) == 150.25"));
    assert!(w.eval("avg_ticket(30d) > 150"));
    assert!(
        w.eval("avg_ticket(1d) == 0"),
        "no visits: average ticket is 0"
    );
    assert!(w.eval(r#"dish_share("seafood", 30d) == 2 / 6"#));
    assert!(w.eval(r#"dish_share("seafood", 90d) >= 0.3 and dish_share("dessert", 90d) == 2 / 7"#));
    assert!(w.eval(r#"dish_share("noodles", 90d) == 0 and dish_share("seafood", 1d) == 0"#));
    assert!(
        w.eval(r#"store_visits("store-main", 30d) == 1 and store_visits("store-main", 90d) == 2"#)
    );
    assert!(
        w.eval(r#"store_visits("store-mall", 30d) == 1 and store_visits("elsewhere", 30d) == 0"#)
    );
    assert!(w.eval("days_since_last_visit == 1"));
    let empty = CustomerFacts::new();
    let rule = w.compile("days_since_last_visit >= 0 or days_since_last_visit < 0");
    assert!(
        !rule.eval(&empty, TODAY),
        "no visit: days_since_last_visit is missing"
    );
}

#[test]
fn birthday_within_window() {
    let mut w = World::new();
    let today = date_of(TODAY).unwrap_or_default();
    assert_eq!(
        today,
        NaiveDate::from_ymd_opt(2024, 10, 4).unwrap_or_default()
    );
    assert!(!w.eval("birthday_within(7d)"), "unknown birthday");
    w.facts.set_birthday(Birthday::new(10, 11));
    assert!(w.eval("birthday_within(7d)") && !w.eval("birthday_within(6d)"));
    w.facts.set_birthday(Birthday::new(10, 4));
    assert!(w.eval("birthday_within(0d)"));
    w.facts.set_birthday(Birthday::new(10, 3));
    assert!(!w.eval("birthday_within(30d)") && w.eval("birthday_within(1y)"));
}

#[test]
fn profile_tags_class_and_scores() {
    let mut w = World::new();
    let gender = w.interner.attribute("gender");
    w.facts.set_attribute(gender, "female");
    let vip = w.interner.tag("vip");
    w.facts.add_tag(vip);
    w.facts.set_class(Some('A'));
    assert!(w.eval(r#"attr("gender") == "female" and attr("gender") != "male""#));
    assert!(
        !w.eval(r#"attr("city") == "Chengdu" or attr("city") != "Chengdu""#),
        "unset attribute is missing"
    );
    assert!(w.eval(r#"has_tag("vip") and not has_tag("churned")"#));
    assert!(w.eval(r#"class == "A" and "A" == class and class != "B" and class != "AB""#));
    assert!(
        !w.eval("p_alive < 0.3 or p_alive >= 0.3"),
        "unscored: comparisons are false"
    );
    assert!(w.eval("not (p_alive < 0.3)"));
    assert!(!w.eval("expected_visits(30d) >= 0"));
    w.facts.set_p_alive(Some(0.25));
    w.facts.set_expected_visits_per_day(Some(0.1));
    assert!(
        w.eval("p_alive < 0.3 and expected_visits(30d) >= 2.9 and expected_visits(30d) <= 3.1")
    );
    w.facts.set_class(None);
    assert!(!w.eval(r#"class == "A" or class != "A""#));
}

#[test]
fn operators() {
    let mut w = World::new();
    for src in [
        "1 + 2 == 3",
        "5 - 7 == -2",
        "2 * 3 == 6",
        "7 / 2 == 3.5",
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "10 - 4 - 3 == 3",
        "--2 == 2",
        "1 != 2",
        "1 < 2 and 2 <= 2 and 3 > 2 and 3 >= 3",
        "not 1 > 2",
        "true or false",
        "not (true and false)",
        "true == true and true != false",
        r#""a" == "a" and "a" != "b""#,
        "true or 1 / 0 > 0",
        "not (1 / 0 == 1 / 0)",
    ] {
        assert!(w.eval(src), "{src} should be true");
    }
    for src in ["false", "1 > 2", "true and false", "1 / 0 != 0", "not true"] {
        assert!(!w.eval(src), "{src} should be false");
    }
}

fn error_of(src: &str) -> String {
    let mut interner = Interner::new();
    match compile(src, &catalog, &mut interner) {
        Ok(_) => "compiled".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn type_errors_name_the_problem_and_the_place() {
    assert_eq!(
        error_of("visit(30d) > 5"),
        "unknown function 'visit' at 1:1"
    );
    assert_eq!(
        error_of("visits > 5"),
        "visits takes 1 argument(s) but 0 were given at 1:1"
    );
    assert_eq!(
        error_of("p_alive(30d) > 5"),
        "p_alive takes 0 argument(s) but 1 were given at 1:1"
    );
    assert_eq!(
        error_of("visits(30) > 5"),
        "argument 1 of visits must be a duration literal (e.g. 30d) but found Number at 1:8"
    );
    assert_eq!(
        error_of(r#"has_tag(attr("x"))"#),
        "argument 1 of has_tag must be a text literal but found a computed Text at 1:9"
    );
    assert_eq!(
        error_of(r#"dish_share(30d, "seafood") > 0"#),
        "argument 1 of dish_share must be a text literal but found Duration at 1:12"
    );
    assert_eq!(
        error_of(r#"attr("age") > 30"#),
        "cannot compare Text with Number using '>' at 1:1"
    );
    assert_eq!(
        error_of(r#"class == 1"#),
        "cannot compare Text with Number using '==' at 1:1"
    );
    assert_eq!(
        error_of(r#"class < "B""#),
        "operator '<' needs Number operands but found Text at 1:1"
    );
    assert_eq!(
        error_of("visits(30d) + 1"),
        "a rule must be a condition (Bool) but this one is Number at 1:1"
    );
    assert_eq!(
        error_of("30d"),
        "a rule must be a condition (Bool) but this one is Duration at 1:1"
    );
    assert_eq!(
        error_of("visits(11y) > 1"),
        "window of 4015 days exceeds the maximum of 3650 days (10 years) at 1:8"
    );
    assert_eq!(
        error_of("birthday_within(3651d)"),
        "window of 3651 days exceeds the maximum of 3650 days (10 years) at 1:17"
    );
    assert!(
        error_of("visits(18446744073709551615y) > 1")
            .starts_with("window of 18446744073709551615 days")
    );
    assert_eq!(
        error_of(r#"has_tag("gold")"#),
        "unknown tag \"gold\" at 1:9"
    );
    assert_eq!(
        error_of("1 and true"),
        "operator 'and' needs Bool operands but found Number at 1:1"
    );
    assert_eq!(
        error_of("not visits(1d)"),
        "operator 'not' needs Bool operands but found Number at 1:5"
    );
    assert_eq!(
        error_of("-true == 1"),
        "operator '-' needs Number operands but found Bool at 1:2"
    );
    assert_eq!(
        error_of("1 + \"a\" > 1"),
        "operator '+' needs Number operands but found Text at 1:5"
    );
    assert_eq!(
        error_of("30d == 30d"),
        "operator '==' needs Number, Text or Bool operands but found Duration at 1:1"
    );
    assert_eq!(
        error_of("true < false"),
        "operator '<' needs Number operands but found Bool at 1:1"
    );
    assert_eq!(
        error_of("visits(30d) > 5 and\n  avg_ticket(30d) > \"150\""),
        "cannot compare Number with Text using '>' at 2:3"
    );
    assert_eq!(
        error_of(r#"has_tag("高价值常客") and has_tag("x")"#),
        "unknown tag \"x\" at 1:30"
    );
    assert_eq!(
        error_of("10y > 1"),
        "operator '>' needs Number, Text or Bool operands but found Duration at 1:1"
    );
    assert_eq!(
        compile(
            "visits(10y) > 1 and birthday_within(3650d)",
            &catalog,
            &mut Interner::new()
        )
        .map(|r| r.max_window_days()),
        Ok(3650)
    );
}

#[test]
fn error_locations_are_exposed() {
    let err = compile("visits(30d) >", &catalog, &mut Interner::new()).err();
    let location = err.as_ref().and_then(RuleError::location);
    assert_eq!(
        location.map(|l| (l.at.line, l.at.col, l.span)),
        Some((1, 14, Span::new(13, 13)))
    );
    assert_eq!(RuleError::EmptyRule.location(), None);
}

#[test]
fn explain_lists_every_term_with_its_value() {
    let mut w = World::regular();
    let rule = w.compile("visits(30d) > 5 and (avg_ticket(30d) > 150 or p_alive < 0.3)");
    let explanation = rule.explain(&w.facts, TODAY);
    assert!(!explanation.result);
    let rendered: Vec<String> = explanation
        .terms
        .iter()
        .map(|t| format!("{} = {}", t.source_text, t.value))
        .collect();
    assert_eq!(
        rendered,
        vec![
            "visits(30d) > 5 and (avg_ticket(30d) > 150 or p_alive < 0.3) = false",
            "visits(30d) > 5 = false",
            "visits(30d) = 2",
            "(avg_ticket(30d) > 150 or p_alive < 0.3) = true",
            "avg_ticket(30d) > 150 = true",
            "avg_ticket(30d) = 150.25",
            "p_alive < 0.3 = false",
            "p_alive = missing",
        ]
    );
    assert_eq!(explanation.terms[2].span, Span::new(0, 11));
    let text_rule = w.compile(r#"attr("gender") == "female" or class == "A""#);
    let text = text_rule.explain(&w.facts, TODAY);
    assert_eq!(text.terms[2].value, TermValue::Text(None));
    w.facts.set_class(Some('A'));
    let text = text_rule.explain(&w.facts, TODAY);
    assert!(text.result);
    assert_eq!(text.terms[4].value, TermValue::Text(Some("A".into())));
    assert_eq!(text.to_string().lines().count(), 5);
}

#[test]
fn interaction_facts_count_over_a_window() {
    let mut w = World::new();
    let rule = w.compile("campaign_responses(90d) >= 1");
    assert!(
        rule.is_time_dependent(),
        "a response ages out of the window"
    );
    assert!(!rule.eval(&w.facts, TODAY), "no response yet");
    w.facts
        .add_interaction(InteractionKind::CampaignResponse, TODAY - 89);
    assert!(w.eval("campaign_responses(90d) == 1"));
    assert!(
        w.eval("campaign_responses(89d) == 0"),
        "day today−89 is outside (today−89, today]"
    );
    w.facts
        .add_interaction(InteractionKind::MessageReply, TODAY);
    w.facts.add_interaction(InteractionKind::Review, TODAY - 3);
    w.facts.add_interaction(InteractionKind::Review, TODAY - 30);
    assert!(w.eval("messages_replied(7d) == 1 and campaign_responses(7d) == 0"));
    assert!(w.eval("reviews(7d) == 1 and reviews(1m) == 1 and reviews(31d) == 2"));
    assert!(w.eval("campaign_responses(90d) + messages_replied(90d) >= 2 and visits(90d) == 0"));
    assert!(w.eval("messages_opened(90d) == 0"));
    w.facts
        .add_interaction(InteractionKind::MessageOpen, TODAY - 1);
    w.facts
        .add_interaction(InteractionKind::MessageOpen, TODAY - 40);
    assert!(w.eval("messages_opened(7d) == 1 and messages_opened(90d) == 2"));
    assert!(w.eval("messages_replied(7d) == 1"), "an open is no reply");
    let explained = w
        .compile("campaign_responses(90d) >= 1")
        .explain(&w.facts, TODAY);
    assert!(explained.result);
    assert_eq!(explained.terms[1].source_text, "campaign_responses(90d)");
    assert_eq!(explained.terms[1].value, TermValue::Number(Some(1.0)));
    // A window must be a duration literal, and long windows are refused as everywhere.
    for bad in [
        r#"campaign_responses("x") > 0"#,
        "campaign_responses() > 0",
        "campaign_responses(11y) > 0",
    ] {
        assert!(
            compile(bad, &catalog, &mut w.interner).is_err(),
            "{bad} compiled"
        );
    }
}
