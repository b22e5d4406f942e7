/**
 * The LLM judge: one OpenAI-compatible chat-completions call (Groq by default) scoring every requested
 * metric, JSON mode, temperature 0; the answer checked by rubric.parseAnswer (exactly the requested keys,
 * integer scores 1-5), one retry quoting the error, then a JudgeError. Provider failures map to the
 * JudgeError kinds of src/amr_grpo/judge/base.py; the handler turns them into the service's 429/502/503.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import type { EvalRequest } from "./contract.ts";
import { type Answer, AnswerError, type Message, parseAnswer, renderMessages, retryMessages } from "./rubric.ts";

export const DEFAULT_BASE_URL = "https://api.groq.com/openai/v1";
export const DEFAULT_MODEL = "llama-3.3-70b-versatile";
const COMPLETION_TOKENS_PER_METRIC = 90; // evidence + rationale + score, as rubric.py estimates

/** kind: rate_limited | quota_exhausted | timeout | server_error | unreachable | bad_answer | unavailable. */
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

const QUOTA_THRESHOLD_S = 120; // a 429 asking to wait longer than this is a spent quota, not a busy minute
const QUOTA_WORDS = /per day|\(RPD\)|\(TPD\)|daily|insufficient_quota|quota/i;
const DURATION = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/;
const TRY_AGAIN = /try again in\s+([\dhms.]+)/i;

/** '7', '0.05', '2m59.56s', '1h2m', '350ms' -> seconds; null when unreadable (Python: llm.parse_duration). */
export function parseDuration(text: string | null | undefined): number | null {
  if (!text) return null;
  const t = text.trim().toLowerCase();
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return Math.max(0, Number(t));
  const m = DURATION.exec(t);
  if (!m || !m.slice(1).some((g) => g !== undefined)) return null;
  const [h, mi, sec, ms] = m.slice(1).map((g) => (g ? Number(g) : 0));
  return h * 3600 + mi * 60 + sec + ms / 1000;
}

/** A 429: rate_limited, or quota_exhausted when the wait is long or the message names a daily quota. */
function rateError(headers: Headers, body: string): JudgeError {
  const ms = parseDuration(headers.get("retry-after-ms"));
  let wait = ms !== null ? ms / 1000 : parseDuration(headers.get("retry-after"));
  const said = TRY_AGAIN.exec(body);
  if (wait === null && said) wait = parseDuration(said[1].replace(/\.+$/, "")); // "in 2m59.56s." ends a sentence
  if ((wait !== null && wait > QUOTA_THRESHOLD_S) || QUOTA_WORDS.test(body)) {
    return new JudgeError("quota_exhausted", "the judge provider's quota is spent", wait);
  }
  return new JudgeError("rate_limited", "the judge provider is rate limiting (429)", wait);
}

interface Completion {
  content: string;
}

/** One chat-completions call; provider failures become JudgeError, a usable 200 returns its content. */
async function complete(cfg: JudgeConfig, messages: Message[], maxTokens: number): Promise<Completion | AnswerError> {
  let resp: Response;
  try {
    resp = await cfg.fetch(`${cfg.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${cfg.apiKey}` },
      body: JSON.stringify({
        model: cfg.model,
        messages,
        temperature: 0,
        max_tokens: maxTokens,
        response_format: { type: "json_object" },
      }),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
  } catch (e) {
    const name = (e as Error).name;
    if (name === "TimeoutError" || name === "AbortError") {
      throw new JudgeError("timeout", `the judge did not answer within ${cfg.timeoutMs / 1000} s`);
    }
    // As llm.py: no connection at all (refused, DNS: Deno's "client error (Connect)") is unreachable; a connection
    // that broke mid-request is a server error
    const cause = String((e as Error).cause ?? (e as Error).message);
    if (/\(Connect\)|dns error|tcp connect/i.test(cause)) {
      throw new JudgeError("unreachable", "could not connect to the judge provider");
    }
    throw new JudgeError("server_error", "the connection to the judge provider failed");
  }
  const text = await resp.text().catch(() => "");
  // The same mapping as src/amr_grpo/judge/llm.py: 429 -> rate_limited | quota_exhausted; 5xx -> server_error;
  // Groq's json_validate_failed -> a bad answer worth the one retry; any other 4xx -> unavailable.
  if (resp.status === 429) throw rateError(resp.headers, text);
  if (resp.status >= 500) throw new JudgeError("server_error", `the judge provider answered ${resp.status}`);
  if (resp.status === 400 && text.includes("json_validate_failed")) {
    return new AnswerError("the answer was not valid JSON (json_validate_failed)");
  }
  if (resp.status >= 400) throw new JudgeError("unavailable", `the judge provider answered ${resp.status}`);
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

/** Score every requested metric in one call; if the answer does not validate, one more that quotes the error. */
export async function score(req: EvalRequest, cfg: JudgeConfig, nonce: string, screened: boolean): Promise<Answer> {
  if (!cfg.apiKey) throw new JudgeError("unavailable", "GROQ_API_KEY is not set for this function");
  const messages = renderMessages(req, nonce, screened);
  const maxTokens = Math.min(8192, 2 * COMPLETION_TOKENS_PER_METRIC * req.metrics.length + 200); // as llm.py
  let asked = messages;
  let error = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const got = await complete(cfg, asked, maxTokens);
    let content = "";
    if (got instanceof AnswerError) {
      error = got.message;
    } else {
      content = got.content;
      try {
        return parseAnswer(content, req.metrics);
      } catch (e) {
        if (!(e instanceof AnswerError)) throw e;
        error = e.message;
      }
    }
    asked = retryMessages(messages, content, error, req.metrics);
  }
  throw new JudgeError("bad_answer", `the judge's answer did not fit the rubric twice: ${error}`);
}
