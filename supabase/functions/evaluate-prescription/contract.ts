/**
 * The HTTP contract of src/amr_grpo/judge/contract.py: the evaluation request, its validation, the error body.
 *
 * A port of the Python service's request model (src/amr_grpo/judge/contract.py): same fields, same
 * 4xx status codes, error codes and field names, so a client switches services by base URL alone.
 * Try it: deno test --allow-read --allow-net=127.0.0.1 (in this folder)
 */

import { resolveMetrics } from "./metrics.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface EvalRequest {
  patient_case: string | Record<string, Json>;
  model_output: string;
  ground_truth: string | Record<string, Json> | null;
  metrics: string[]; // resolved, in rubric order
  checklist: Record<string, Json> | null; // the case's checklist (`amr-grpo checklist --json`), when given
}

/** A 4xx answer: {"error": {"code", "message", "field"}}. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

const FIELDS = ["patient_case", "model_output", "ground_truth", "metrics", "checklist"];
const MAX_CHECKLIST_ITEMS = 60; // contract.py MAX_CHECKLIST_ITEMS
const IMPORTANCE = ["essential", "important", "pitfall"];
const DECISIONS = ["Approve", "Modify", "Reject"];
export const MAX_TEXT_CHARS = 20_000; // per text field, as the Python model's max_length
export const MAX_JSON_DEPTH = 64; // objects and arrays nested in one body (the body is level 1), as service/body.py

/** Whether the JSON text nests objects/arrays deeper than `limit`: one pass over the text before JSON.parse (whose
 * result JSON.stringify, rendering the prompt, cannot handle 10,000 levels deep). Brackets inside strings do not
 * count; for text that is not JSON the answer does not matter, JSON.parse refuses it next. */
export function tooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // a backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > limit) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

/** What Python's parser refuses and JSON.parse lets through: a lone UTF-16 surrogate in a string or key, a number
 * beyond a double's range (JSON.parse makes 1e400 Infinity). Recursion is bounded by MAX_JSON_DEPTH. */
function unreadable(v: unknown): string | null {
  if (typeof v === "string") return v.isWellFormed() ? null : "a lone UTF-16 surrogate";
  if (typeof v === "number") return Number.isFinite(v) ? null : "a number beyond about 1.8e308";
  if (typeof v !== "object" || v === null) return null;
  for (const [key, item] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
    const bad = unreadable(key) ?? unreadable(item);
    if (bad) return bad;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invalid(field: string, message: string): RequestError {
  return new RequestError(422, "validation_error", `${field}: ${message}`, field);
}

// Characters as Python counts them (code points), not UTF-16 units.
function checkText(field: string, v: string): void {
  if (v.length <= MAX_TEXT_CHARS) return;
  const n = [...v].length;
  if (n > MAX_TEXT_CHARS) throw invalid(field, `at most ${MAX_TEXT_CHARS} characters, got ${n}`);
}

// The GroundTruth fields the judges read must have their types (contract.py _TRUTH_TEXT_KEYS).
const TRUTH_TEXT_KEYS = ["decision", "recommended_regimen", "regimen", "reference", "citation", "syndrome"];

function checkTruthFields(gt: Record<string, Json>): void {
  for (const key of TRUTH_TEXT_KEYS) {
    const v = gt[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw invalid("ground_truth", `${key} must be a string or null`);
    }
  }
  for (const key of ["issues", "flags"]) {
    const v = gt[key];
    const fine = v === undefined || v === null || typeof v === "string" ||
      (Array.isArray(v) && v.every((i) => typeof i === "string"));
    if (!fine) throw invalid("ground_truth", `${key} must be a list of strings`);
  }
}

// The checklist's shape, as contract.py ChecklistModel checks it (the same field names in the 422).
function checkChecklist(cl: Json): Record<string, Json> | null {
  if (cl === null) return null;
  if (!isObject(cl)) throw invalid("checklist", "must be an object or null");
  const items = cl.items;
  if (items === undefined) throw invalid("checklist.items", "field required");
  if (!Array.isArray(items)) throw invalid("checklist.items", "must be a list");
  if (items.length > MAX_CHECKLIST_ITEMS) throw invalid("checklist.items", `at most ${MAX_CHECKLIST_ITEMS} items`);
  for (const [n, item] of items.entries()) {
    const at = `checklist.items[${n}]`;
    if (!isObject(item)) throw invalid(at, "must be an object");
    for (const f of ["key", "kind", "importance", "text"]) {
      if (item[f] === undefined) throw invalid(`${at}.${f}`, "field required");
      if (typeof item[f] !== "string") throw invalid(`${at}.${f}`, "must be a string");
    }
    if (!IMPORTANCE.includes(item.importance as string)) {
      throw invalid(`${at}.importance`, `must be one of ${IMPORTANCE.join(", ")}`);
    }
    checkStrings(item.evidence, `${at}.evidence`);
  }
  for (const f of ["syndrome", "syndrome_name", "decision_why", "version"]) {
    if (cl[f] !== undefined && cl[f] !== null && typeof cl[f] !== "string") {
      throw invalid(`checklist.${f}`, "must be a string");
    }
  }
  for (const f of ["antibiotic_needed", "serious"]) {
    if (cl[f] !== undefined && cl[f] !== null && typeof cl[f] !== "boolean") {
      throw invalid(`checklist.${f}`, "must be true, false or null");
    }
  }
  for (const f of ["candidates", "regimens", "avoid", "sections", "expected_decisions"]) {
    checkStrings(cl[f], `checklist.${f}`);
  }
  for (const [n, d] of ((cl.expected_decisions ?? []) as Json[]).entries()) {
    if (!DECISIONS.includes(d as string)) {
      throw invalid(`checklist.expected_decisions[${n}]`, `must be one of ${DECISIONS.join(", ")}`);
    }
  }
  return cl;
}

function checkStrings(v: Json | undefined, field: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) throw invalid(field, "must be a list of strings");
  for (const [n, x] of v.entries()) if (typeof x !== "string") throw invalid(`${field}[${n}]`, "must be a string");
}

/** Parse a JSON body into an EvalRequest or throw RequestError (400 for bad JSON, 422 naming the field). */
export function parseRequest(text: string): EvalRequest {
  if (tooDeep(text)) {
    throw new RequestError(
      422,
      "validation_error",
      `the request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`,
      "body",
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    const detail = (e as Error).message;
    throw new RequestError(422, "validation_error", `the request body is not valid JSON (${detail})`, "body");
  }
  const bad = unreadable(body);
  if (bad) throw new RequestError(422, "validation_error", `the request body is not valid JSON (${bad})`, "body");
  if (!isObject(body)) {
    throw new RequestError(422, "validation_error", "the request body must be a JSON object", "body");
  }
  const extra = Object.keys(body).filter((k) => !FIELDS.includes(k));
  if (extra.length) throw invalid(extra[0], `unknown field; expected ${FIELDS.join(", ")}`);

  const pc = body.patient_case;
  if (pc === undefined || pc === null) throw invalid("patient_case", "field required");
  if (typeof pc === "string") {
    if (!pc.trim()) throw invalid("patient_case", "must not be empty");
    checkText("patient_case", pc);
  } else if (!isObject(pc)) {
    throw invalid("patient_case", "must be a string or an object");
  }

  const mo = body.model_output;
  if (mo === undefined || mo === null) throw invalid("model_output", "field required");
  if (typeof mo !== "string") throw invalid("model_output", "must be a string");
  checkText("model_output", mo);

  const gt = body.ground_truth ?? null; // absent or null: no reference
  if (typeof gt === "string") checkText("ground_truth", gt);
  else if (gt !== null && !isObject(gt)) throw invalid("ground_truth", "must be a string, an object or null");
  else if (gt !== null) checkTruthFields(gt);

  const m = body.metrics === undefined ? "priority" : body.metrics; // an explicit null is an error, as in pydantic
  if (typeof m !== "string" && !(Array.isArray(m) && m.every((k) => typeof k === "string"))) {
    throw invalid("metrics", "must be 'priority', 'all' or a list of metric keys");
  }
  let metrics: string[];
  try {
    metrics = resolveMetrics(m as string | string[]);
  } catch (e) {
    throw invalid("metrics", (e as Error).message.replace(/^metrics: /, ""));
  }
  const checklist = checkChecklist(body.checklist ?? null);
  return { patient_case: pc, model_output: mo, ground_truth: gt, metrics, checklist };
}
