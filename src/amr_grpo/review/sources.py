"""What `amr-grpo review export` can sample from, read into Candidates (one output to review each).

Three kinds of INPUT, told apart by their shape:
  - an evaluate run directory (results.jsonl + summary.json): the case comes from the prepared split named in
    summary.json when it is still there, else from the prompt's text;
  - a JSONL of evaluation requests ({patient_case, model_output, ground_truth}), each line optionally carrying its
    verdict (the contract's response, inline or under "verdict"), or the output of `amr-grpo judge` with its input
    given as `requests`;
  - a cases file that `amr-grpo prepare` reads (JSONL / JSON / CSV): the output to review is each case's reference
    validation (the label audit of synthetic or curated cases).
`also` adds other judges' verdicts on the same outputs (an evaluate run rescored with `evaluate --outputs`, matched
by id; a judge output file, matched by line). Every candidate without a rules verdict is scored with the offline
rules judge, so each review can compare at least that judge with the clinicians.
Try it: python -m amr_grpo.review.sources data/cases.jsonl
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo.data.normalize import FieldProblems, case_from_text, normalize
from amr_grpo.data.prompts import TASK, case_text
from amr_grpo.data.readers import read_records
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.evaluation.summary import read_results
from amr_grpo.judge import build_engine
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.engine import JudgeConfig
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.output_format import parse_validation
from amr_grpo.reading import read_ground_truth
from amr_grpo.records import Case

RULES = "rules"


@dataclass
class Candidate:
    key: str  # stable identity in its input ("evaluate:ID", "line:N", "case:ID"): sampling and blinding hash it
    source: dict[str, Any]  # {"kind", "path", "id" | "line"}
    case: dict[str, Any]  # records.Case.to_dict()
    case_text: str  # what the reviewer reads
    output: str  # the validation under review
    ground_truth: dict[str, Any] | str | None
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"scores": {k: int}, "weighted_reward"}
    output_decision: str | None = None
    reference_decision: str | None = None
    scenario: str | None = None  # cases only: the issue codes ("none" for a correct prescription)


def judge_name(backend: str | None, model: str | None) -> str:
    """'rules' for the rules judge (its model name is a version), else 'backend:model'."""
    backend = backend or "unknown"
    return backend if backend == RULES or not model else f"{backend}:{model}"


def _verdict(data: Any) -> tuple[str, dict[str, Any]] | None:
    """(judge name, {"scores", "weighted_reward"}) of a contract response, or None if it has no scores."""
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or not data["scores"]:
        return None
    judge = data.get("judge") if isinstance(data.get("judge"), dict) else {}
    scores = {k: int(v["score"]) for k, v in data["scores"].items() if isinstance(v, dict) and "score" in v}
    return judge_name(judge.get("backend"), judge.get("model")), {
        "scores": scores, "weighted_reward": data.get("weighted_reward")}


def _case_of(context: Any) -> Case:
    if isinstance(context, dict):
        return Case.from_dict(context)
    patient, diagnosis, prescription, setting = case_from_text(str(context or ""))
    return Case(id="", patient=patient, diagnosis=diagnosis, prescription=prescription, setting=setting)


def _case_text(case: Case) -> str:
    return case_text(case)


def _decision(text: str) -> str | None:
    d = parse_validation(text).decision
    return d.value if d else None


def _reference_decision(gt: Any) -> str | None:
    d = read_ground_truth(gt).decision
    return d.value if d else None


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not valid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}:{n}: expected a JSON object")
        out.append((n, data))
    return out


# ---------------------------------------------------------------------------------------------- evaluate runs

def _from_run(path: Path) -> list[Candidate]:
    rows = read_results(path / "results.jsonl")
    meta = json.loads((path / "summary.json").read_text(encoding="utf-8")) if (path / "summary.json").is_file() else {}
    records: dict[str, dict[str, Any]] = {}
    split_file = Path(str(meta.get("data") or "")) / f"{meta.get('split') or 'test'}.jsonl"
    if meta.get("data") and split_file.is_file():
        records = {str(r["id"]): r for r in read_split(split_file)}
    name = judge_name(meta.get("judge_backend"), meta.get("judge_model"))
    out = []
    for row in rows:
        rec = records.get(str(row["id"]))
        context = rec["context"] if rec else _prompt_case(row["prompt"])
        case = _case_of(context)
        gt = rec.get("ground_truth") if rec else None
        judges = {}
        if row["scores"] and row["weighted_reward"] is not None:
            judges[name] = {"scores": {k: int(v["score"]) for k, v in row["scores"].items()},
                            "weighted_reward": row["weighted_reward"]}
        out.append(Candidate(f"evaluate:{row['id']}", {"kind": "evaluate", "path": str(path), "id": str(row["id"])},
                             case.to_dict(), _case_text(case), row["output"], gt, judges, row.get("decision"),
                             row.get("gold_decision") or _reference_decision(gt)))
    return out


def _prompt_case(prompt: Any) -> str:
    """The case text inside a rendered prompt (the user message, without the task line)."""
    if isinstance(prompt, list):
        prompt = "\n".join(m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user")
    return str(prompt).removeprefix(TASK).strip()


# ---------------------------------------------------------------------------------------------- judged JSONL

def _from_requests(path: Path, lines: list[tuple[int, dict[str, Any]]], verdicts: list[dict] | None) -> list[Candidate]:
    if verdicts is not None and len(verdicts) != len(lines):
        raise UserError(f"{path} has {len(lines)} requests but the judge output has {len(verdicts)} lines",
                        hint="give the judge output written for exactly this input file")
    out = []
    for i, (n, req) in enumerate(lines):
        if not req.get("patient_case") or not isinstance(req["patient_case"], (str, dict)):
            raise UserError(f"{path}:{n}: field 'patient_case': missing, or not text or an object")
        if not req.get("model_output") or not isinstance(req["model_output"], str):
            raise UserError(f"{path}:{n}: field 'model_output': missing, or not text")
        case = _case_of(req["patient_case"])
        judges = dict([v]) if (v := _verdict(req.get("verdict", req))) else {}
        if verdicts is not None and (v := _verdict(verdicts[i])):
            judges.setdefault(*v)
        gt = req.get("ground_truth")
        out.append(Candidate(f"line:{n}", {"kind": "requests", "path": str(path), "line": n}, case.to_dict(),
                             _case_text(case), req["model_output"], gt, judges, _decision(req["model_output"]),
                             _reference_decision(gt)))
    return out


# ---------------------------------------------------------------------------------------------- cases

def _from_cases(path: Path) -> list[Candidate]:
    out, errors = [], []
    for rec in read_records(path):
        if rec.error:
            errors.append(f"{path}:{rec.line}: {rec.error}")
            continue
        try:
            norm = normalize(rec.data, {})
        except FieldProblems as e:
            errors += [f"{path}:{rec.line}: field '{f}': {p}" for f, p in e.problems]
            continue
        truth = norm.truth
        decision = truth.decision.value if truth.decision else None
        out.append(Candidate(f"case:{norm.case.id}", {"kind": "cases", "path": str(path), "id": norm.case.id,
                                                       "line": rec.line},
                             norm.case_dict, _case_text(norm.case), truth.reference or "", norm.truth_dict, {},
                             decision, decision, "+".join(sorted(truth.issues)) or "none"))
    if errors:
        raise UserError("\n".join(errors[:20]) + f"\n{len(errors)} problem(s) in {path}; nothing was written",
                        hint="the same checks as `amr-grpo prepare`; fix the records or sample from a clean file")
    return out


# ---------------------------------------------------------------------------------------------- entry point

def read_candidates(input: str | Path, requests: str | Path | None = None,
                    also: list[str | Path] | None = None) -> list[Candidate]:
    """Every output INPUT offers for review, with the verdicts it and `also` carry, plus the rules judge's."""
    path = Path(input)
    if path.is_dir():
        if not (path / "results.jsonl").is_file():
            raise UserError(f"{path}: a directory without results.jsonl",
                            hint="give a directory written by `amr-grpo evaluate -o DIR`, a JSONL or a cases file")
        cands = _from_run(path)
    elif not path.is_file():
        raise UserError(f"input not found: {path}")
    elif requests is not None:
        cands = _from_requests(Path(requests), _jsonl(Path(requests)), [d for _, d in _jsonl(path)])
    else:
        cands = _read_file(path)
    if not cands:
        raise UserError(f"{path}: nothing to review (no rows)")
    for extra in also or []:
        _add_verdicts(cands, Path(extra))
    _judge_with_rules([c for c in cands if RULES not in c.judges])
    return cands


def _read_file(path: Path) -> list[Candidate]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        lines = _jsonl(path)
        first = lines[0][1] if lines else {}
        if "model_output" in first:
            return _from_requests(path, lines, None)
        if "scores" in first or "error" in first:
            raise UserError(f"{path}: judge output without its requests (the verdicts do not carry the case)",
                            hint="add --requests REQUESTS.jsonl (the file given to `amr-grpo judge --input`)")
    return _from_cases(path)


def _add_verdicts(cands: list[Candidate], extra: Path) -> None:
    """Another judge's verdicts on the same outputs: an evaluate run (by id) or a judge output file (by line)."""
    if extra.is_dir():
        by_key = {c.key: c for c in _from_run(extra)}
        hits = 0
        for c in cands:
            other = by_key.get(c.key)
            if other is not None and other.output == c.output:
                hits += 1
                for name, v in other.judges.items():
                    c.judges.setdefault(name, v)
        if not hits:
            raise UserError(f"--also {extra}: none of its rows scored the same outputs",
                            hint="rescore the same outputs: amr-grpo evaluate --outputs RUN/results.jsonl ...")
        return
    verdicts = [d for _, d in _jsonl(extra)]
    line_cands = [c for c in cands if c.source["kind"] == "requests"]
    if len(verdicts) != len(line_cands):
        raise UserError(f"--also {extra}: {len(verdicts)} lines for {len(line_cands)} requests",
                        hint="a judge output file pairs with the requests file it was written for, line by line")
    for c, d in zip(line_cands, verdicts):
        if (v := _verdict(d)) is not None:
            c.judges.setdefault(*v)


def _judge_with_rules(cands: list[Candidate]) -> None:
    if not cands:
        return

    engine = build_engine(JudgeConfig(backend=RULES, cache_path=None))
    reqs = [EvalRequest(c.case, c.output, c.ground_truth, METRIC_KEYS) for c in cands]

    async def go() -> list[Any]:
        try:
            return await engine.score_many(reqs)
        finally:
            await engine.aclose()

    for c, v in zip(cands, asyncio.run(go())):
        if (named := _verdict(v.to_dict() if hasattr(v, "to_dict") else None)) is not None:
            c.judges[named[0]] = named[1]


if __name__ == "__main__":
    for c in read_candidates(sys.argv[1])[:5]:
        print(c.key, c.output_decision, c.scenario, {k: v["weighted_reward"] for k, v in c.judges.items()})
