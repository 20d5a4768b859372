use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::{
    aggregates::{DishOrdered, VisitFacts},
    ids::StoreId,
};

fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fn scores(recency: u8, frequency: u8, monetary: u8, dish_preference: u8) -> RfmScores {
    RfmScores {
        recency,
        frequency,
        monetary,
        dish_preference,
    }
}

fn fixed_policy() -> ClassificationPolicy {
    ClassificationPolicy {
        scoring: RfmScoring::Fixed(RfmCutoffs {
            recency_max_days: [7, 30, 90, 180],
            frequency_min_visits: [2, 4, 8, 16],
            monetary_min_fen: [50_000, 100_000, 300_000, 1_000_000],
            dish_share_min_permille: DEFAULT_DISH_SHARE_MIN_PERMILLE,
        }),
        ..ClassificationPolicy::default()
    }
}

#[test]
fn default_and_fixed_policies_are_valid() {
    assert_eq!(ClassificationPolicy::default().validate(), Ok(()));
    assert_eq!(fixed_policy().validate(), Ok(()));
}

#[test]
fn class_cuts_use_weighted_points() {
    let policy = ClassificationPolicy::default();
    assert_eq!(policy.points(&scores(5, 5, 5, 5)), 50);
    assert_eq!(policy.class_of(&scores(5, 4, 4, 1)), CustomerClass::A); // 15 + 12 + 12 + 1 = 40
    assert_eq!(policy.class_of(&scores(5, 4, 3, 1)), CustomerClass::B); // 37
    assert_eq!(policy.class_of(&scores(3, 3, 3, 1)), CustomerClass::B); // 28
    assert_eq!(policy.class_of(&scores(3, 3, 2, 2)), CustomerClass::C); // 26
}

#[test]
fn spend_alone_does_not_make_class_a() {
    // Seed 000 §三: not by spend alone.
    let policy = ClassificationPolicy::default();
    assert_eq!(policy.class_of(&scores(1, 1, 5, 1)), CustomerClass::C);
}

#[test]
fn invalid_policies_name_the_field() {
    let field = |policy: ClassificationPolicy| policy.validate().unwrap_err().field().to_owned();

    let defaults = ClassificationPolicy::default;
    let no_weight = ScoreWeights {
        recency: 0,
        frequency: 0,
        monetary: 0,
        dish_preference: 0,
    };
    assert_eq!(
        field(ClassificationPolicy {
            weights: no_weight,
            ..defaults()
        }),
        "weights"
    );
    assert_eq!(
        field(ClassificationPolicy {
            class_a_min_points: 51,
            ..defaults()
        }),
        "class_a_min_points"
    );
    assert_eq!(
        field(ClassificationPolicy {
            class_b_min_points: 40,
            ..defaults()
        }),
        "class_b_min_points"
    );

    let mut p = fixed_policy();
    if let RfmScoring::Fixed(cutoffs) = &mut p.scoring {
        cutoffs.frequency_min_visits = [2, 2, 8, 16];
    }
    assert_eq!(field(p), "scoring.fixed.frequency_min_visits");

    let p = ClassificationPolicy {
        scoring: RfmScoring::Quintiles {
            dish_share_min_permille: [200, 400, 600, 1200],
        },
        ..defaults()
    };
    assert_eq!(field(p), "scoring.dish_share_min_permille");

    let mut p = ClassificationPolicy::default();
    p.class_b.reception_strategy = "  ".into();
    assert_eq!(field(p), "class_b.reception_strategy");
}

fn regular(days_ago: &[i64], amount_fen: i64) -> Aggregates {
    let visits: Vec<VisitFacts> = days_ago
        .iter()
        .map(|days| VisitFacts {
            store_id: StoreId::new("s"),
            visited_at: as_of() - Duration::days(*days),
            local_day: maitre_kit::visits::visit_day(
                as_of() - Duration::days(*days),
                chrono_tz::Asia::Shanghai,
            ),
            amount_fen,
            dishes: vec![DishOrdered {
                dish_key: "清蒸石斑".into(),
                category: "seafood".into(),
            }],
        })
        .collect();
    Aggregates::from_visits(&visits)
}

#[test]
fn classify_returns_the_class_treatment() {
    let policy = fixed_policy();
    let cutoffs = policy.cutoffs([], as_of());
    let loyal = regular(&[2, 9, 15, 30, 45, 60, 75, 90, 100], 40_000);
    let classified = classify(&loyal, as_of(), &policy, &cutoffs);
    assert_eq!(classified.scores, scores(5, 4, 4, 5));
    assert_eq!(classified.points, 44);
    assert_eq!(classified.class, CustomerClass::A);
    assert_eq!(classified.treatment.service_level, ServiceLevel::Vip);

    let once = regular(&[300], 8_000);
    let classified = classify(&once, as_of(), &policy, &cutoffs);
    assert_eq!(classified.class, CustomerClass::C);
    assert_eq!(classified.treatment, policy.class_c);
}

#[test]
fn quintile_policy_ranks_within_the_chain() {
    let policy = ClassificationPolicy::default();
    let population: Vec<Aggregates> = (1..=10)
        // n visits on n days, the latest 11 − n days ago.
        .map(|n| regular(&((11 - n)..(11 - n + n)).collect::<Vec<_>>(), 10_000 * n))
        .collect();
    let cutoffs = policy.cutoffs(&population, as_of());
    let best = classify(&population[9], as_of(), &policy, &cutoffs);
    let worst = classify(&population[0], as_of(), &policy, &cutoffs);
    assert_eq!(best.class, CustomerClass::A);
    assert_eq!(worst.class, CustomerClass::C);
}
