// The validation page: say which model runs, load an example, send the case to POST /v1/validate, show the model's
// validation, the judge's six scores and the guideline checks for the case. Plain JavaScript, nothing fetched from
// elsewhere. Research tool, not for clinical use.
"use strict";

const EXAMPLES = [
  {
    title: "Cystitis treated with ciprofloxacin",
    patient: "28-year-old woman, 58 kg, no known allergies, not pregnant, normal kidney function",
    diagnosis: "Acute uncomplicated cystitis",
    prescription: "Tab Ciprofloxacin 500 mg PO BD x 3 days",
    setting: "OPD",
  },
  {
    title: "Cystitis on the guideline regimen",
    patient: "34-year-old woman, 62 kg, no known allergies, not pregnant, CrCl 95 mL/min",
    diagnosis: "Acute uncomplicated cystitis",
    prescription: "Tab Nitrofurantoin 100 mg PO BD x 5 days",
    setting: "OPD",
  },
  {
    title: "Pneumonia with a penicillin allergy",
    patient: "45-year-old man, 70 kg, allergy: penicillin (anaphylaxis), no comorbidities",
    diagnosis: "Community-acquired pneumonia, outpatient",
    prescription: "Cap Amoxicillin 1 g PO TDS x 5 days",
    setting: "OPD",
  },
  {
    title: "Pyelonephritis with reduced kidney function",
    patient: "68-year-old woman, 55 kg, serum creatinine 2.1 mg/dL, CrCl 25 mL/min, no known allergies",
    diagnosis: "Acute pyelonephritis",
    prescription: "Inj Amikacin 15 mg/kg IV OD x 7 days",
    setting: "ward",
  },
];

const REQUIRED = { patient: "Patient", diagnosis: "Diagnosis", prescription: "Prescription" };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  for (const id of Object.keys(REQUIRED)) $(id).removeAttribute("aria-invalid");
}

function loadExample() {
  const ex = EXAMPLES[Number($("example").value)];
  for (const key of ["patient", "diagnosis", "prescription", "setting"]) $(key).value = ex[key] || "";
  clearError();
}

function setText(id, text) {
  $(id).textContent = text;
}

function renderValidation(v, tokens) {
  const decision = v.decision || "unparsed";
  const badge = $("decision");
  badge.textContent = v.decision || "no readable decision";
  badge.className = "decision decision-" + decision.toLowerCase();
  setText("regimen", v.recommended_regimen || "");
  $("regimen-line").hidden = !v.recommended_regimen;
  setText("reference", v.reference || "");
  $("reference-line").hidden = !v.reference;
  const steps = $("steps");
  steps.replaceChildren(...v.steps.map((s) => {
    const li = document.createElement("li");
    li.textContent = s;
    return li;
  }));
  const problems = $("parse-problems");
  problems.hidden = v.parse_ok;
  problems.textContent = v.parse_ok ? "" :
    "The model's answer does not follow the validation format: " + (v.problems || []).join("; ");
  setText("raw", v.raw);
  setText("tokens", String(tokens));
}

function renderScores(data) {
  const verdict = data.verdict;
  $("judge-error").hidden = !data.judge_error;
  setText("judge-error", data.judge_error ? "The judge could not score this validation: " + data.judge_error.message : "");
  $("scores-box").hidden = !verdict;
  if (!verdict) return;
  setText("weighted-reward", verdict.weighted_reward.toFixed(3));
  setText("judge-name", "(judge: " + verdict.judge.backend + ", " + verdict.judge.model + ")");
  const rows = data.metrics.filter((m) => m.key in verdict.scores).map((m) => {
    const s = verdict.scores[m.key];
    const tr = document.createElement("tr");
    tr.dataset.metric = m.key;
    const name = document.createElement("td");
    name.textContent = m.name;
    name.title = m.description;
    const score = document.createElement("td");
    score.className = "score";
    score.textContent = s.score + "/5";
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = (s.score * 20) + "%";
    bar.append(fill);
    score.append(bar);
    const why = document.createElement("td");
    why.className = "justification";
    why.textContent = s.justification;
    tr.append(name, score, why);
    return tr;
  });
  $("scores").tBodies[0].replaceChildren(...rows);
}

// The guideline-checks panel is a function of the `checks` object alone: {source, items: [{key, label, result,
// detail}]}. New kinds of check (the case's checklist) are new items; this function does not change.
function renderChecks(checks) {
  setText("checks-source", checks ? "From the " + checks.source + "." : "");
  const rows = (checks ? checks.items : []).map((item) => {
    const tr = document.createElement("tr");
    tr.dataset.check = item.key;
    for (const [cls, text] of [["label", item.label], ["result", item.result], ["detail", item.detail]]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $("checks").tBodies[0].replaceChildren(...rows);
}

function formatParameters(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + " B parameters";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + " M parameters";
  return n.toLocaleString("en") + " parameters";
}

async function showModel() {
  try {
    const m = await (await fetch("/v1/model")).json();
    setText("model-name", m.loaded ? m.name : "not loaded" + (m.error ? " (" + m.error + ")" : ""));
    const base = m.base_model ? ", LoRA adapter over " + m.base_model : "";
    setText("model-size", m.loaded ? "(" + formatParameters(m.parameters) + base + ")" : "");
  } catch (_) {
    setText("model-name", "unknown (the server did not answer)");
  }
}

async function submitCase(event) {
  event.preventDefault();
  clearError();
  const missing = Object.keys(REQUIRED).filter((id) => !$(id).value.trim());
  if (missing.length) {
    for (const id of missing) $(id).setAttribute("aria-invalid", "true");
    $(missing[0]).focus();
    showError("Please fill in: " + missing.map((id) => REQUIRED[id]).join(", ") + ".");
    return;
  }
  const body = { patient: $("patient").value, diagnosis: $("diagnosis").value, prescription: $("prescription").value };
  if ($("setting").value.trim()) body.setting = $("setting").value;
  const headers = { "content-type": "application/json" };
  if ($("api-key").value) headers["x-api-key"] = $("api-key").value;
  const button = $("submit");
  button.disabled = true;
  setText("status", "Validating... (the model is writing its answer)");
  try {
    const response = await fetch("/v1/validate", { method: "POST", headers, body: JSON.stringify(body) });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const err = data && data.error;
      let message = err ? err.message : "The server answered " + response.status + ".";
      if (response.status === 401) {
        $("auth").open = true;
        message += " This server requires an API key: enter it above.";
      }
      if (err && err.field && REQUIRED[err.field]) $(err.field).setAttribute("aria-invalid", "true");
      showError(message);
      return;
    }
    renderValidation(data.validation, data.output_tokens);
    renderScores(data);
    renderChecks(data.checks);
    $("result").hidden = false;
  } catch (_) {
    showError("Could not reach the server. Is `amr-grpo serve` still running?");
  } finally {
    button.disabled = false;
    setText("status", "");
  }
}

function init() {
  const select = $("example");
  EXAMPLES.forEach((ex, i) => select.add(new Option(ex.title, String(i))));
  $("load-example").addEventListener("click", loadExample);
  $("case-form").addEventListener("submit", submitCase);
  showModel();
}

document.addEventListener("DOMContentLoaded", init);
