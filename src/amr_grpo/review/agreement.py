"""How well the judges agree with the clinicians, and the clinicians with each other, with bootstrap intervals.

Judge vs clinician, per judge (rules, an LLM judge, ...), for each metric and for the weighted reward: every
clinician label of an item is paired with the judge's score of that item.
  - kappa_quadratic: Cohen's kappa with quadratic weights on the 1-5 scale (scikit-learn), the usual agreement for
    ordinal ratings: 1 = perfect, 0 = chance, < 0 = worse than chance;
  - spearman: Spearman's rank correlation (scipy);
  - exact / within_1: the share of pairs with the same score / scores at most 1 apart.
  The weighted reward is compared as the judge gave it against the same formula over the clinician's scores (a label
  must rate every metric the judge scored): Spearman on the rewards, kappa / exact / within-1 on rewards put back on
  the 1-5 scale (round(5 x reward)).
Decision: the clinician's decision against the decision the judges reward (the reference) and against the reviewed
output's own decision: Cohen's kappa (unweighted) and exact agreement.
Clinician vs clinician, on items that two or more clinicians rated: Krippendorff's alpha (the `krippendorff`
package; ordinal for metrics, nominal for the decision, interval for the weighted reward), which allows any number of
raters and missing ratings.
Intervals: 95% percentile bootstrap over items (all pairs of an item are resampled together, so several clinicians
on one item do not pass for independent evidence); resamples where a statistic is undefined (e.g. every score
equal) are left out, and no interval is given when most are.
Try it: amr-grpo review agreement --db runs/review/review.sqlite -o runs/review/agreement
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from amr_grpo.metrics import METRIC_KEYS, weighted_reward
from amr_grpo.review.store import DECISIONS, Store

N_BOOT = 1000
SCALE = [1, 2, 3, 4, 5]
NOTICE = ("Research tool, not for clinical use. Agreement is measured on the reviewed sample, which is stratified "
          "by decision and score band, not drawn in proportion to any population.")
Stat = Callable[[np.ndarray, np.ndarray], float]


def kappa_quadratic(a: Sequence[int], b: Sequence[int]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b, labels=SCALE, weights="quadratic"))


def kappa_nominal(a: Sequence[str], b: Sequence[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b, labels=list(DECISIONS)))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def exact(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def within_1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(a, float) - np.asarray(b, float)) <= 1))


def _clean(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


# ---------------------------------------------------------------------- the same statistics over many resamples
# A cluster-bootstrap resample is a weight per pair (how often its item was drawn), so every statistic is computed for
# all resamples at once from weighted counts. Done by hand because calling scikit-learn / scipy once per resample
# costs ~3 ms a call (input checks), half a minute for one judge; tests/review/test_review_agreement.py checks that these
# give the libraries' values on the expanded samples.

def _kappa_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray, labels: Sequence[Any], quadratic: bool) -> np.ndarray:
    """Cohen's kappa for each row of weights w (n_boot, n): 1 - sum(D * O) / sum(D * E), D the disagreement weights
    ((i - j)^2 or i != j), O the weighted confusion counts, E their product of marginals (as scikit-learn)."""
    k = len(labels)
    pos = {v: i for i, v in enumerate(labels)}
    cell = np.array([pos[x] * k + pos[y] for x, y in zip(a, b)])  # (n,)
    counts = (w @ np.eye(k * k)[cell]).reshape(len(w), k, k)  # (n_boot, k, k)
    idx = np.arange(k)
    d = (idx[:, None] - idx[None, :]) ** 2 if quadratic else (idx[:, None] != idx[None, :]).astype(float)  # (k, k)
    total = counts.sum(axis=(1, 2))  # (n_boot,)
    expected = counts.sum(2)[:, :, None] * counts.sum(1)[:, None, :] / total[:, None, None]  # (n_boot, k, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (d * counts).sum(axis=(1, 2)) / (d * expected).sum(axis=(1, 2))


def _midranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each pair's rank in each weighted resample, ties given their mean rank (as scipy.stats.rankdata)."""
    _, inv = np.unique(x, return_inverse=True)
    per_value = w @ np.eye(inv.max() + 1)[inv]  # (n_boot, values): how many copies of each value
    before = np.cumsum(per_value, axis=1) - per_value
    return (before + (per_value + 1) / 2)[:, inv]  # (n_boot, n)


def _spearman_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    ra, rb = _midranks(np.asarray(a, float), w), _midranks(np.asarray(b, float), w)  # (n_boot, n) each
    sw = w.sum(1, keepdims=True)
    da, db = ra - (w * ra).sum(1, keepdims=True) / sw, rb - (w * rb).sum(1, keepdims=True) / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w * da * db).sum(1) / np.sqrt((w * da * da).sum(1) * (w * db * db).sum(1))


def _share_rows(hit: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ hit.astype(float)) / w.sum(1)


POINT: dict[str, Stat] = {"kappa_quadratic": kappa_quadratic, "kappa": kappa_nominal, "spearman": spearman,
                          "exact": exact, "within_1": within_1}


def _rows(name: str, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    if name in ("kappa_quadratic", "kappa"):
        return _kappa_rows(a, b, w, SCALE if name == "kappa_quadratic" else DECISIONS, name == "kappa_quadratic")
    if name == "spearman":
        return _spearman_rows(a, b, w)
    if name == "exact":
        return _share_rows(a == b, w)
    return _share_rows(np.abs(a.astype(float) - b.astype(float)) <= 1, w)


def cluster_weights(clusters: Sequence[Any], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) weights: in each resample the items are drawn with replacement, and each pair counts as often as
    its item was drawn (all pairs of an item move together)."""
    _, item = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    n_items = item.max() + 1
    draws = np.random.default_rng(seed).integers(0, n_items, size=(n_boot, n_items))  # (n_boot, n_items)
    counts = np.stack([np.bincount(row, minlength=n_items) for row in draws]) if n_boot else np.zeros((0, n_items))
    return counts[:, item].astype(float)  # (n_boot, n)


def paired_bootstrap(a: Sequence[Any], b: Sequence[Any], clusters: Sequence[Any], stats: Sequence[str],
                     n_boot: int = N_BOOT, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Each statistic on the pairs (scikit-learn / scipy), with a 95% percentile-bootstrap interval over clusters
    (items). Resamples where a statistic is undefined are dropped and counted; no interval when most are."""
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    w = cluster_weights(clusters, n_boot if len(set(clusters)) > 1 else 0, seed)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an undefined statistic (a constant rater) warns; it is reported as None
        for name in stats:
            draws = _rows(name, a_arr, b_arr, w)
            ok = draws[~np.isnan(draws)]
            ci = [_clean(x) for x in np.percentile(ok, [2.5, 97.5])] if ok.size and ok.size >= draws.size / 2 \
                else None
            out[name] = {"value": _clean(POINT[name](a_arr, b_arr)), "ci95": ci, "n_boot_defined": int(ok.size)}
    return out


def _pairs_summary(judge: list[float], clin: list[float], items: list[str], stats: Sequence[str],
                   n_boot: int, seed: int, raw: tuple[list[float], list[float]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"n_pairs": len(judge), "n_items": len(set(items))}
    if not judge:
        return out
    out.update(paired_bootstrap(judge, clin, items, stats, n_boot, seed))
    if raw is not None:  # Spearman on the continuous rewards, over the same resamples
        out.update(paired_bootstrap(raw[0], raw[1], items, ["spearman"], n_boot, seed))
    out["mean_judge"] = _clean(float(np.mean(raw[0] if raw else judge)))
    out["mean_clinician"] = _clean(float(np.mean(raw[1] if raw else clin)))
    return out


def to_scale(reward: float) -> int:
    """A weighted reward in [0.2, 1] back on the 1-5 scale: round(5 x reward), halves up."""
    return int(min(5, max(1, math.floor(5 * reward + 0.5))))


def judge_vs_clinicians(items: dict[str, dict[str, Any]], labels: list[dict[str, Any]], judge: str,
                        n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """One judge against every clinician label, per metric and for the weighted reward."""
    ordinal = ["kappa_quadratic", "spearman", "exact", "within_1"]
    per_metric = {}
    for k in METRIC_KEYS:
        j, c, ids = [], [], []
        for lab in labels:
            v = items[lab["item_id"]]["judges"].get(judge)
            if v and k in v["scores"] and lab.get(k) is not None:
                j.append(int(v["scores"][k]))
                c.append(int(lab[k]))
                ids.append(lab["item_id"])
        per_metric[k] = _pairs_summary(j, c, ids, ordinal, n_boot, seed)
    jr, cr, ids = [], [], []
    for lab in labels:
        v = items[lab["item_id"]]["judges"].get(judge)
        if not v or v.get("weighted_reward") is None or any(lab.get(k) is None for k in v["scores"]):
            continue
        jr.append(float(v["weighted_reward"]))
        cr.append(weighted_reward({k: lab[k] for k in v["scores"]}))
        ids.append(lab["item_id"])
    binned = ["kappa_quadratic", "exact", "within_1"]
    reward = _pairs_summary([to_scale(x) for x in jr], [to_scale(x) for x in cr], ids, binned, n_boot, seed,
                            raw=(jr, cr))
    return {"metrics": per_metric, "weighted_reward": reward}


def decisions_vs_clinicians(items: dict[str, dict[str, Any]], labels: list[dict[str, Any]], n_boot: int = N_BOOT,
                            seed: int = 0) -> dict[str, Any]:
    """The clinician's decision against the reference decision and against the output's own decision."""
    out = {}
    for name, col in (("reference", "reference_decision"), ("output", "output_decision")):
        pairs = [(items[lab["item_id"]][col], lab["decision"], lab["item_id"]) for lab in labels
                 if lab.get("decision") and items[lab["item_id"]].get(col) in DECISIONS]
        stats = ["kappa", "exact"]
        out[name] = {"n_pairs": len(pairs), "n_items": len({p[2] for p in pairs})}
        if pairs:
            a, b, ids = zip(*pairs)
            out[name].update(paired_bootstrap(list(a), list(b), list(ids), stats, n_boot, seed))
    return out


def _alpha(matrix: np.ndarray, level: str, domain: Sequence[float] | None) -> float:
    import krippendorff

    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # 0/0 when every rating is equal: undefined, reported as None
            return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=domain))
    except ValueError:  # fewer than two values in use, or no item with two ratings: alpha is undefined
        return float("nan")


def between_clinicians(labels: list[dict[str, Any]], n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Krippendorff's alpha on the items two or more clinicians rated, per metric, decision and weighted reward."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lab in labels:
        by_item[lab["item_id"]].append(lab)
    multi = sorted(i for i, labs in by_item.items() if len(labs) >= 2)
    reviewers = sorted({lab["reviewer"] for i in multi for lab in by_item[i]})
    out: dict[str, Any] = {"n_items": len(multi), "reviewers": reviewers}
    if not multi:
        return out

    def value(lab: dict[str, Any], what: str) -> float:
        if what == "decision":
            return float(DECISIONS.index(lab["decision"])) if lab.get("decision") else np.nan
        if what == "weighted_reward":
            done = all(lab.get(k) is not None for k in METRIC_KEYS)
            return weighted_reward({k: lab[k] for k in METRIC_KEYS}) if done else np.nan
        return float(lab[what]) if lab.get(what) is not None else np.nan

    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, len(multi), len(multi)) for _ in range(n_boot)]
    for what in (*METRIC_KEYS, "decision", "weighted_reward"):
        level, domain = {"decision": ("nominal", [0.0, 1.0, 2.0]), "weighted_reward": ("interval", None)}.get(
            what, ("ordinal", SCALE))
        m = np.full((len(reviewers), len(multi)), np.nan)  # (raters, items)
        for col, item in enumerate(multi):
            for lab in by_item[item]:
                m[reviewers.index(lab["reviewer"]), col] = value(lab, what)
        point = _alpha(m, level, domain)
        draws = np.asarray([_alpha(m[:, idx], level, domain) for idx in resamples])
        ok = draws[~np.isnan(draws)]
        ci = [_clean(x) for x in np.percentile(ok, [2.5, 97.5])] if ok.size and ok.size >= draws.size / 2 else None
        out[what] = {"alpha": {"value": _clean(point), "ci95": ci, "n_boot_defined": int(ok.size)}, "level": level,
                     "n_ratings": int(np.sum(~np.isnan(m)))}
    return out


def compute(store: Store, export_id: str | None = None, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Everything agreement.json holds, from the store's items and labels."""
    items = {it["item_id"]: it for it in store.items(export_id)}
    labels = [lab for lab in store.labels(export_id=export_id) if lab["item_id"] in items]
    judges = sorted({name for lab in labels for name in items[lab["item_id"]]["judges"]})
    return {
        "notice": NOTICE,
        "database": store.url,
        "export_id": export_id,
        "n_boot": n_boot,
        "counts": {"items": len(items), "items_labelled": len({lab["item_id"] for lab in labels}),
                   "labels": len(labels), "reviewers": sorted({lab["reviewer"] for lab in labels})},
        "judges": {j: judge_vs_clinicians(items, labels, j, n_boot, seed) for j in judges},
        "decision": decisions_vs_clinicians(items, labels, n_boot, seed),
        "clinicians": between_clinicians(labels, n_boot, seed),
    }
