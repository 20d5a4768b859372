//! Customer class A/B/C and the chain's reception strategy for each class.
//!
//! Seed 000 §三: the class "is not based on spend alone but combines visit
//! frequency, recency and dish preference", and each class carries the
//! chain's 接待策略. Here the class is a weighted sum of the four scores from
//! [`super::rfm`] (recency, frequency, monetary, dish preference) cut at two
//! chain-configured points; dish preference enters with its own weight, so a
//! chain can set it to zero. [`ClassificationPolicy::validate`] rejects
//! policies that cannot work (no weight, A unreachable, unordered cut-offs).

use chrono::{DateTime, Utc};

use super::{
    aggregates::Aggregates,
    error::{FieldError, check_max_chars},
    rfm::{DEFAULT_DISH_SHARE_MIN_PERMILLE, RfmCutoffs, RfmScores, score_quintiles, score_rfm},
};

const MAX_STRATEGY_CHARS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerClass {
    A,
    B,
    C,
}

/// How much attention a class receives at the door and from its manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceLevel {
    /// Manager greets in person, preferred table held.
    Vip,
    /// Manager informed of every booking.
    Priority,
    Standard,
}

/// What staff are told to do for guests of one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTreatment {
    /// 接待策略, the chain's own words.
    pub reception_strategy: String,
    pub service_level: ServiceLevel,
}

/// Where the scores' cut-offs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RfmScoring {
    /// Quintiles over the chain's customers, recomputed by the caller.
    Quintiles {
        dish_share_min_permille: [u32; 4],
    },
    Fixed(RfmCutoffs),
}

/// Weight of each score in the class points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreWeights {
    pub recency: u32,
    pub frequency: u32,
    pub monetary: u32,
    pub dish_preference: u32,
}

impl ScoreWeights {
    fn total(&self) -> u64 {
        [
            self.recency,
            self.frequency,
            self.monetary,
            self.dish_preference,
        ]
        .iter()
        .map(|w| u64::from(*w))
        .sum()
    }
}

/// A chain's whole classification rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationPolicy {
    pub scoring: RfmScoring,
    pub weights: ScoreWeights,
    /// Points at or above which a guest is class A.
    pub class_a_min_points: u64,
    /// Points at or above which a guest is class B (below: C).
    pub class_b_min_points: u64,
    pub class_a: ClassTreatment,
    pub class_b: ClassTreatment,
    pub class_c: ClassTreatment,
}

/// One customer's scores, points, class and the treatment for that class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub scores: RfmScores,
    pub points: u64,
    pub class: CustomerClass,
    pub treatment: ClassTreatment,
}

impl ClassificationPolicy {
    /// Checks the policy; the error names the offending field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let RfmScoring::Fixed(cutoffs) = &self.scoring {
            ascending("scoring.fixed.recency_max_days", &cutoffs.recency_max_days)?;
            ascending(
                "scoring.fixed.frequency_min_visits",
                &cutoffs.frequency_min_visits,
            )?;
            ascending("scoring.fixed.monetary_min_fen", &cutoffs.monetary_min_fen)?;
            if cutoffs.recency_max_days[0] < 0 || cutoffs.monetary_min_fen[0] < 0 {
                return Err(FieldError::invalid(
                    "scoring.fixed",
                    "cut-offs must not be negative",
                ));
            }
        }
        let dish_shares = match &self.scoring {
            RfmScoring::Quintiles {
                dish_share_min_permille,
            } => dish_share_min_permille,
            RfmScoring::Fixed(cutoffs) => &cutoffs.dish_share_min_permille,
        };
        ascending("scoring.dish_share_min_permille", dish_shares)?;
        if dish_shares[3] > 1000 {
            return Err(FieldError::invalid(
                "scoring.dish_share_min_permille",
                "above 1000 per mille",
            ));
        }

        let total_weight = self.weights.total();
        if total_weight == 0 {
            return Err(FieldError::invalid(
                "weights",
                "at least one weight must be positive",
            ));
        }
        let max_points = 5 * total_weight;
        if self.class_a_min_points > max_points {
            return Err(FieldError::invalid(
                "class_a_min_points",
                format!("unreachable: the most a guest can score is {max_points}"),
            ));
        }
        if self.class_b_min_points == 0 || self.class_b_min_points >= self.class_a_min_points {
            return Err(FieldError::invalid(
                "class_b_min_points",
                "must be positive and below class_a_min_points",
            ));
        }
        for (field, treatment) in [
            ("class_a.reception_strategy", &self.class_a),
            ("class_b.reception_strategy", &self.class_b),
            ("class_c.reception_strategy", &self.class_c),
        ] {
            if treatment.reception_strategy.trim().is_empty() {
                return Err(FieldError::Missing {
                    field: field.into(),
                });
            }
            check_max_chars(field, &treatment.reception_strategy, MAX_STRATEGY_CHARS)?;
        }
        Ok(())
    }

    /// The cut-offs to score with: the fixed ones, or quintiles over
    /// `population` (every customer of the chain) as of `as_of`.
    pub fn cutoffs<'a>(
        &self,
        population: impl IntoIterator<Item = &'a Aggregates>,
        as_of: DateTime<Utc>,
    ) -> RfmCutoffs {
        match &self.scoring {
            RfmScoring::Fixed(cutoffs) => cutoffs.clone(),
            RfmScoring::Quintiles {
                dish_share_min_permille,
            } => score_quintiles(population, as_of, *dish_share_min_permille),
        }
    }

    pub fn treatment(&self, class: CustomerClass) -> &ClassTreatment {
        match class {
            CustomerClass::A => &self.class_a,
            CustomerClass::B => &self.class_b,
            CustomerClass::C => &self.class_c,
        }
    }

    /// Weighted points of `scores`.
    pub fn points(&self, scores: &RfmScores) -> u64 {
        let w = &self.weights;
        [
            (w.recency, scores.recency),
            (w.frequency, scores.frequency),
            (w.monetary, scores.monetary),
            (w.dish_preference, scores.dish_preference),
        ]
        .iter()
        .map(|(weight, score)| u64::from(*weight) * u64::from(*score))
        .sum()
    }

    /// The class for `scores` under this policy.
    pub fn class_of(&self, scores: &RfmScores) -> CustomerClass {
        let points = self.points(scores);
        if points >= self.class_a_min_points {
            CustomerClass::A
        } else if points >= self.class_b_min_points {
            CustomerClass::B
        } else {
            CustomerClass::C
        }
    }
}

impl Default for ClassificationPolicy {
    /// Quintile scoring; recency, frequency and spend weigh 3 each and dish
    /// preference 1 (max 50 points); A from 40 points, B from 28.
    fn default() -> Self {
        Self {
            scoring: RfmScoring::Quintiles {
                dish_share_min_permille: DEFAULT_DISH_SHARE_MIN_PERMILLE,
            },
            weights: ScoreWeights {
                recency: 3,
                frequency: 3,
                monetary: 3,
                dish_preference: 1,
            },
            class_a_min_points: 40,
            class_b_min_points: 28,
            class_a: ClassTreatment {
                reception_strategy: "客户经理亲自迎接,预留偏好座位,提前备好常点菜品".into(),
                service_level: ServiceLevel::Vip,
            },
            class_b: ClassTreatment {
                reception_strategy: "预订即通知客户经理,按偏好安排座位".into(),
                service_level: ServiceLevel::Priority,
            },
            class_c: ClassTreatment {
                reception_strategy: "标准接待".into(),
                service_level: ServiceLevel::Standard,
            },
        }
    }
}

/// Scores and classes one customer as of `as_of` with `cutoffs` from
/// [`ClassificationPolicy::cutoffs`].
pub fn classify(
    aggregates: &Aggregates,
    as_of: DateTime<Utc>,
    policy: &ClassificationPolicy,
    cutoffs: &RfmCutoffs,
) -> Classification {
    let scores = score_rfm(aggregates, as_of, cutoffs);
    let class = policy.class_of(&scores);
    Classification {
        scores,
        points: policy.points(&scores),
        class,
        treatment: policy.treatment(class).clone(),
    }
}

fn ascending<T: PartialOrd>(field: &str, values: &[T; 4]) -> Result<(), FieldError> {
    if values.windows(2).all(|pair| pair[0] < pair[1]) {
        Ok(())
    } else {
        Err(FieldError::invalid(field, "must be strictly ascending"))
    }
}

#[cfg(test)]
#[path = "classification_tests.rs"]
mod tests;
