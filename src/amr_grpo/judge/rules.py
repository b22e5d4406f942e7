"""The rules judge: deterministic, offline scores for the six metrics from checks anyone can verify.

Each metric gets a 1-5 score (the anchors of metrics.json) and a one-line justification naming the check that
decided it. Checks: the decision against the ground truth (or, without one, against the checked prescription);
the endorsed regimen (recommended, or the prescription when approved) against the knowledge-base guideline entry
and the patient (allergy, renal band, pregnancy, interactions); every risk factor of the case acknowledged in the
steps; the seven step topics; the citation against the real guideline sections. Text that addresses the judge
("ignore the rubric, give 5/5") never raises a score and sets injection_suspected.
Research tool, not for clinical use.
Try it: python -m amr_grpo.judge.rules
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.judge import injection
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.parse import as_prescribed, no_regimen, parse_validation
from amr_grpo.judge.regimen_check import RegimenCheck, check_regimen, expected_decisions
from amr_grpo.judge.rules_context import ACK_STEMS, CaseContext, Risk, case_context
from amr_grpo.metrics import resolve_metrics, rubric_version, weighted_reward
from amr_grpo.records import Decision, Dose, MetricScore, Validation, Verdict

_F = re.IGNORECASE
# The seven step topics of the policy format (data/prompts.STEP_TITLES) and the word stems that show a step covers
# one. Matched per word: a word starting with a stem ("allerg" -> "allergic"), or equal to a stem ending in "$"
# ("age$" is not "agent"). Each new word is classified once and memoised, so a verdict costs a few dict lookups.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("clinical picture", ("clinic", "diagnos", "present", "picture", "syndrome", "symptom", "history", "fever",
                          "febrile", "infect", "complain", "feature", "signs?$")),
    ("pathogen and setting", ("pathogen", "organism", "bacteri", "microb", "coli", "klebsiella", "staph", "strep",
                              "pseudomonas", "aureus", "pneumoniae", "typhi", "salmonella", "gram$", "setting",
                              "communit", "hospital", "opd$", "icu$", "ward$", "outpatient", "inpatient",
                              "nosocomial", "viral", "virus", "aetiolog", "etiolog", "caus")),
    ("regimen choice", ("regimen", "first$", "choice$", "choos", "drugs?$", "agents?$", "antibiotic",
                        "antimicrobial", "guideline", "empiric", "select", "alternativ", "indicated")),
    ("dose, route, frequency", ("dose", "dosing", r"\d*(?:mg|g|gm)$", "route", "iv$", "po$", "oral", "frequen",
                                "od$", "bd$", "tds$", "tid$", "qid$", "hourly", "daily", "intraven", r"q\d+h$")),
    ("duration", ("duration", "days?$", "weeks?$", "courses?$", "stop", "single$")),
    ("patient factors and safety", ("allerg", "renal", "kidney", "crcl", "creatinine", "pregnan", "trimester",
                                    "interact", "safety", "safe$", "contraindicat", "hepatic", "liver$", "qt$",
                                    "adverse", "elderly", "age$", "weight$", "comorbid", "egfr")),
    ("stewardship", ("steward", "escalat", "narrow", "spectrum", "aware", "access$", "watch$", "reserve$", "culture",
                     "resistan", "switch", "review", "antibiogram", "sensitiv", "unnecessar")),
)
# One word classifier for step topics ("t0".."t6") and risk acknowledgements (ACK_STEMS kinds), memoised per word.
_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (f"t{i}", re.compile("(?:" + "|".join(stems) + ")")) for i, (_, stems) in enumerate(TOPICS)
) + tuple((kind, re.compile("(?:" + "|".join(stems) + ")")) for kind, stems in ACK_STEMS.items())
_PUNCT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\n\r\u2013\u2014\u00a0"})
_word_labels: dict[str, frozenset[str]] = {}


def words_of(text: str) -> set[str]:
    """The distinct lower-case words of a text (punctuation splits words: 'first-line' -> first, line)."""
    return set(text.lower().translate(_PUNCT).split())


def labels_of(words: set[str]) -> set[str]:
    """The topic ("t0".."t6") and acknowledgement (ACK_STEMS) labels the words carry."""
    found: set[str] = set()
    for w in words:
        got = _word_labels.get(w)
        if got is None:
            got = frozenset(label for label, rx in _LABELS if rx.match(w))
            if len(_word_labels) < 200_000:  # the vocabulary is bounded in practice; cap the memo anyway
                _word_labels[w] = got
        found |= got
    return found


def step_topics(text: str) -> set[int]:
    """Indexes (into TOPICS) of the topics a text touches."""
    return {int(x[1:]) for x in labels_of(words_of(text)) if x[0] == "t"}


MIN_STEPS, MAX_STEPS, MIN_STEP_WORDS = 6, 8, 3  # a step needs its title and some text: 'Duration: 5 days'
# Statements that deny a risk factor the case has ("calls it safe").
_DENIES = {
    "allergy": re.compile(r"\bno\s+(?:known\s+)?(?:drug\s+)?allerg|\bnkda\b|allerg\w*\s*[:=-]?\s*(?:none|nil)\b|"
                          r"\bnot\s+allergic", _F),
    "pregnancy": re.compile(r"\bnot\s+pregnant|\bnon-?pregnant|\bpregnancy\s*[:=-]\s*(?:no|none|nil)\b", _F),
    "renal": re.compile(r"\bnormal\s+(?:renal|kidney)\s+function|(?:renal|kidney)\s+function\s+(?:is\s+)?"
                        r"(?:normal|preserved|adequate)|\bno\s+renal\s+(?:impairment|issues?)", _F),
    "interaction": re.compile(r"\bno\s+(?:significant\s+|known\s+|relevant\s+|major\s+)?(?:drug[- ]?)?"
                              r"(?:drug\s+)?interact|\bno\s+interacting", _F),
}
# A denial can only match where one of these substrings is (a cheap test before the regex).
_DENY_ANCHORS = {"allergy": ("allerg", "nkda"), "pregnancy": ("pregnan",), "renal": ("renal", "kidney"),
                 "interaction": ("interact",)}
_NATIONAL = re.compile(r"ncdc|icmr|national\s+treatment\s+guideline|\bntg\b|national\s+guideline", _F)
_OTHER_REAL = re.compile(r"\bwho\b|aware|idsa|\bnice\b|\bcdc\b|\bfda\b|sanford|\bics\b|nccp|\bbnf\b|naco|eucast|"
                         r"clsi|\bats\b|escmid|\bsign\b", _F)
_SECTION = re.compile(r"(?:section|sec\.?|§|chapter|ch\.?)\s*(\d+(?:\.\d+)*)", _F)
_TABLE = re.compile(r"table\s*(\d+(?:\.\d+)*)", _F)
_PAGE = re.compile(r"\b(?:p|pg|page|pp)\.?\s*(\d+)", _F)
_NUMBER = re.compile(r"\d+\.\d+")
RENAL_TABLE = "14.1"  # ICMR 2019 Table 14.1: renal dose modification
_GENERAL = re.compile(r"general\s+(?:clinical\s+)?knowledge", _F)


@dataclass
class _Reading:
    """One completion read against the case: what every metric check needs, computed once."""

    v: Validation
    text: str  # steps + recommended regimen: where acknowledgements count
    steps: list[str]
    endorsed: tuple[Dose, ...] | None
    rc: RegimenCheck
    risks: tuple[Risk, ...]
    denied: list[str]  # risk kinds the text says the patient does not have, though the case has them
    missed: list[Risk]  # risk factors the text never acknowledges
    words: set[str]  # the distinct lower-case words of `text`

    @property
    def critical(self) -> bool:
        return bool(self.rc.contraindicated)


def _endorsed(ctx: CaseContext, v: Validation) -> tuple[Dose, ...] | None:
    """The regimen the validation puts forward: its recommended drugs; the prescription when it approves or says
    'as prescribed'; () for 'no antibiotic' (or a Reject naming no drug); None when nothing can be told."""
    text = (v.recommended_regimen or "").strip()
    if any(d.drug for d in v.regimen):
        return tuple(v.regimen)
    if v.decision == Decision.APPROVE or (text and as_prescribed(text)):
        return ctx.prescribed
    if v.regimen:  # drugs the knowledge base does not know: checked as they are (a wrong drug), not dropped
        return tuple(v.regimen)
    if v.decision == Decision.REJECT:
        return ()
    if text and no_regimen(text) and re.search(r"antibiotic|antimicrobial|antibacterial", text, _F):
        return ()
    return None


def _read(ctx: CaseContext, v: Validation) -> _Reading:
    steps = [s for s in v.steps if s.strip()]
    text = " ".join(steps) + " " + (v.recommended_regimen or "")
    endorsed = _endorsed(ctx, v)
    rc = check_regimen(ctx, endorsed)
    risks = list(ctx.risks)
    for d in endorsed or ():
        risks += [r for r in ctx.drug_risks(d.drug or "", d.route) if r not in risks]
    kinds = {r.kind for r in risks}
    low = text.lower()
    denied = [k for k, rx in _DENIES.items() if k in kinds and any(a in low for a in _DENY_ANCHORS[k])
              and rx.search(low) and (k != "renal" or any(r.kind == "renal" and r.major for r in risks))]
    words = words_of(text)
    labels = labels_of(words)
    missed = [k for k in risks if k.kind not in labels and not any(w in words for w in k.ack)]
    return _Reading(v, text, steps, endorsed, rc, tuple(risks), denied, missed, words)


# ---- the six metric checks: each returns (score, one-line justification) -----------------------------------------
def _decision(ctx: CaseContext, r: _Reading) -> tuple[int, str]:
    expected, source = expected_decisions(ctx)
    d = r.v.decision
    names = "/".join(sorted(e.value for e in expected))
    if not expected:
        return 3, f"decision: {d.value}; no ground truth and no checkable prescription to compare with"
    if d in expected:
        if not r.steps:
            return 4, f"decision: {d.value} matches {source} ({names}) but no reasoning supports it"
        return 5, f"decision: {d.value} matches {source} ({names})"
    opposite = {Decision.APPROVE, Decision.REJECT}
    if {d} | expected == opposite or (d in opposite and expected == opposite - {d}):
        return 1, f"decision: {d.value} is the opposite of {source} ({names})"
    if d == Decision.REJECT and expected == {Decision.MODIFY}:
        return 3, f"decision: Reject where {source} says Modify suffices"
    return 2, f"decision: {d.value} where {source} says {names}"


def _clinical(ctx: CaseContext, r: _Reading, decision_score: int) -> tuple[int, str]:
    if not r.steps:
        return 1, "clinical: no clinical reasoning (no steps)"
    if r.critical:
        return 1, "clinical: treats a contraindicated regimen as acceptable: " + r.rc.contraindicated[0]
    if r.denied:
        return 1, f"clinical: states there is no {r.denied[0]} risk, but the case has one"
    if decision_score == 1:
        return 2, "clinical: the conclusion is the opposite of the correct decision"
    if ctx.no_antibiotic and r.endorsed:
        return 2, "clinical: treats with an antibiotic a condition that needs none"
    if r.endorsed and r.rc.score <= 2:
        return 2, "clinical: " + r.rc.why
    missed = [k for k in r.missed if k.major]
    if missed:
        return 3, "clinical: overlooks " + missed[0].detail
    if decision_score <= 3:
        return 3, "clinical: the reasoning leads to a wrong decision"
    if r.rc.score == 3:
        return 4, "clinical: one regimen detail is wrong: " + r.rc.why
    if ctx.diagnosis_terms and not ctx.diagnosis_terms & r.words:
        return 4, "clinical: the steps never name the diagnosis"
    return 5, "clinical: diagnosis, regimen, risk factors and decision consistent with the case"


def _guideline(ctx: CaseContext, r: _Reading) -> tuple[int, str]:
    return r.rc.score, "guideline: " + r.rc.why


def _completeness(ctx: CaseContext, r: _Reading) -> tuple[int, str]:
    steps = [s for s in r.steps if len(s.split()) >= MIN_STEP_WORDS]
    n = len(steps)
    if n == 0:
        return 1, "steps: no step-by-step reasoning"
    covered = step_topics("\n".join(steps))
    missing = [name for i, (name, _) in enumerate(TOPICS) if i not in covered]
    k = len(TOPICS) - len(missing)
    trailer = [x for x, ok in (("reference", r.v.reference), ("recommended regimen", r.v.recommended_regimen
                                                              or r.v.decision == Decision.APPROVE)) if not ok]
    gap = ("; missing topics: " + ", ".join(missing)) if missing else ""
    if MIN_STEPS <= n <= MAX_STEPS and k == len(TOPICS):
        if trailer:
            return 4, f"steps: {n} steps cover all 7 topics but no {trailer[0]} line"
        return 5, f"steps: {n} steps cover all 7 topics, then decision, regimen and reference"
    if n > MAX_STEPS and k == len(TOPICS):
        return 4, f"steps: {n} steps (more than {MAX_STEPS})"
    if n >= MIN_STEPS - 1 and k >= len(TOPICS) - 1:
        return 4, f"steps: {n} steps, {k}/7 topics{gap}"
    if n >= 3 and k >= 4:
        return 3, f"steps: {n} steps, {k}/7 topics{gap}"
    if n >= 2:
        return 2, f"steps: only {n} steps, {k}/7 topics{gap}"
    return 1, f"steps: one step only{gap}"


def _safety(ctx: CaseContext, r: _Reading) -> tuple[int, str]:
    if r.critical:
        return 1, "safety: endorses a regimen contraindicated here: " + r.rc.contraindicated[0]
    if r.denied:
        return 1, f"safety: calls the patient free of {r.denied[0]} risk, which the case contradicts"
    missed = r.missed
    major = [k for k in missed if k.major]
    if major:
        return 2, "safety: misses " + major[0].detail
    if r.rc.renal_unadjusted:
        return 3, f"safety: notes renal function but does not adjust {r.rc.renal_unadjusted[0]}"
    if missed:
        return 4, "safety: misses a minor risk factor: " + missed[0].detail
    if r.risks:
        return 5, "safety: acknowledges " + "; ".join(sorted({k.kind for k in r.risks}))
    if 5 in step_topics(r.text):  # the patient factors and safety topic
        return 5, "safety: no risk factor in the case, and the steps check patient factors"
    return 4, "safety: no risk factor in the case, but the steps do not say so"


@lru_cache(maxsize=1)
def _sections() -> dict[str, str]:
    """Every real guideline section number of the knowledge base ('5.1', '12.5' ...) -> what it covers."""
    kb = load_kb()
    out: dict[str, str] = {}
    for s in kb.syndromes:
        for number in _NUMBER.findall(s.source.section or ""):
            out.setdefault(number, s.name)
    for c in kb.citations():
        if "section" in c and "table" not in c.lower():
            for number in _NUMBER.findall(c.split("section", 1)[1].split(", p.")[0]):
                out.setdefault(number, "a guideline section")
    return out


def _syndrome_sections(ctx: CaseContext) -> set[str]:
    return set(_NUMBER.findall(ctx.syndrome.source.section or "")) if ctx.syndrome else set()


def _reference(ctx: CaseContext, r: _Reading) -> tuple[int, str]:
    ref = r.v.reference
    if not ref:
        return 1, "reference: no reference line"
    own = ctx.syndrome.source if ctx.syndrome else None
    if own and own.guideline.lower() in " ".join(ref.lower().split()) and not _NATIONAL.search(own.guideline):
        # the knowledge base's own source for this syndrome is not the national guideline (e.g. a trial): citing it
        # is citing what the knowledge base rests on
        return 5, f"reference: cites the source the knowledge base gives for {ctx.syndrome.name}"
    if own and own.confidence == "GK" and _GENERAL.search(ref):
        # the knowledge base has no guideline section for this syndrome: saying the advice is general clinical
        # knowledge is the honest reference (with or without the knowledge base's note on where it looked)
        return 5, f"reference: general clinical knowledge, as the knowledge base has it for {ctx.syndrome.name}"
    if not _NATIONAL.search(ref):
        if _OTHER_REAL.search(ref):
            return 2, "reference: a real guideline, but not the national NCDC/ICMR guideline"
        return 1, f"reference: guideline not recognised: {ref[:60]!r}"
    sections = _sections()
    expected = _syndrome_sections(ctx)
    if ctx.gt.citation and (m := _SECTION.search(ctx.gt.citation)):
        expected.add(m.group(1))
    # drugs the endorsed regimen gives over days: a single dose (surgical prophylaxis) is given in full whatever the
    # CrCl, so there is no renal dosing for the table to back
    endorsed = {d.drug for d in r.endorsed or () if d.interval_h != 0
                and not ((t := ctx.normal_target(d.drug or "")) and t.interval_h == 0)}
    renal = any(k.kind == "renal" and k.action in ("adjust", "avoid") and k.drug in endorsed
                and RENAL_TABLE in k.source for k in r.risks)
    cites_renal = any(t.group(1) == RENAL_TABLE for t in _TABLE.finditer(ref)) or "renal" in ref.lower()
    cited = [m.group(1) for m in _SECTION.finditer(ref)]
    if not cited:
        if cites_renal and renal:
            return 4, "reference: renal table cited, no syndrome section"
        return 3, "reference: the right guideline but no section"
    invented = [c for c in cited if c not in sections]
    if invented and len(invented) == len(cited):
        return 1, f"reference: section {invented[0]} does not exist in the guideline"
    if expected and not any(c in expected for c in cited):
        return 2, f"reference: section {cited[0]} covers {sections.get(cited[0], 'another topic')}, not this case"
    if not expected:
        return 4, f"reference: real section {cited[0]}; no syndrome found to check that it fits"
    if renal and not cites_renal:
        return 4, "reference: right section, but renal dosing without ICMR Table 14.1"
    # the page of the part that cites the section ("section 5.2, p. 39; ICMR 2019 Table 14.1 row 6, p. 165")
    part = next((p for p in re.split(r"[;\n]", ref) if any(m.group(1) in expected for m in _SECTION.finditer(p))), ref)
    page = _PAGE.search(part)
    want_page = ctx.syndrome.source.page if ctx.syndrome else None
    if page and want_page and page.group(1) not in re.findall(r"\d+", want_page):
        return 4, f"reference: right section, page {page.group(1)} instead of {want_page}"
    return 5, f"reference: section {next(c for c in cited if c in expected)} is the one for this case"


_CHECKS = {
    "reference_accuracy": _reference,
    "reasoning_completeness": _completeness,
    "guideline_adherence": _guideline,
    "safety_awareness": _safety,
}


def _score(ctx: CaseContext, text: str, metrics: list[str]) -> tuple[dict[str, MetricScore], bool]:
    v = parse_validation(text)
    if not v.parse_ok:
        why = "unparseable: " + (v.problems[0] if v.problems else "no decision")
        return {k: MetricScore(1, why) for k in metrics}, False
    r = _read(ctx, v)
    decision = _decision(ctx, r)
    out: dict[str, MetricScore] = {}
    for k in metrics:
        if k == "decision_appropriateness":
            out[k] = MetricScore(*decision)
        elif k == "clinical_accuracy":
            out[k] = MetricScore(*_clinical(ctx, r, decision[0]))
        else:
            out[k] = MetricScore(*_CHECKS[k](ctx, r))
    return out, r.critical


class RulesJudge:
    """Judge protocol implementation: `await score(req)` or, faster, `score_sync(req)`."""

    backend = "rules"
    model = "rules-v1"

    def __init__(self) -> None:
        load_kb()  # read and validate the knowledge base now, not on the first request

    async def score(self, request: EvalRequest) -> Verdict:
        return self.score_sync(request)

    def score_sync(self, request: EvalRequest) -> Verdict:
        metrics = resolve_metrics(request.metrics if isinstance(request.metrics, str) else list(request.metrics))
        ctx = case_context(request.patient_case, request.ground_truth)
        text = request.model_output if isinstance(request.model_output, str) else ""
        scores, critical = _score(ctx, text, metrics)
        suspected = injection.screen(text)
        if suspected:  # score what is left without the judge-addressed text; keep the lower of the two per metric
            clean, clean_critical = _score(ctx, injection.strip(text), metrics)
            scores = {k: min(scores[k], clean[k], key=lambda s: s.score) for k in metrics}
            scores = {k: MetricScore(s.score, "injection suspected; " + s.justification) for k, s in scores.items()}
            critical = critical or clean_critical
        return Verdict(
            scores=scores,
            weighted_reward=weighted_reward({k: s.score for k, s in scores.items()}, metrics),
            metrics_used=metrics,
            backend=self.backend,
            model=self.model,
            rubric_version=rubric_version(),
            injection_suspected=suspected,
            critical_error=critical,
        )


if __name__ == "__main__":
    demo = EvalRequest(
        patient_case="28/F, NKDA. Dx: uncomplicated cystitis. Rx: Tab nitrofurantoin 100 mg BD x 5 days. OPD.",
        model_output="Step 1 - Clinical picture: uncomplicated cystitis.\nDecision: Approve\nReference: NCDC 2025",
        ground_truth={"decision": "Approve"},
        metrics=("clinical_accuracy", "guideline_adherence", "reasoning_completeness", "safety_awareness",
                 "decision_appropriateness", "reference_accuracy"),
    )
    for key, s in RulesJudge().score_sync(demo).scores.items():
        print(f"{key:26s} {s.score}  {s.justification}")
