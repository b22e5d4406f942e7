/**
 * The LLM judge: one OpenAI-compatible chat-completions call (Groq by default) scoring every requested
 * metric, JSON mode, temperature 0; the answer validated (exactly the requested keys, integer scores
 * 1-5), one retry quoting the error, then a JudgeError. Provider failures map to the JudgeError kinds
 * of src/amr_grpo/judge/base.py, which the handler turns into the Python service's 429/502/503.
 * Try it: deno test handler_test.ts
 */

import type { EvalRequest } from "./contract.ts";
import { type Message, renderMessages, retryMessages } from "./rubric.ts";

export const DEFAULT_BASE_URL = "https://api.groq.com/openai/v1";
export const DEFAULT_MODEL = "llama-3.3-70b-versatile";
const MAX_TOKENS = 2048; // six metrics with evidence and rationale fit well within this

/** kind: rate_limited | quota_exhausted | timeout | server_error | bad_answer | unavailable. */
export class JudgeError extends Error {
  constructor(readonly kind: string, message: string, readonly retryAfter: number | null = null) {
    super(message);
  }
}

export interface JudgeConfig {
  baseUrl: string;
  model: string;
  apiKey: string | undefined;
  timeoutMs: number;
  fetch: typeof fetch;
}

export interface MetricAnswer {
  evidence: string;
  rationale: string;
  score: number;
}

export interface JudgeAnswer {
  injection_suspected: boolean;
  critical_error: boolean;
  scores: Record<string, MetricAnswer>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validate the judge's message content; throws Error with a message fit to quote back to the model. */
export function parseAnswer(content: string, keys: readonly string[]): JudgeAnswer {
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch {
    throw new Error("the answer is not valid JSON");
  }
  if (!isObject(data)) throw new Error("the answer must be a JSON object");
  for (const flag of ["injection_suspected", "critical_error"]) {
    if (typeof data[flag] !== "boolean") throw new Error(`"${flag}" must be true or false`);
  }
  const scores = data.scores;
  if (!isObject(scores)) throw new Error('"scores" must be an object keyed by metric');
  const missing = keys.filter((k) => !(k in scores));
  const extra = Object.keys(scores).filter((k) => !keys.includes(k));
  if (missing.length || extra.length) {
    throw new Error(
      `"scores" must have exactly the keys ${keys.join(", ")}` +
        (missing.length ? `; missing ${missing.join(", ")}` : "") +
        (extra.length ? `; unexpected ${extra.join(", ")}` : ""),
    );
  }
  const out: Record<string, MetricAnswer> = {};
  for (const k of keys) {
    const s = scores[k];
    if (!isObject(s)) throw new Error(`scores.${k} must be an object with evidence, rationale and score`);
    if (typeof s.evidence !== "string") throw new Error(`scores.${k}.evidence must be a string`);
    if (typeof s.rationale !== "string") throw new Error(`scores.${k}.rationale must be a string`);
    if (typeof s.score !== "number" || !Number.isInteger(s.score) || s.score < 1 || s.score > 5) {
      throw new Error(`scores.${k}.score must be an integer from 1 to 5, got ${JSON.stringify(s.score)}`);
    }
    out[k] = { evidence: s.evidence, rationale: s.rationale, score: s.score };
  }
  return {
    injection_suspected: data.injection_suspected as boolean,
    critical_error: data.critical_error as boolean,
    scores: out,
  };
}

/** Seconds from Retry-After (delta-seconds or an HTTP date) or retry-after-ms; null when absent. */
export function retryAfterSeconds(headers: Headers): number | null {
  const ms = Number(headers.get("retry-after-ms"));
  const ra = headers.get("retry-after");
  if (ra !== null && ra.trim() !== "") {
    const s = Number(ra);
    if (Number.isFinite(s)) return Math.max(0, s);
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, (date - Date.now()) / 1000);
  }
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : null;
}

interface Completion {
  content: string;
}

/** One chat-completions call; provider failures become JudgeError, a usable 200 returns its content. */
async function complete(cfg: JudgeConfig, messages: Message[]): Promise<Completion | JudgeError> {
  let resp: Response;
  try {
    resp = await cfg.fetch(`${cfg.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${cfg.apiKey}` },
      body: JSON.stringify({
        model: cfg.model,
        messages,
        temperature: 0,
        max_tokens: MAX_TOKENS,
        response_format: { type: "json_object" },
      }),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
  } catch (e) {
    const name = (e as Error).name;
    if (name === "TimeoutError" || name === "AbortError") {
      throw new JudgeError("timeout", `the judge did not answer within ${cfg.timeoutMs} ms`);
    }
    throw new JudgeError("unavailable", "could not reach the judge provider");
  }
  const text = await resp.text().catch(() => "");
  if (resp.status === 429) {
    const wait = retryAfterSeconds(resp.headers);
    const quota = /per day|\bRPD\b|\bTPD\b|quota/i.test(text);
    throw new JudgeError(quota ? "quota_exhausted" : "rate_limited", "the judge provider is rate limiting", wait);
  }
  if (resp.status === 401 || resp.status === 403) {
    throw new JudgeError("unavailable", "the judge provider refused the API key (check the GROQ_API_KEY secret)");
  }
  if (resp.status === 400 && /json_validate_failed/.test(text)) {
    // Groq's JSON mode refused the model's own output: treat it as a bad answer worth one retry.
    return new JudgeError("bad_answer", "the judge's output was not valid JSON");
  }
  if (resp.status >= 400) {
    throw new JudgeError(
      "server_error",
      `the judge provider answered HTTP ${resp.status}`,
      retryAfterSeconds(resp.headers),
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new JudgeError("server_error", "the judge provider's response is not JSON");
  }
  const content = isObject(body) && Array.isArray(body.choices) && isObject(body.choices[0]) &&
      isObject(body.choices[0].message)
    ? body.choices[0].message.content
    : undefined;
  if (typeof content !== "string") throw new JudgeError("server_error", "the judge provider's response has no content");
  return { content };
}

/** Score every requested metric in one call (plus at most one retry after a bad answer). */
export async function score(req: EvalRequest, cfg: JudgeConfig, nonce: string): Promise<JudgeAnswer> {
  if (!cfg.apiKey) throw new JudgeError("unavailable", "GROQ_API_KEY is not set for this function");
  const messages = renderMessages(req, nonce);
  let asked = messages;
  let error = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const got = await complete(cfg, asked);
    let content = "";
    if (got instanceof JudgeError) {
      error = got.message;
    } else {
      content = got.content;
      try {
        return parseAnswer(content, req.metrics);
      } catch (e) {
        error = (e as Error).message;
      }
    }
    asked = retryMessages(messages, content, error, req.metrics);
  }
  throw new JudgeError("bad_answer", `the judge's answer does not fit the rubric: ${error}`);
}
