//! Special functions the likelihoods need: `ln Γ` (from `libm`), digamma `ψ`, `ln B`, and a
//! stable `ln(e^u + e^v)`. Arguments are positive in every caller (parameters are
//! exponentials of the optimiser's variables), so no reflection formula is needed.

/// `ln Γ(z)` for `z > 0`.
pub(crate) fn ln_gamma(z: f64) -> f64 {
    libm::lgamma(z)
}

/// `ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b)` for `a, b > 0`.
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Digamma `ψ(z) = d/dz ln Γ(z)` for `z > 0`: the recurrence `ψ(z) = ψ(z + 1) − 1/z` lifts
/// `z` above 10, where the asymptotic series (Abramowitz & Stegun 6.3.18, six terms) is
/// accurate to ~1e-15.
/// `libm` has no digamma, and this is the only other special function the gradients need.
pub(crate) fn digamma(z: f64) -> f64 {
    if z.is_nan() || z <= 0.0 || z.is_infinite() {
        return f64::NAN;
    }
    let mut shift = 0.0;
    let mut z = z;
    while z < 10.0 {
        shift -= 1.0 / z;
        z += 1.0;
    }
    let inv = 1.0 / z;
    let inv2 = inv * inv;
    // ln z − 1/(2z) − Σ B_{2k} / (2k z^{2k}), k = 1..6.
    let tail = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0)))));
    shift + z.ln() - 0.5 * inv - tail
}

/// `ln(e^u + e^v)` without overflow; `v = −∞` is allowed and gives `u`.
pub(crate) fn ln_add_exp(u: f64, v: f64) -> f64 {
    let (hi, lo) = if u >= v { (u, v) } else { (v, u) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `1 / (1 + e^u)` (the logistic of `−u`) without overflow for large `|u|`.
pub(crate) fn logistic_of_neg(u: f64) -> f64 {
    if u > 0.0 {
        let e = (-u).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + u.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

    #[test]
    fn digamma_matches_known_values() {
        assert!(
            (digamma(1.0) + EULER_GAMMA).abs() < 1e-14,
            "{:e}",
            digamma(1.0) + EULER_GAMMA
        );
        assert!((digamma(0.5) + EULER_GAMMA + 2.0 * 2f64.ln()).abs() < 1e-14);
        // ψ(z + 1) = ψ(z) + 1/z across the switch to the asymptotic series.
        for z in [0.01, 0.3, 2.5, 9.9, 10.0, 17.0, 1e5] {
            assert!((digamma(z + 1.0) - digamma(z) - 1.0 / z).abs() < 1e-12 * (1.0 + 1.0 / z));
        }
        assert!(digamma(0.0).is_nan());
        assert!(digamma(-1.5).is_nan());
    }

    #[test]
    fn digamma_is_the_derivative_of_ln_gamma() {
        for z in [0.2, 1.7, 9.3, 250.0] {
            let h = 1e-6 * z;
            let numeric = (ln_gamma(z + h) - ln_gamma(z - h)) / (2.0 * h);
            assert!((numeric - digamma(z)).abs() < 1e-6, "z = {z}");
        }
    }

    #[test]
    fn ln_add_exp_is_stable() {
        assert!((ln_add_exp(0.0, 0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(ln_add_exp(1000.0, f64::NEG_INFINITY), 1000.0);
        assert!((ln_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((ln_add_exp(-1000.0, -1001.0) - (-1000.0 + (-1f64).exp().ln_1p())).abs() < 1e-12);
    }

    #[test]
    fn logistic_handles_extremes() {
        assert_eq!(logistic_of_neg(0.0), 0.5);
        assert!(logistic_of_neg(800.0) >= 0.0 && logistic_of_neg(800.0) < 1e-300);
        assert_eq!(logistic_of_neg(-800.0), 1.0);
    }

    #[test]
    fn ln_beta_matches_closed_form() {
        // B(2, 3) = 1/12.
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-14);
    }
}
