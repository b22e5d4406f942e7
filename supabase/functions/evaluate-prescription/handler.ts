/**
 * POST evaluate-prescription: one evaluation request in, the verdict of src/amr_grpo/judge/contract.py out.
 * Research tool, not for clinical use.
 *
 * The same contract as the Python service (`amr-grpo serve`): CORS and OPTIONS, 415 for a body that
 * is not JSON, 413 above the body limit, 408 for a body not complete within AMR_GRPO_BODY_TIMEOUT_S, 422 naming the
 * field, the judge's failures as 429/502/503 with Retry-After, never a made-up score; a client that leaves
 * mid-body is one access line with status 499. `deps` lets tests inject fetch, env, the nonce and the log.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import { parseRequest, RequestError } from "./contract.ts";
import { screen } from "./injection.ts";
import judgeErrors from "./judge_errors.json" with { type: "json" };
import { DEFAULT_BASE_URL, DEFAULT_MODEL, JudgeError, score } from "./judge.ts";
import { applyCriticalCap, RUBRIC_VERSION, weightedReward } from "./metrics.ts";
import { newNonce } from "./rubric.ts";

export const MAX_BODY_BYTES = 1_048_576; // the Python service's max_body_bytes default
export const BODY_TIMEOUT_S = 30; // the Python service's body_timeout_s default
export const CLIENT_CLOSED = 499; // logged for a client that left before its body was complete (as Python's log)
const DEFAULT_TIMEOUT_S = 60;
export const NOTICE = "Research tool, not for clinical use.";

export interface Deps {
  fetch?: typeof fetch;
  env?: (name: string) => string | undefined;
  nonce?: () => string;
  log?: (line: string) => void;
}

// JudgeError.kind -> the HTTP answer (status, code, message, default Retry-After s): judge_errors.json, generated
// from src/amr_grpo/service/errors.py JUDGE_ERRORS by scripts/sync_edge_tables.py.
type JudgeErrorAnswer = { status: number; code: string; message: string; retry_after_s: number };
const JUDGE_ERRORS: Record<string, JudgeErrorAnswer> = judgeErrors.errors;

function corsHeaders(env: (name: string) => string | undefined): Record<string, string> {
  return {
    "access-control-allow-origin": env("AMR_GRPO_CORS_ORIGIN") ?? "*",
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
    "access-control-expose-headers": "retry-after",
    "access-control-max-age": "86400",
  };
}

function json(status: number, body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...headers, "content-type": "application/json" } });
}

function errorBody(code: string, message: string, field: string | null = null) {
  return { error: { code, message, field } };
}

/** Retry-After takes whole seconds; round up so a client that obeys it is not refused again (as Python). */
function retryAfterHeader(seconds: number): string {
  return String(Math.max(1, Math.ceil(seconds)));
}

/** The client went away before its body was complete: logged as 499, answered to nobody. */
class ClientGone extends Error {}

/** The body as text; a RequestError 413 once it passes `limit` bytes (Content-Length or counted), 408 when it is
 * not complete `timeoutMs` after the headers (shorter than its Content-Length, or trickled), ClientGone when the
 * client leaves first. Whatever happens, the stream is cancelled, so a slow client holds nothing after its answer. */
async function readBody(req: Request, limit: number, timeoutMs: number): Promise<string> {
  const declared = Number(req.headers.get("content-length"));
  const tooLarge = new RequestError(413, "payload_too_large", `the request body is larger than ${limit} bytes`);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge;
  if (!req.body) return "";
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RequestError(408, "request_timeout", `the request body did not arrive within ${timeoutMs / 1000} s`),
        ),
      timeoutMs,
    );
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw tooLarge;
      chunks.push(value);
    }
  } catch (e) {
    throw e instanceof RequestError ? e : new ClientGone(); // a body stream fails only when its connection does
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {}); // a no-op after the whole body; else it drops what is buffered for it
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new RequestError(422, "validation_error", "the request body is not valid UTF-8", "body");
  }
}

function isJsonContentType(value: string | null): boolean {
  const media = (value ?? "").split(";")[0].trim().toLowerCase();
  return media === "application/json" || /^application\/[\w.+-]+\+json$/.test(media);
}

async function evaluate(req: Request, env: (name: string) => string | undefined, deps: Deps) {
  if (!isJsonContentType(req.headers.get("content-type"))) {
    const got = req.headers.get("content-type");
    throw new RequestError(
      415,
      "unsupported_media_type",
      `send the body as application/json (got '${got ?? "no content-type"}')`,
      "content-type",
    );
  }
  const limit = Number(env("AMR_GRPO_MAX_BODY_BYTES") ?? MAX_BODY_BYTES);
  const timeoutMs = Number(env("AMR_GRPO_BODY_TIMEOUT_S") ?? BODY_TIMEOUT_S) * 1000;
  const request = parseRequest(await readBody(req, limit, timeoutMs));
  const screened = screen(request.model_output);
  const answer = await score(
    request,
    {
      baseUrl: env("GROQ_BASE_URL") ?? env("AMR_GRPO_JUDGE_BASE_URL") ?? DEFAULT_BASE_URL,
      model: env("AMR_GRPO_JUDGE_MODEL") ?? DEFAULT_MODEL,
      apiKey: env("AMR_GRPO_JUDGE_API_KEY") ?? env("GROQ_API_KEY"),
      timeoutMs: Number(env("AMR_GRPO_JUDGE_TIMEOUT_S") ?? DEFAULT_TIMEOUT_S) * 1000,
      fetch: deps.fetch ?? fetch,
    },
    (deps.nonce ?? newNonce)(),
    screened,
  );
  // A critical error caps every score (metrics.json critical_error), as the Python service does.
  const capped = applyCriticalCap(
    Object.fromEntries(request.metrics.map((k) => [k, answer.scores[k].score])),
    answer.critical_error,
  );
  const scores = Object.fromEntries(
    request.metrics.map((k) => [k, { score: capped[k], justification: answer.scores[k].justification }]),
  );
  return {
    scores,
    weighted_reward: weightedReward(capped, request.metrics),
    metrics_used: request.metrics,
    judge: { backend: "openai", model: env("AMR_GRPO_JUDGE_MODEL") ?? DEFAULT_MODEL, rubric_version: RUBRIC_VERSION },
    cached: false,
    flags: {
      injection_suspected: answer.injection_suspected || screened,
      critical_error: answer.critical_error,
      // unread only as far as a given checklist says: this function has no knowledge base to read the case with
      case_unread: request.checklist !== null && !request.checklist.syndrome,
    },
  };
}

/** The Edge Function: a Request in, a Response out (never a traceback). */
export async function handle(req: Request, deps: Deps = {}): Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name));
  const log = deps.log ?? ((line: string) => console.log(line));
  const cors = corsHeaders(env);
  const started = performance.now();
  let response: Response;
  let status: number | undefined; // what the access line says, when not the response's status
  let judgeError: string | undefined;
  if (req.method === "OPTIONS") {
    response = new Response(null, { status: 204, headers: cors });
  } else if (req.method !== "POST") {
    response = json(405, errorBody("method_not_allowed", `use POST, not ${req.method}. ${NOTICE}`), {
      ...cors,
      allow: "POST, OPTIONS",
    });
  } else {
    try {
      response = json(200, await evaluate(req, env, deps), cors);
    } catch (e) {
      if (e instanceof RequestError) {
        // a late body must not be read as the next request: close the connection after a 408
        const close: Record<string, string> = e.status === 408 ? { connection: "close" } : {};
        response = json(e.status, errorBody(e.code, e.message, e.field), { ...cors, ...close });
      } else if (e instanceof ClientGone) {
        response = new Response(null, { status: 400 }); // nobody reads it; the access line says 499
        status = CLIENT_CLOSED;
      } else if (e instanceof JudgeError) {
        judgeError = e.kind;
        const { status, code, message, retry_after_s: wait } = JUDGE_ERRORS[e.kind] ?? judgeErrors.unknown;
        response = json(status, errorBody(code, message), {
          ...cors,
          "retry-after": retryAfterHeader(e.retryAfter ?? wait),
        });
      } else {
        log(JSON.stringify({ event: "unhandled", type: (e as Error)?.name ?? typeof e }));
        response = json(500, errorBody("internal_error", "internal error; see the function log"), cors);
      }
    }
  }
  // One access line: no header values, no body, no key (Supabase keeps console output as the function log).
  const record: Record<string, unknown> = {
    event: "access",
    method: req.method,
    status: status ?? response.status,
    latency_ms: Math.round((performance.now() - started) * 100) / 100,
  };
  if (judgeError) record.judge_error = judgeError;
  log(JSON.stringify(record));
  return response;
}
