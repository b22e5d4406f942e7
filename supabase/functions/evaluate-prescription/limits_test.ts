/**
 * Issue 16 at the edge: the body timeout (408), a client that leaves mid-body (one access line, 499), JSON nested
 * deeper than MAX_JSON_DEPTH, lone surrogates and numbers beyond a double (422 naming the body, as Python says).
 * The handler is called with Requests whose bodies are streams the test controls; nothing reaches a judge.
 * Run: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { MAX_JSON_DEPTH, tooDeep } from "./contract.ts";
import { handle } from "./handler.ts";

const CASE = "F 30y, cystitis; nitrofurantoin 100 mg BD x 5 days";

function postText(text: string): Request {
  return new Request("http://localhost/evaluate-prescription", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: text,
  });
}

function postStream(body: ReadableStream<Uint8Array>, signal?: AbortSignal): Request {
  return new Request("http://localhost/evaluate-prescription", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal,
  });
}

async function errorOf(resp: Response) {
  return { status: resp.status, ...(await resp.json()).error };
}

/** A request value nesting `depth` levels: the body (1), patient_case (2), then lists down to `depth`. */
function nested(depth: number): string {
  const inner = "[".repeat(depth - 2) + '"cystitis"' + "]".repeat(depth - 2);
  return `{"patient_case": {"notes": ${inner}}, "model_output": "x"}`;
}

Deno.test("a body not complete within AMR_GRPO_BODY_TIMEOUT_S is 408 and closes the connection", async () => {
  let cancelled = false;
  const stalled = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"patient_case": "'));
    }, // then nothing, ever
    cancel() {
      cancelled = true;
    },
  });
  const lines: string[] = [];
  const started = performance.now();
  const resp = await handle(postStream(stalled), {
    env: (n) => ({ AMR_GRPO_BODY_TIMEOUT_S: "0.2", GROQ_API_KEY: "k" } as Record<string, string>)[n],
    log: (l) => lines.push(l),
  });
  ok(performance.now() - started < 5000); // before the fix: never answered
  deepStrictEqual(await errorOf(resp), {
    status: 408,
    code: "request_timeout",
    message: "the request body did not arrive within 0.2 s",
    field: null,
  });
  strictEqual(resp.headers.get("connection"), "close");
  ok(cancelled, "the stalled stream is cancelled: the handler keeps nothing of it");
  strictEqual(JSON.parse(lines.at(-1)!).status, 408);
});

Deno.test("a client that leaves mid-body is one access line with status 499", async () => {
  const broken = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"patient_case": "'));
      setTimeout(() => c.error(new Error("connection closed before message completed")), 20);
    },
  });
  const lines: string[] = [];
  await handle(postStream(broken), { env: () => undefined, log: (l) => lines.push(l) });
  strictEqual(lines.length, 1, lines.join("\n")); // before the fix: an "unhandled" line and a 500
  deepStrictEqual(JSON.parse(lines[0]).status, 499);
});

Deno.test("tooDeep counts brackets outside strings, escapes included", () => {
  strictEqual(tooDeep("[".repeat(64) + "]".repeat(64)), false);
  strictEqual(tooDeep("[".repeat(65) + "]".repeat(65)), true);
  strictEqual(tooDeep(JSON.stringify({ a: "[".repeat(100) })), false);
  strictEqual(tooDeep(JSON.stringify({ a: '\\"[[[' + "{".repeat(100) })), false);
  strictEqual(tooDeep('{"a": "\\\\"' + ", " + "[".repeat(70)), true); // the escaped backslash ends no string early
});

Deno.test(`${MAX_JSON_DEPTH} levels pass the depth check; one more, and 10,000, are 422 naming the body`, async () => {
  const env = { env: () => undefined, log: () => {} };
  // 64 levels: past the depth check, stopped later for want of a judge key (503), not by the check
  strictEqual((await handle(postText(nested(MAX_JSON_DEPTH)), env)).status, 503);
  for (const text of [nested(MAX_JSON_DEPTH + 1), "[".repeat(10_000) + "]".repeat(10_000)]) {
    deepStrictEqual(await errorOf(await handle(postText(text), env)), {
      status: 422,
      code: "validation_error",
      message: `the request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`,
      field: "body",
    });
  }
  // before the fix: 10,000 levels inside patient_case reached JSON.stringify, a RangeError and a 500
  const deep = `{"patient_case": {"a": ${"[".repeat(10_000)}${"]".repeat(10_000)}}, "model_output": "x"}`;
  strictEqual((await handle(postText(deep), env)).status, 422);
});

Deno.test("lone surrogates and numbers beyond a double are 422 naming the body, as in Python", async () => {
  const env = { env: () => undefined, log: () => {} };
  const refused = [
    `{"patient_case": "${CASE} \\ud800", "model_output": "x"}`,
    `{"patient_case": {"a\\udc00b": 1}, "model_output": "x"}`,
    `{"patient_case": {"weight_kg": 1e400}, "model_output": "x"}`,
    `{"patient_case": {"weight_kg": -1${"0".repeat(400)}}, "model_output": "x"}`,
    `{"patient_case": {"weight_kg": NaN}, "model_output": "x"}`,
  ];
  for (const text of refused) {
    const err = await errorOf(await handle(postText(text), env));
    deepStrictEqual([err.status, err.code, err.field], [422, "validation_error", "body"], text);
  }
  const accepted = [
    `{"patient_case": "${CASE} \\ud83d\\ude00", "model_output": "x"}`, // a pair is one character
    `{"patient_case": {"weight_kg": 1e308, "note": "NaN 1e400"}, "model_output": "x"}`,
  ];
  for (const text of accepted) strictEqual((await handle(postText(text), env)).status, 503, text); // no judge key
});
