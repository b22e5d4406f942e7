"""Benchmark: the agreement's bootstrap (all resamples at once from weighted counts, amr_grpo.review.agreement)
against the baseline of calling scikit-learn's cohen_kappa_score and scipy's spearmanr once per resample, on the
same pairs and the same resamples, measured in one run; prints both times, the ratio and the largest difference.
Try it: .venv/bin/python bench/review_agreement.py [--pairs 200] [--boot 1000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from amr_grpo.review import agreement as ag


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--boot", type=int, default=1000)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    items = rng.integers(0, args.pairs // 2, args.pairs).astype(str)  # about two clinician labels per item
    judge = rng.integers(1, 6, args.pairs)
    clin = np.clip(judge + rng.integers(-1, 2, args.pairs), 1, 5)
    w = ag.cluster_weights(items, args.boot, seed=0)  # (boot, pairs)

    t0 = time.perf_counter()
    ours = np.stack([ag._kappa_rows(judge, clin, w, ag.SCALE, True), ag._spearman_rows(judge, clin, w)])
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    base = np.empty_like(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(args.boot):
            reps = w[b].astype(int)
            a, c = np.repeat(judge, reps), np.repeat(clin, reps)
            base[0, b] = cohen_kappa_score(a, c, labels=ag.SCALE, weights="quadratic")
            base[1, b] = spearmanr(a, c).statistic
    t_base = time.perf_counter() - t0

    diff = float(np.nanmax(np.abs(ours - base)))
    print(f"{args.pairs} pairs, {args.boot} cluster resamples, quadratic kappa + Spearman")
    print(f"  ours (weighted counts, all resamples at once): {t_ours:.3f} s")
    print(f"  baseline (scikit-learn + scipy per resample):  {t_base:.3f} s")
    print(f"  ratio baseline/ours: {t_base / t_ours:.1f}x; largest difference {diff:.2e}")


if __name__ == "__main__":
    main()
