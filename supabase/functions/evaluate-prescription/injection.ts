/**
 * Prompt-injection pre-screen: does a judged text address the judge instead of validating the prescription?
 *
 * The patterns are those of src/amr_grpo/judge/injection.py, read from injection_patterns.json, which
 * scripts/sync_edge_tables.py generates from the Python source (tests/service/test_edge_function.py fails while it is out of
 * date). A hit sets flags.injection_suspected.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import table from "./injection_patterns.json" with { type: "json" };

export const PATTERNS: readonly string[] = table.patterns;
const ANY = new RegExp(PATTERNS.map((p) => `(?:${p})`).join("|"), table.flags);

/** True when the text addresses the judge (asks for a score, overrides instructions, fakes a system turn). */
export function screen(text: string | null | undefined): boolean {
  return !!text && ANY.test(text);
}
