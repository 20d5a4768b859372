//! A small BFGS minimiser with a backtracking (Armijo) line search, for the three likelihoods
//! of this module (2–4 unconstrained variables: logs or logits of the model parameters, so
//! positivity needs no bounds). Hand-written because the optimiser crates pull in linear
//! algebra stacks far larger than these ~150 lines (Nocedal & Wright, *Numerical
//! Optimization*, 2nd ed., Algorithm 6.1 with the scaling of eq. 6.20).

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StopRule {
    /// Maximum BFGS iterations.
    pub max_iterations: usize,
    /// Converged when every gradient component is below this (objective scaled per customer).
    pub gradient_tolerance: f64,
}

/// Where the minimiser ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Minimum<const N: usize> {
    pub point: [f64; N],
    pub value: f64,
    pub iterations: usize,
    pub gradient_norm: f64,
    pub converged: bool,
}

/// Largest step in any variable per line search: the variables are logs, so 4 is a factor
/// of ~55 in a parameter, enough to travel and small enough never to overflow `exp`.
const MAX_STEP: f64 = 4.0;
const ARMIJO_C1: f64 = 1e-4;
const MAX_BACKTRACKS: usize = 60;
/// A line search that cannot decrease the objective, or an iteration that decreases it by
/// less than [`RESOLUTION_DECREASE`] (relative), with the gradient already this small has hit
/// floating-point resolution of the objective (a sum over 10⁵ customers): that is a minimum,
/// not a failure. Iterating on would only chase rounding noise through long backtracks.
const RESOLUTION_GRADIENT: f64 = 1e-6;
const RESOLUTION_DECREASE: f64 = 1e-13;

fn max_abs<const N: usize>(v: &[f64; N]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

/// Minimise `objective`, which returns the value at a point and writes the gradient. A
/// non-finite value is treated as "outside the domain" and the line search backs off.
pub(crate) fn minimize_bfgs<const N: usize>(
    mut objective: impl FnMut(&[f64; N], &mut [f64; N]) -> f64,
    start: [f64; N],
    stop: StopRule,
) -> Minimum<N> {
    let mut x = start;
    let mut g = [0.0; N];
    let mut f = objective(&x, &mut g);
    let mut h = identity::<N>();
    let mut first_step = true;
    let mut iterations = 0;
    let finite = |f: f64, g: &[f64; N]| f.is_finite() && g.iter().all(|v| v.is_finite());
    if !finite(f, &g) {
        return Minimum {
            point: x,
            value: f,
            iterations,
            gradient_norm: f64::INFINITY,
            converged: false,
        };
    }
    while iterations < stop.max_iterations {
        if max_abs(&g) < stop.gradient_tolerance {
            return Minimum {
                point: x,
                value: f,
                iterations,
                gradient_norm: max_abs(&g),
                converged: true,
            };
        }
        iterations += 1;
        let mut direction = mat_vec(&h, &g).map(|v| -v);
        let mut slope = dot(&direction, &g);
        if slope >= 0.0 {
            // The inverse Hessian lost positive definiteness: restart from steepest descent.
            h = identity::<N>();
            direction = g.map(|v| -v);
            slope = dot(&direction, &g);
        }
        let mut step = (MAX_STEP / max_abs(&direction)).min(1.0);
        let mut accepted = None;
        for _ in 0..MAX_BACKTRACKS {
            let trial: [f64; N] = std::array::from_fn(|i| x[i] + step * direction[i]);
            let mut trial_g = [0.0; N];
            let trial_f = objective(&trial, &mut trial_g);
            if finite(trial_f, &trial_g) && trial_f <= f + ARMIJO_C1 * step * slope {
                accepted = Some((trial, trial_f, trial_g));
                break;
            }
            step *= 0.5;
        }
        let Some((next_x, next_f, next_g)) = accepted else {
            let gradient_norm = max_abs(&g);
            return Minimum {
                point: x,
                value: f,
                iterations,
                gradient_norm,
                converged: gradient_norm < RESOLUTION_GRADIENT,
            };
        };
        let s: [f64; N] = std::array::from_fn(|i| next_x[i] - x[i]);
        let y: [f64; N] = std::array::from_fn(|i| next_g[i] - g[i]);
        let sy = dot(&s, &y);
        // Skip the update when curvature is not positive (keeps H positive definite).
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if first_step {
                // Nocedal & Wright eq. 6.20: scale H₀ before the first update.
                let scale = sy / dot(&y, &y);
                h = identity::<N>().map(|row| row.map(|v| v * scale));
                first_step = false;
            }
            bfgs_update(&mut h, &s, &y, sy);
        }
        let stalled = f - next_f <= RESOLUTION_DECREASE * f.abs().max(1.0);
        x = next_x;
        f = next_f;
        g = next_g;
        if stalled && max_abs(&g) < RESOLUTION_GRADIENT {
            return Minimum {
                point: x,
                value: f,
                iterations,
                gradient_norm: max_abs(&g),
                converged: true,
            };
        }
    }
    let gradient_norm = max_abs(&g);
    Minimum {
        point: x,
        value: f,
        iterations,
        gradient_norm,
        converged: gradient_norm < stop.gradient_tolerance,
    }
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }))
}

fn mat_vec<const N: usize>(m: &[[f64; N]; N], v: &[f64; N]) -> [f64; N] {
    std::array::from_fn(|i| dot(&m[i], v))
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀ s) (Nocedal & Wright eq. 6.17).
fn bfgs_update<const N: usize>(h: &mut [[f64; N]; N], s: &[f64; N], y: &[f64; N], sy: f64) {
    let rho = 1.0 / sy;
    let hy = mat_vec(h, y);
    let yhy = dot(y, &hy);
    for i in 0..N {
        for j in 0..N {
            h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOP: StopRule = StopRule {
        max_iterations: 500,
        gradient_tolerance: 1e-10,
    };

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosenbrock = |p: &[f64; 2], g: &mut [f64; 2]| {
            let (x, y) = (p[0], p[1]);
            g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
            g[1] = 200.0 * (y - x * x);
            (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
        };
        let min = minimize_bfgs(rosenbrock, [-1.2, 1.0], STOP);
        assert!(min.converged, "{min:?}");
        assert!(
            (min.point[0] - 1.0).abs() < 1e-6 && (min.point[1] - 1.0).abs() < 1e-6,
            "{min:?}"
        );
    }

    #[test]
    fn backs_off_from_non_finite_regions() {
        // ln-barrier at x = 0: steps that cross it give NaN and must be shrunk.
        let barrier = |p: &[f64; 1], g: &mut [f64; 1]| {
            g[0] = 1.0 - 1.0 / p[0];
            p[0] - p[0].ln()
        };
        let min = minimize_bfgs(barrier, [3.5], STOP);
        assert!(min.converged);
        assert!((min.point[0] - 1.0).abs() < 1e-8, "{min:?}");
    }

    #[test]
    fn reports_non_convergence_when_out_of_iterations() {
        let unbounded = |p: &[f64; 1], g: &mut [f64; 1]| {
            g[0] = -1.0;
            -p[0]
        };
        let min = minimize_bfgs(
            unbounded,
            [0.0],
            StopRule {
                max_iterations: 5,
                gradient_tolerance: 1e-9,
            },
        );
        assert!(!min.converged);
        assert_eq!(min.iterations, 5);
    }
}
