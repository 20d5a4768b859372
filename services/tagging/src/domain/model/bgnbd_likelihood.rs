//! The BG/NBD log-likelihood (FHL 2005 eq. 6) and its gradient, arranged for speed: customers
//! with identical `(x, t_x, T)` are one weighted term (data in days repeats a lot); the
//! Γ-ratios depend only on `x` and are computed once per distinct `x` as running sums
//! `ln Γ(r+x) − ln Γ(r) = Σ_{k<x} ln(r+k)` (digamma differences likewise), and `ln(α+t)`
//! once per distinct time, so the per-history work is one `exp` and one `ln_1p`.
//!
//! `ln L_i = A₁ + A₂ + ln(e^{A₃} + δ_{x>0} e^{A₄})` with
//! `A₁ = ln Γ(r+x) − ln Γ(r) + r ln α`, `A₂ = ln Γ(b+x) + ln Γ(a+b) − ln Γ(b) − ln Γ(a+b+x)`,
//! `A₃ = −(r+x) ln(α+T)`, `A₄ = ln a − ln(b+x−1) − (r+x) ln(α+t_x)`.

use super::special::{digamma, ln_add_exp, ln_gamma};
use super::{BgNbdParams, RfmSummary};

/// One distinct history and how many customers share it.
pub(super) struct Group {
    x_index: u32,
    t_x_index: u32,
    t_cal_index: u32,
    customers: f64,
}

/// Customers grouped by identical history, with distinct `x` and distinct times factored out.
pub(super) struct Histories {
    /// Distinct `x`, ascending, and how many customers have each.
    xs: Vec<(u32, f64)>,
    /// Distinct values of `t_x` and `T`, ascending.
    times: Vec<f64>,
    pub(super) groups: Vec<Group>,
}

/// Buffers reused across likelihood evaluations.
#[derive(Default)]
pub(super) struct Scratch {
    /// Per distinct time: `(ln(α+t), 1/(α+t))`.
    times: Vec<(f64, f64)>,
    /// Per distinct x: `(ln(b+x−1), 1/(b+x−1))`.
    xs: Vec<(f64, f64)>,
}

impl Histories {
    pub(super) fn group(customers: &[RfmSummary]) -> Self {
        // `+ 0.0` folds −0.0 into 0.0 so equal times share one key.
        let mut keys: Vec<(u32, u64, u64)> = customers
            .iter()
            .map(|c| (c.x, (c.t_x + 0.0).to_bits(), (c.t_cal + 0.0).to_bits()))
            .collect();
        keys.sort_unstable();
        // Non-negative doubles order like their bit patterns.
        let mut time_bits: Vec<u64> = keys.iter().flat_map(|k| [k.1, k.2]).collect();
        time_bits.sort_unstable();
        time_bits.dedup();
        let mut xs: Vec<(u32, f64)> = Vec::new();
        let mut groups = Vec::new();
        let time_index = |bits: u64| time_bits.binary_search(&bits).unwrap_or_default() as u32;
        for run in keys.chunk_by(|l, r| l == r) {
            let (x, t_x, t_cal) = run[0];
            match xs.last_mut() {
                Some((last, count)) if *last == x => *count += run.len() as f64,
                _ => xs.push((x, run.len() as f64)),
            }
            groups.push(Group {
                x_index: (xs.len() - 1) as u32,
                t_x_index: time_index(t_x),
                t_cal_index: time_index(t_cal),
                customers: run.len() as f64,
            });
        }
        Histories {
            xs,
            times: time_bits.into_iter().map(f64::from_bits).collect(),
            groups,
        }
    }

    /// Σ ln L_i, and its gradient in `(r, α, a, b)` when `grad` is given.
    pub(super) fn log_likelihood(
        &self,
        p: &BgNbdParams,
        scratch: &mut Scratch,
        grad: Option<&mut [f64; 4]>,
    ) -> f64 {
        let (ln_a, ln_alpha) = (p.a.ln(), p.alpha.ln());
        let mut ll = 0.0;
        let mut g = [0.0; 4];
        // Per distinct x: the Γ-ratios of A₁ and A₂ and their derivatives.
        scratch.xs.clear();
        let mut sums = GammaRatioSums::default();
        for &(x, count) in &self.xs {
            sums.advance_to(x, p);
            ll += count * (sums.ln_r + p.r * ln_alpha + sums.ln_b - sums.ln_ab);
            g[0] += count * (sums.d_r + ln_alpha);
            g[1] += count * p.r / p.alpha;
            g[2] -= count * sums.d_ab;
            g[3] += count * (sums.d_b - sums.d_ab);
            let b_x = p.b + f64::from(x) - 1.0;
            scratch.xs.push((b_x.ln(), 1.0 / b_x));
        }
        scratch.times.clear();
        scratch.times.extend(
            self.times
                .iter()
                .map(|t| ((p.alpha + t).ln(), 1.0 / (p.alpha + t))),
        );
        for group in &self.groups {
            let x = f64::from(self.xs[group.x_index as usize].0);
            let rx = p.r + x;
            let (ln_t_cal, inv_t_cal) = scratch.times[group.t_cal_index as usize];
            let a3 = -rx * ln_t_cal;
            let n = group.customers;
            if x == 0.0 {
                ll += n * a3;
                g[0] -= n * ln_t_cal;
                g[1] -= n * rx * inv_t_cal;
                continue;
            }
            let (ln_t_x, inv_t_x) = scratch.times[group.t_x_index as usize];
            let (ln_b_x, inv_b_x) = scratch.xs[group.x_index as usize];
            let a4 = ln_a - ln_b_x - rx * ln_t_x;
            ll += n * ln_add_exp(a3, a4);
            // Weights of the two terms in d ln(e^{A₃} + e^{A₄}).
            let w4 = 1.0 / (1.0 + (a3 - a4).exp());
            let w3 = 1.0 - w4;
            g[0] -= n * (w3 * ln_t_cal + w4 * ln_t_x);
            g[1] -= n * rx * (w3 * inv_t_cal + w4 * inv_t_x);
            g[2] += n * w4 / p.a;
            g[3] -= n * w4 * inv_b_x;
        }
        if let Some(out) = grad {
            *out = g;
        }
        ll
    }
}

/// Running `Σ_{k<x} ln(θ+k)` and `Σ_{k<x} 1/(θ+k)` for θ = r, b, a+b: the Γ and ψ
/// differences of A₁, A₂. Long jumps between distinct `x` use ln Γ / ψ directly.
#[derive(Default)]
struct GammaRatioSums {
    x: u32,
    ln_r: f64,
    ln_b: f64,
    ln_ab: f64,
    d_r: f64,
    d_b: f64,
    d_ab: f64,
}

impl GammaRatioSums {
    const MAX_STEPS: u32 = 64;

    fn advance_to(&mut self, x: u32, p: &BgNbdParams) {
        let ab = p.a + p.b;
        if x - self.x > Self::MAX_STEPS {
            let xf = f64::from(x);
            self.ln_r = ln_gamma(p.r + xf) - ln_gamma(p.r);
            self.ln_b = ln_gamma(p.b + xf) - ln_gamma(p.b);
            self.ln_ab = ln_gamma(ab + xf) - ln_gamma(ab);
            self.d_r = digamma(p.r + xf) - digamma(p.r);
            self.d_b = digamma(p.b + xf) - digamma(p.b);
            self.d_ab = digamma(ab + xf) - digamma(ab);
            self.x = x;
            return;
        }
        while self.x < x {
            let k = f64::from(self.x);
            self.ln_r += (p.r + k).ln();
            self.ln_b += (p.b + k).ln();
            self.ln_ab += (ab + k).ln();
            self.d_r += 1.0 / (p.r + k);
            self.d_b += 1.0 / (p.b + k);
            self.d_ab += 1.0 / (ab + k);
            self.x += 1;
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn rfm(x: u32, t_x: f64, t_cal: f64) -> RfmSummary {
        RfmSummary {
            x,
            t_x,
            t_cal,
            monetary_mean_minor: 0.0,
        }
    }

    /// Histories with repeats, zeros, and an x far enough from the others (200) to take the
    /// ln Γ / ψ jump in `GammaRatioSums`.
    pub(in super::super) fn sample() -> Vec<RfmSummary> {
        let mut data = Vec::new();
        for i in 0..120u32 {
            let t_cal = f64::from(20 + i % 17);
            let x = (i * 7) % 9;
            let t_x = if x == 0 {
                0.0
            } else {
                t_cal * f64::from(1 + i % 5) / 5.0
            };
            data.push(rfm(x, t_x, t_cal));
        }
        data.extend([
            rfm(200, 35.0, 36.0),
            rfm(200, 35.0, 36.0),
            rfm(3, 2.0, 30.0),
        ]);
        data
    }

    /// Eq. 6 for one customer, written directly with ln Γ.
    fn naive_ln_likelihood(p: &BgNbdParams, c: &RfmSummary) -> f64 {
        let x = f64::from(c.x);
        let head = ln_gamma(p.r + x) - ln_gamma(p.r)
            + p.r * p.alpha.ln()
            + ln_gamma(p.a + p.b)
            + ln_gamma(p.b + x)
            - ln_gamma(p.b)
            - ln_gamma(p.a + p.b + x);
        // Scaled by the larger term: (α+T)^{−(r+x)} underflows for x = 200.
        let ln_alive = -(p.r + x) * (p.alpha + c.t_cal).ln();
        let ln_dropped = (p.a / (p.b + x - 1.0)).ln() - (p.r + x) * (p.alpha + c.t_x).ln();
        if c.x == 0 {
            return head + ln_alive;
        }
        let top = ln_alive.max(ln_dropped);
        head + top + ((ln_alive - top).exp() + (ln_dropped - top).exp()).ln()
    }

    const PARAMS: BgNbdParams = BgNbdParams {
        r: 0.7,
        alpha: 6.0,
        a: 0.9,
        b: 2.2,
    };

    #[test]
    fn grouped_likelihood_equals_the_per_customer_sum() {
        let data = sample();
        let naive: f64 = data.iter().map(|c| naive_ln_likelihood(&PARAMS, c)).sum();
        let grouped = super::super::bgnbd_fit::log_likelihood(&PARAMS, &data).unwrap_or(f64::NAN);
        assert!(
            (grouped - naive).abs() < 1e-9 * naive.abs(),
            "{grouped} vs {naive}"
        );
        assert!(Histories::group(&data).groups.len() < data.len());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let histories = Histories::group(&sample());
        let mut scratch = Scratch::default();
        let mut grad = [0.0; 4];
        histories.log_likelihood(&PARAMS, &mut scratch, Some(&mut grad));
        let at = |i: usize, h: f64| {
            let mut v = [PARAMS.r, PARAMS.alpha, PARAMS.a, PARAMS.b];
            v[i] += h;
            let p = BgNbdParams {
                r: v[0],
                alpha: v[1],
                a: v[2],
                b: v[3],
            };
            histories.log_likelihood(&p, &mut Scratch::default(), None)
        };
        for (i, analytic) in grad.iter().enumerate() {
            let numeric = (at(i, 1e-6) - at(i, -1e-6)) / 2e-6;
            assert!(
                (analytic - numeric).abs() < 1e-5 * (1.0 + numeric.abs()),
                "parameter {i}: {analytic} vs {numeric}"
            );
        }
    }
}
