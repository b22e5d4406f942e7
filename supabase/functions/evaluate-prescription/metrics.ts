/**
 * The six rubric metrics, the weighted reward and the critical-error cap, a port of
 * src/amr_grpo/metrics.py.
 *
 * metrics.json beside this file is a byte-identical copy of src/amr_grpo/metrics.json, written by
 * scripts/sync_edge_tables.py (tests/service/test_edge_tables.py fails if they differ). weightedReward adds in rubric order, one
 * term at a time, exactly as Python's metrics.weighted_reward does, so both give the same float;
 * applyCriticalCap caps every score of a verdict with a critical error, as Python does.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import rubric from "./metrics.json" with { type: "json" };

export interface Metric {
  key: string;
  name: string;
  weight: number;
  priority: boolean;
  description: string;
  anchors: Record<string, string>; // "1".."5" -> what that score looks like
}

export const RUBRIC_VERSION: string = rubric.rubric_version;
export const CRITICAL_MAX_SCORE: number = rubric.critical_error.max_score;
export const SCORE_MIN: number = rubric.scale.min;
export const SCORE_MAX: number = rubric.scale.max;
export const METRICS: readonly Metric[] = rubric.metrics;
export const METRIC_KEYS: readonly string[] = METRICS.map((m) => m.key);
export const PRIORITY_KEYS: readonly string[] = METRICS.filter((m) => m.priority).map((m) => m.key);
const WEIGHTS = new Map(METRICS.map((m) => [m.key, m.weight]));

export function getMetric(key: string): Metric {
  const m = METRICS.find((x) => x.key === key);
  if (!m) throw new RangeError(`unknown metric '${key}'; known: ${METRIC_KEYS.join(", ")}`);
  return m;
}

/** 'priority' | 'all' | 'a,b' | [keys] -> metric keys in rubric order. Bad input throws RangeError. */
export function resolveMetrics(metrics: string | readonly string[]): string[] {
  let keys: readonly string[];
  if (typeof metrics === "string") {
    if (metrics === "priority") return [...PRIORITY_KEYS];
    if (metrics === "all") return [...METRIC_KEYS];
    keys = metrics.split(",").map((k) => k.trim()).filter((k) => k);
  } else {
    keys = metrics;
  }
  if (keys.length === 0) throw new RangeError("metrics: empty list; use 'priority', 'all' or metric keys");
  const unknown = [...new Set(keys)].filter((k) => !WEIGHTS.has(k));
  if (unknown.length) {
    throw new RangeError(
      `metrics: unknown metric(s) ${unknown.map((k) => `'${k}'`).join(", ")}; known: ${METRIC_KEYS.join(", ")}`,
    );
  }
  return METRIC_KEYS.filter((k) => keys.includes(k));
}

/** sum(w_m * score_m / 5) / sum(w_m) over the metric set, in [0.2, 1.0]; a missing score throws. */
export function weightedReward(scores: Record<string, number>, metrics: string | readonly string[]): number {
  const keys = resolveMetrics(metrics);
  let totalW = 0;
  for (const k of keys) totalW += WEIGHTS.get(k)!;
  let acc = 0;
  for (const k of keys) {
    const s = scores[k];
    if (typeof s !== "number") throw new RangeError(`no score for '${k}'`);
    if (!(s >= SCORE_MIN && s <= SCORE_MAX)) throw new RangeError(`score for '${k}' is ${s}; must be within 1-5`);
    acc += WEIGHTS.get(k)! * s / SCORE_MAX;
  }
  // Clamp the float round-off (0.04 / 0.2 = 0.19999999999999998) back into [0.2, 1.0], as metrics.py does.
  return Math.min(1, Math.max(SCORE_MIN / SCORE_MAX, acc / totalW));
}

/** Every score capped at CRITICAL_MAX_SCORE when `critical` (so the weighted reward is at most 0.4). */
export function applyCriticalCap(scores: Record<string, number>, critical: boolean): Record<string, number> {
  if (!critical) return { ...scores };
  return Object.fromEntries(Object.entries(scores).map(([k, s]) => [k, Math.min(s, CRITICAL_MAX_SCORE)]));
}
