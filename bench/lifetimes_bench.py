"""Times Python `lifetimes` on the synthetic chain that `maitre-bench --bin predictive` wrote.

Run by the Rust bench in its own virtual environment (bench/requirements.txt); prints one JSON
object on stdout: timings (best of N after a warm-up), the fitted BG/NBD parameters and the
means of the scores, so the Rust side can compare both the speed and the numbers.

    python lifetimes_bench.py --csv summaries.csv [--replicate 10] [--horizon-days 30] [--runs 5]
"""

import argparse
import json
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import scipy
import lifetimes
from lifetimes import BetaGeoFitter


def best_of(runs, operation):
    """Seconds of the fastest of `runs` calls after one warm-up, and the last result."""
    result = operation()
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        result = operation()
        best = min(best, time.perf_counter() - started)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="customer_id,frequency,recency,T,monetary_value")
    parser.add_argument("--replicate", type=int, default=10, help="copies of the customers to score")
    parser.add_argument("--horizon-days", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    # lifetimes on these pins emits pandas/NumPy deprecation warnings; they are not results.
    warnings.simplefilter("ignore")
    summaries = pd.read_csv(args.csv)
    frequency = summaries["frequency"].to_numpy()
    recency = summaries["recency"].to_numpy(dtype=float)
    age = summaries["T"].to_numpy(dtype=float)

    # What a data team writes: the default fitter, no penalizer, default tolerance.
    fit_s, fitter = best_of(args.runs, lambda: BetaGeoFitter().fit(frequency, recency, age))

    scored_frequency = np.tile(frequency, args.replicate)
    scored_recency = np.tile(recency, args.replicate)
    scored_age = np.tile(age, args.replicate)

    def score():
        p_alive = fitter.conditional_probability_alive(scored_frequency, scored_recency, scored_age)
        expected = fitter.conditional_expected_number_of_purchases_up_to_time(
            args.horizon_days, scored_frequency, scored_recency, scored_age
        )
        return p_alive, expected

    score_s, (p_alive, expected) = best_of(args.runs, score)
    params = fitter.params_
    report = {
        "customers": int(len(summaries)),
        "scored_customers": int(len(scored_frequency)),
        "fit_s": fit_s,
        "score_s": score_s,
        "params": {name: float(params[name]) for name in ("r", "alpha", "a", "b")},
        "mean_p_alive": float(np.mean(p_alive)),
        "mean_expected_visits": float(np.mean(expected)),
        "versions": {
            "python": platform.python_version(),
            "lifetimes": lifetimes.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
        },
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
