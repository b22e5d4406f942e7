"""The review page: one HTML form, written two ways.

`render_page(data)` with an export's items is the self-contained DIR/review.html (CSS, script and items inline;
labels kept in the browser's localStorage and downloaded as labels.csv). `render_page(None)` is the page that
`amr-grpo serve --review DIR` serves: the same form, its script and style from /review/static/, the items and the
labels from the review API (one reviewer key each). The metric fieldsets, with every 1-5 anchor of metrics.json, are
written here, so both pages show the same rubric. Case and output text is only ever set as text by the script
(never as HTML), and the inline data is escaped so that no text can close its <script> element.
Try it: amr-grpo review export data/cases.jsonl -n 5 -o /tmp/rv && python -m webbrowser /tmp/rv/review.html
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from amr_grpo.metrics import all_metrics
from amr_grpo.review.store import COMMENT_MAX, DECISIONS, REGIMEN_MAX, REVIEWER_MAX

NOTICE = ("Research tool, not for clinical use. Rate the validation on your own reading of the case; the automatic "
          "judges' scores are hidden so that they do not anchor you.")


def static_text(name: str) -> str:
    return resources.files("amr_grpo.review").joinpath("static", name).read_text(encoding="utf-8")


def _json_script(element_id: str, data: Any) -> str:
    # "<", ">" and "&" as JSON escapes: a case or output containing "</script>" stays data
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{payload}</script>'


def _metric_fields() -> str:
    e = html.escape
    out = []
    for m in all_metrics():
        radios = "".join(
            f'<label class="anchor"><input type="radio" name="{e(m.key)}" value="{s}">'
            f'<b>{s}</b> <span>{e(m.anchors[s])}</span></label>' for s in sorted(m.anchors))
        out.append(f'<fieldset class="metric" id="f-{e(m.key)}" data-metric="{e(m.key)}" '
                   f'data-field="scores.{e(m.key)}"><legend>{e(m.name)} <small>(weight {m.weight:g})</small></legend>'
                   f'<p class="desc">{e(m.description)}</p>{radios}</fieldset>')
    return "\n".join(out)


def _decision_field() -> str:
    radios = "".join(f'<label><input type="radio" name="decision" value="{d}"> {d}</label>' for d in DECISIONS)
    return (f'<fieldset id="f-decision" data-field="decision"><legend>Your decision for this prescription</legend>'
            f'{radios}</fieldset>')


def render_page(data: dict[str, Any] | None) -> str:
    """The review page: self-contained with `data` ({"export": {...}, "items": [...]}), else served mode."""
    if data is None:
        head = '<link rel="stylesheet" href="/review/static/review.css">'
        tail = '<script src="/review/static/review.js"></script>'
    else:
        head = f"<style>{static_text('review.css')}</style>"
        tail = _json_script("review-data", data) + f"\n<script>{static_text('review.js')}</script>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>amr-grpo clinician review</title><link rel="icon" href="data:,">
{head}
</head><body>
<header><h1>Clinician review of prescription validations</h1>
<p id="notice" class="notice" role="note">{html.escape(NOTICE)}</p></header>
<section id="login" hidden><form id="login-form">
<label for="key">Reviewer key</label> <input id="key" type="password" autocomplete="current-password" required>
<button id="login-btn" type="submit">Start reviewing</button></form></section>
<section id="identity" hidden><label for="reviewer">Your name, as it should appear in labels.csv</label>
<input id="reviewer" maxlength="{REVIEWER_MAX}" autocomplete="name" data-field="reviewer"></section>
<p id="error" class="error" role="alert" hidden></p>
<main id="workspace" hidden>
<nav aria-label="Items"><p id="who"></p><p id="progress"></p><ol id="item-list"></ol>
<p id="download-box" hidden><a id="download" download="labels.csv" href="#">Download labels.csv</a><br>
<small>Labels stay in this browser until you download them; send the file to the study coordinator.</small></p>
<button id="logout" type="button" hidden>Sign out</button></nav>
<article id="item"><h2>Item <span id="item-id"></span></h2>
<h3>Case</h3><pre id="case"></pre>
<h3>Validation to review</h3><pre id="output"></pre>
<section id="judge-scores" hidden><h3>Judges' scores (shown because the export asked for them)</h3>
<table><thead><tr><th>judge</th><th>metric</th><th>score</th></tr></thead><tbody></tbody></table></section>
<form id="label-form" novalidate>
{_metric_fields()}
{_decision_field()}
<label for="regimen">Recommended regimen (for Modify or Reject)</label>
<input id="regimen" maxlength="{REGIMEN_MAX}" data-field="regimen">
<label for="comment">Comment</label>
<textarea id="comment" rows="4" maxlength="{COMMENT_MAX}" data-field="comment"></textarea>
<div class="actions"><button type="button" id="prev">Previous</button>
<button type="submit" id="save">Save and next</button><button type="button" id="next">Next</button></div>
<p id="status" role="status" aria-live="polite"></p>
</form></article></main>
{tail}
</body></html>
"""
