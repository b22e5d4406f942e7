/**
 * Every shared test vector (tests/vectors/evaluate.json) through the handler, against a fake Groq on loopback.
 * The Python end-to-end test (tests/service/test_edge_function.py) sends the same vectors to both services.
 * Run: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { FakeGroq, type Reply } from "./fake_groq_test_util.ts";
import { handle } from "./handler.ts";

interface Vector {
  name: string;
  why: string;
  marker: string;
  request: {
    method?: string;
    content_type?: string | null;
    body?: Record<string, unknown> | unknown[];
    raw?: string;
    pad_model_output_to?: number;
  };
  env?: Record<string, string | null>;
  judge: Reply[];
  expect: {
    status: number;
    scores?: Record<string, number>;
    weighted_reward?: number;
    metrics_used?: string[];
    flags?: Record<string, boolean>;
    prompt_contains?: string;
    error?: { code: string; field: string | null };
    retry_after?: string;
    judge_calls: number;
  };
}

const VECTORS_FILE = new URL("../../../tests/vectors/evaluate.json", import.meta.url);
const { vectors } = JSON.parse(await Deno.readTextFile(VECTORS_FILE)) as { vectors: Vector[] };
const KEY = "gsk_test_key_never_logged";

/** The vector's HTTP request, as a client would send it. */
export function buildRequest(v: Vector, url: string): Request {
  const r = v.request;
  const headers = new Headers();
  const contentType = r.content_type === undefined ? "application/json" : r.content_type;
  if (contentType !== null) headers.set("content-type", contentType);
  let body: string | undefined = r.raw;
  if (r.body !== undefined) {
    const data = structuredClone(r.body) as Record<string, unknown>;
    if (r.pad_model_output_to) data.model_output = "x".repeat(r.pad_model_output_to);
    body = JSON.stringify(data);
  }
  return new Request(url, { method: r.method ?? "POST", headers, body: (r.method ?? "POST") === "GET" ? null : body });
}

Deno.test("vectors: the file has every kind of case the contract needs", () => {
  const statuses = new Set(vectors.map((v) => v.expect.status));
  for (const s of [200, 405, 413, 415, 422, 429, 502, 503]) ok(statuses.has(s), `no vector expects ${s}`);
  const metricForms = vectors.filter((v) => v.expect.status === 200).map((v) => {
    const m = (v.request.body as Record<string, unknown>).metrics;
    return m === undefined ? "default" : Array.isArray(m) ? "list" : m;
  });
  for (const form of ["default", "priority", "all", "list"]) ok(metricForms.includes(form), `no ${form} vector`);
});

Deno.test("vectors: the handler gives each vector's expected answer", async (t) => {
  const fake = new FakeGroq();
  try {
    for (const v of vectors) {
      await t.step(v.name, async () => {
        fake.reset(v.judge);
        const env: Record<string, string | null> = { GROQ_API_KEY: KEY, GROQ_BASE_URL: fake.baseUrl, ...v.env };
        const logs: string[] = [];
        const resp = await handle(buildRequest(v, "http://localhost/evaluate-prescription"), {
          env: (name) => env[name] ?? undefined,
          log: (line) => logs.push(line),
        });
        const body = await resp.json();
        strictEqual(resp.status, v.expect.status, `${v.why}\n${JSON.stringify(body)}`);
        strictEqual(resp.headers.get("access-control-allow-origin"), "*");
        strictEqual(resp.headers.get("content-type"), "application/json");
        strictEqual(fake.requests.length, v.expect.judge_calls, "provider calls");
        strictEqual(logs.length, 1, "one access line per request");
        ok(!logs[0].includes(KEY) && !logs[0].includes("Amoxicillin"), "the log carries no key and no case text");
        ok(!JSON.stringify(body).includes(KEY), "the answer never echoes the key");
        if (v.expect.status === 200) {
          deepStrictEqual(
            Object.fromEntries(Object.entries(body.scores).map(([k, s]) => [k, (s as { score: number }).score])),
            v.expect.scores,
          );
          strictEqual(body.weighted_reward, v.expect.weighted_reward, v.why); // exact: the same float as Python
          deepStrictEqual(body.metrics_used, v.expect.metrics_used);
          deepStrictEqual(body.flags, v.expect.flags);
          deepStrictEqual(Object.keys(body).sort(), [
            "cached",
            "flags",
            "judge",
            "metrics_used",
            "scores",
            "weighted_reward",
          ]);
          strictEqual(body.judge.rubric_version, "amr-rubric-v2");
          // the judge's own rationale, even where the critical-error cap lowered its score
          const answer = [...v.judge].reverse().find((r) => (r as { answer?: { scores?: unknown } }).answer?.scores);
          const raw = (answer as { answer: { scores: Record<string, { score: number }> } }).answer.scores;
          for (const [k, s] of Object.entries(body.scores)) {
            strictEqual((s as { justification: string }).justification, `rationale for ${k}: scored ${raw[k].score}`);
          }
          const first = fake.requests[0];
          ok(first.body.messages.some((m) => m.content.includes(v.marker)), "the judged text reaches the prompt");
          if (v.expect.prompt_contains) {
            ok(first.body.messages.some((m) => m.content.includes(v.expect.prompt_contains!)), "the checklist");
          }
          strictEqual(first.headers.authorization, `Bearer ${KEY}`);
        } else {
          deepStrictEqual(Object.keys(body), ["error"]);
          strictEqual(body.error.code, v.expect.error!.code, v.why);
          strictEqual(body.error.field, v.expect.error!.field, v.why);
          strictEqual(typeof body.error.message, "string");
          ok(!/Traceback|\n\s+at /.test(body.error.message), "no stack trace");
        }
        strictEqual(resp.headers.get("retry-after"), v.expect.retry_after ?? null, "Retry-After");
      });
    }
  } finally {
    await fake.close();
  }
});
