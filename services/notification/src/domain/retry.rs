//! Delivery retries: exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter",
//! AWS Architecture Blog 2015: `sleep = random_between(0, min(cap, base * 2^attempt))`), a maximum number
//! of attempts, then a dead letter with its reason (ARCHITECTURE.md "Delivery": retries with backoff,
//! dead letters). The random draw is an argument so the rule stays pure and testable.

use super::error::PolicyError;

/// Most attempts a policy may allow; more only delays the dead letter an operator must look at.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;

/// A validated retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    base_delay_ms: u64,
    max_delay_ms: u64,
    max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 1 s doubling to at most 10 min, 8 attempts in total.
    fn default() -> Self {
        Self {
            base_delay_ms: 1_000,
            max_delay_ms: 600_000,
            max_attempts: 8,
        }
    }
}

/// How a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// Timeouts, 5xx, throttling: worth retrying. `retry_after_ms` is the provider's hint, if any.
    Transient {
        error: String,
        retry_after_ms: Option<u64>,
    },
    /// Invalid number, blocked content, unknown recipient: retrying cannot help.
    Permanent { error: String },
}

/// Why a message went to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReason {
    AttemptsExhausted { attempts: u32, last_error: String },
    PermanentFailure { error: String },
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter { delay_ms: u64 },
    DeadLetter(DeadLetterReason),
}

impl RetryPolicy {
    pub fn new(
        base_delay_ms: u64,
        max_delay_ms: u64,
        max_attempts: u32,
    ) -> Result<Self, PolicyError> {
        if base_delay_ms == 0 {
            return Err(PolicyError::NotPositive {
                field: "retry.base_delay_ms",
            });
        }
        if max_attempts == 0 {
            return Err(PolicyError::NotPositive {
                field: "retry.max_attempts",
            });
        }
        if max_attempts > MAX_ATTEMPTS_LIMIT {
            return Err(PolicyError::TooLarge {
                field: "retry.max_attempts",
                value: u64::from(max_attempts),
                max: u64::from(MAX_ATTEMPTS_LIMIT),
            });
        }
        if max_delay_ms < base_delay_ms {
            return Err(PolicyError::MaxDelayBelowBase {
                base_delay_ms,
                max_delay_ms,
            });
        }
        Ok(Self {
            base_delay_ms,
            max_delay_ms,
            max_attempts,
        })
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff ceiling before attempt `failed_attempts + 1`: `min(max, base * 2^(failed_attempts-1))`.
    pub fn ceiling_ms(&self, failed_attempts: u32) -> u64 {
        let doublings = failed_attempts.saturating_sub(1).min(63);
        self.base_delay_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_ms)
    }

    /// Decides after the `failed_attempts`-th attempt (1-based) failed. `random` is any uniformly random
    /// `u64` (e.g. `rand::random()`); the delay is uniform in `0..=ceiling` ("full jitter"), never below
    /// the provider's retry-after hint.
    pub fn after_failure(
        &self,
        failed_attempts: u32,
        failure: &DeliveryFailure,
        random: u64,
    ) -> RetryDecision {
        let (error, retry_after_ms) = match failure {
            DeliveryFailure::Permanent { error } => {
                return RetryDecision::DeadLetter(DeadLetterReason::PermanentFailure {
                    error: error.clone(),
                });
            }
            DeliveryFailure::Transient {
                error,
                retry_after_ms,
            } => (error, *retry_after_ms),
        };
        if failed_attempts >= self.max_attempts {
            return RetryDecision::DeadLetter(DeadLetterReason::AttemptsExhausted {
                attempts: failed_attempts,
                last_error: error.clone(),
            });
        }
        let jittered_ms = uniform_up_to(self.ceiling_ms(failed_attempts), random);
        let delay_ms = retry_after_ms.map_or(jittered_ms, |hint| {
            jittered_ms.max(hint.min(self.max_delay_ms))
        });
        RetryDecision::RetryAfter { delay_ms }
    }
}

/// Maps a uniform `u64` onto `0..=max` with Lemire's multiply-shift (no modulo bias worth the name).
fn uniform_up_to(max: u64, random: u64) -> u64 {
    let span = u128::from(max) + 1;
    u64::try_from((u128::from(random) * span) >> 64).unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn transient() -> DeliveryFailure {
        DeliveryFailure::Transient {
            error: "timeout".into(),
            retry_after_ms: None,
        }
    }

    #[test]
    fn invalid_policies_are_rejected() {
        assert_eq!(
            RetryPolicy::new(0, 10, 3),
            Err(PolicyError::NotPositive {
                field: "retry.base_delay_ms"
            })
        );
        assert_eq!(
            RetryPolicy::new(10, 10, 0),
            Err(PolicyError::NotPositive {
                field: "retry.max_attempts"
            })
        );
        assert_eq!(
            RetryPolicy::new(100, 10, 3),
            Err(PolicyError::MaxDelayBelowBase {
                base_delay_ms: 100,
                max_delay_ms: 10
            })
        );
        assert!(matches!(
            RetryPolicy::new(1, 10, 21),
            Err(PolicyError::TooLarge {
                field: "retry.max_attempts",
                ..
            })
        ));
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let policy = RetryPolicy::new(1_000, 10_000, 10).expect("valid");
        let ceilings: Vec<u64> = (1..=6).map(|attempt| policy.ceiling_ms(attempt)).collect();
        assert_eq!(ceilings, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(policy.ceiling_ms(200), 10_000);
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let policy = RetryPolicy::new(1_000, 60_000, 5).expect("valid");
        assert_eq!(
            policy.after_failure(3, &transient(), 0),
            RetryDecision::RetryAfter { delay_ms: 0 }
        );
        assert_eq!(
            policy.after_failure(3, &transient(), u64::MAX),
            RetryDecision::RetryAfter { delay_ms: 4_000 }
        );
        assert_eq!(
            policy.after_failure(3, &transient(), u64::MAX / 2),
            RetryDecision::RetryAfter { delay_ms: 2_000 }
        );
    }

    #[test]
    fn retry_after_hint_is_respected() {
        let policy = RetryPolicy::new(1_000, 60_000, 5).expect("valid");
        let throttled = DeliveryFailure::Transient {
            error: "429".into(),
            retry_after_ms: Some(30_000),
        };
        assert_eq!(
            policy.after_failure(1, &throttled, 0),
            RetryDecision::RetryAfter { delay_ms: 30_000 }
        );
    }

    #[test]
    fn max_attempts_then_dead_letter() {
        let policy = RetryPolicy::new(1_000, 60_000, 3).expect("valid");
        assert!(matches!(
            policy.after_failure(2, &transient(), 7),
            RetryDecision::RetryAfter { .. }
        ));
        assert_eq!(
            policy.after_failure(3, &transient(), 7),
            RetryDecision::DeadLetter(DeadLetterReason::AttemptsExhausted {
                attempts: 3,
                last_error: "timeout".into()
            })
        );
    }

    #[test]
    fn permanent_failure_dead_letters_at_once() {
        let policy = RetryPolicy::default();
        let invalid = DeliveryFailure::Permanent {
            error: "invalid phone number".into(),
        };
        assert_eq!(
            policy.after_failure(1, &invalid, 7),
            RetryDecision::DeadLetter(DeadLetterReason::PermanentFailure {
                error: "invalid phone number".into()
            })
        );
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_the_ceiling(
            base in 1u64..10_000,
            extra in 0u64..1_000_000,
            attempt in 1u32..20,
            random in any::<u64>(),
        ) {
            let policy = RetryPolicy::new(base, base + extra, 20).expect("valid");
            match policy.after_failure(attempt, &transient(), random) {
                RetryDecision::RetryAfter { delay_ms } => prop_assert!(delay_ms <= policy.ceiling_ms(attempt)),
                RetryDecision::DeadLetter(reason) => prop_assert!(false, "unexpected dead letter {reason:?}"),
            }
        }
    }
}
