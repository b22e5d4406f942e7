/**
 * The LLM judge: one OpenAI-compatible chat-completions call (Groq by default) scoring every requested
 * metric, JSON mode, temperature 0; the answer checked by rubric.parseAnswer (exactly the requested keys,
 * integer scores 1-5), one retry quoting the error, then a JudgeError. Provider failures map to the
 * JudgeError kinds of src/amr_grpo/judge/base.py; the handler turns them into the service's 429/502/503.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import type { EvalRequest } from "./contract.ts";
import { type Answer, type Message, parseAnswer, renderMessages, retryMessages } from "./rubric.ts";

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
  type ChatCompletion = { choices?: { message?: { content?: unknown } }[] } | null;
  let content: unknown;
  try {
    content = (JSON.parse(text) as ChatCompletion)?.choices?.[0]?.message?.content;
  } catch {
    throw new JudgeError("server_error", "the judge provider's response is not JSON");
  }
  if (typeof content !== "string") throw new JudgeError("server_error", "the judge provider's response has no content");
  return { content };
}

/** Score every requested metric in one call (plus at most one retry after a bad answer). */
export async function score(req: EvalRequest, cfg: JudgeConfig, nonce: string, screened: boolean): Promise<Answer> {
  if (!cfg.apiKey) throw new JudgeError("unavailable", "GROQ_API_KEY is not set for this function");
  const messages = renderMessages(req, nonce, screened);
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
    asked = retryMessages(messages, content, error);
  }
  throw new JudgeError("bad_answer", `the judge's answer does not fit the rubric: ${error}`);
}
