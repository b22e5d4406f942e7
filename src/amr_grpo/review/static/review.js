// The clinician review form (amr-grpo). Two modes, one form:
//  - offline: review.html written by `amr-grpo review export` carries its items in #review-data; labels are kept in
//    localStorage and offered as labels.csv;
//  - served: `amr-grpo serve --review DIR`; each reviewer signs in with their key, labels go to the review API.
// Case and output text is set with textContent only. Research tool, not for clinical use.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const METRICS = Array.from(document.querySelectorAll("fieldset.metric")).map((f) => f.dataset.metric);
  const COLUMNS = ["item_id", "reviewer"].concat(METRICS, ["decision", "regimen", "comment"]);
  const KEY_STORE = "amr-grpo-review-key";
  const dataEl = $("review-data");
  let items = []; // [{item_id, status}]
  let current = -1;
  let backend = null;

  function showError(message, field) {
    $("error").textContent = message;
    $("error").hidden = false;
    if (field) {
      const el = document.querySelector('[data-field="' + CSS.escape(field) + '"]');
      if (el) {
        el.setAttribute("aria-invalid", "true");
        el.classList.add("invalid");
      }
    }
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
    document.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      el.classList.remove("invalid");
    });
  }

  function statusOf(label) {
    if (!label) return "todo";
    const filled = METRICS.map((k) => label.scores && label.scores[k] != null).concat([!!label.decision]);
    if (filled.every(Boolean)) return "done";
    return filled.some(Boolean) || label.regimen || label.comment ? "partial" : "todo";
  }

  // ------------------------------------------------------------------ offline: the items are in the page
  function offlineBackend(data) {
    const storeKey = "amr-grpo-review:" + data.export.export_id;
    let saved = {};
    try {
      saved = JSON.parse(localStorage.getItem(storeKey) || "{}") || {};
    } catch (e) {
      saved = {};
    }
    saved.labels = saved.labels || {};
    const byId = new Map(data.items.map((it) => [it.item_id, it]));
    const persist = () => localStorage.setItem(storeKey, JSON.stringify(saved));
    const csvCell = (v) => '"' + String(v == null ? "" : v).replace(/"/g, '""') + '"';

    function updateDownload() {
      const rows = [COLUMNS.join(",")];
      data.items.forEach((it) => {
        const l = saved.labels[it.item_id];
        if (!l) return;
        const cells = [it.item_id, saved.reviewer].concat(
          METRICS.map((k) => l.scores[k]), [l.decision, l.regimen, l.comment]);
        rows.push(cells.map(csvCell).join(","));
      });
      $("download").href = "data:text/csv;charset=utf-8," + encodeURIComponent(rows.join("\n") + "\n");
      $("download-box").hidden = false;
    }

    return {
      start() {
        $("identity").hidden = false;
        $("reviewer").value = saved.reviewer || "";
        $("reviewer").addEventListener("change", () => {
          saved.reviewer = $("reviewer").value.trim();
          persist();
          updateDownload();
        });
        updateDownload();
        return Promise.resolve(data.items.map((it) => ({ item_id: it.item_id, status: statusOf(saved.labels[it.item_id]) })));
      },
      load(id) {
        return Promise.resolve(Object.assign({}, byId.get(id), { label: saved.labels[id] || null }));
      },
      save(label) {
        const name = $("reviewer").value.trim();
        if (!name) {
          const e = new Error("Please enter your name above before saving.");
          e.field = "reviewer";
          return Promise.reject(e);
        }
        saved.reviewer = name;
        saved.labels[label.item_id] = label;
        persist();
        updateDownload();
        return Promise.resolve(label);
      },
    };
  }

  // ------------------------------------------------------------------ served: the review API
  function serverBackend() {
    let key = sessionStorage.getItem(KEY_STORE);

    async function call(method, path, body) {
      const headers = { Authorization: "Bearer " + key };
      if (body) headers["Content-Type"] = "application/json";
      const r = await fetch(path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined });
      let payload = null;
      try {
        payload = await r.json();
      } catch (e) {
        payload = null;
      }
      if (!r.ok) {
        const err = (payload && payload.error) || { message: "the server answered " + r.status };
        const e = new Error(err.message);
        e.field = err.field;
        e.status = r.status;
        throw e;
      }
      return payload;
    }

    return {
      hasKey: () => !!key,
      setKey(k) {
        key = k;
        sessionStorage.setItem(KEY_STORE, k);
      },
      forget() {
        key = null;
        sessionStorage.removeItem(KEY_STORE);
      },
      async start() {
        const s = await call("GET", "/v1/review/session");
        $("who").textContent = "Signed in as " + s.reviewer;
        $("logout").hidden = false;
        return s.items;
      },
      load: (id) => call("GET", "/v1/review/items/" + encodeURIComponent(id)),
      async save(label) {
        const r = await call("POST", "/v1/review/labels", label);
        return r.label;
      },
    };
  }

  // ------------------------------------------------------------------ the form
  function renderList() {
    const list = $("item-list");
    list.replaceChildren();
    items.forEach((it, i) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = it.item_id;
      b.dataset.item = it.item_id;
      b.className = it.status + (i === current ? " current" : "");
      b.title = it.status;
      b.addEventListener("click", () => show(i));
      li.appendChild(b);
      list.appendChild(li);
    });
    const done = items.filter((it) => it.status === "done").length;
    $("progress").textContent = done + " of " + items.length + " done";
  }

  function fillForm(label) {
    $("label-form").reset();
    if (!label) return;
    METRICS.forEach((k) => {
      const v = label.scores ? label.scores[k] : null;
      if (v != null) {
        const input = document.querySelector('input[name="' + k + '"][value="' + v + '"]');
        if (input) input.checked = true;
      }
    });
    if (label.decision) {
      const input = document.querySelector('input[name="decision"][value="' + label.decision + '"]');
      if (input) input.checked = true;
    }
    $("regimen").value = label.regimen || "";
    $("comment").value = label.comment || "";
  }

  function renderScores(judgeScores) {
    const box = $("judge-scores");
    const body = box.querySelector("tbody");
    body.replaceChildren();
    box.hidden = !judgeScores;
    if (!judgeScores) return;
    Object.keys(judgeScores).forEach((judge) => {
      const scores = judgeScores[judge].scores || {};
      Object.keys(scores).forEach((metric) => {
        const tr = document.createElement("tr");
        [judge, metric, String(scores[metric])].forEach((t) => {
          const td = document.createElement("td");
          td.textContent = t;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    });
  }

  async function show(i) {
    if (i < 0 || i >= items.length) return;
    clearError();
    $("status").textContent = "";
    try {
      const item = await backend.load(items[i].item_id);
      current = i;
      $("item-id").textContent = item.item_id;
      $("case").textContent = item.case_text;
      $("output").textContent = item.output;
      renderScores(item.judge_scores || null);
      fillForm(item.label);
      renderList();
      $("prev").disabled = i === 0;
      $("next").disabled = i === items.length - 1;
    } catch (e) {
      failed(e);
    }
  }

  function readForm() {
    const scores = {};
    METRICS.forEach((k) => {
      const c = document.querySelector('input[name="' + k + '"]:checked');
      scores[k] = c ? Number(c.value) : null;
    });
    const d = document.querySelector('input[name="decision"]:checked');
    return {
      item_id: items[current].item_id,
      scores: scores,
      decision: d ? d.value : null,
      regimen: $("regimen").value.trim() || null,
      comment: $("comment").value.trim() || null,
    };
  }

  function nextOpen(from) {
    for (let k = 1; k <= items.length; k++) {
      const j = (from + k) % items.length;
      if (items[j].status !== "done") return j;
    }
    return -1;
  }

  async function save(event) {
    event.preventDefault();
    clearError();
    const label = readForm();
    if (statusOf(label) === "todo") {
      showError("Rate at least one metric or choose a decision before saving.");
      return;
    }
    try {
      const stored = await backend.save(label);
      items[current].status = statusOf(stored || label);
      const savedId = items[current].item_id;
      const j = nextOpen(current);
      if (j >= 0 && j !== current) await show(j);
      else renderList();
      $("status").textContent = "Saved " + savedId + "." + (j < 0 ? " Every item is done." : "");
    } catch (e) {
      failed(e);
    }
  }

  function failed(e) {
    if (e.status === 401 && backend.forget) {
      backend.forget();
      $("workspace").hidden = true;
      $("login").hidden = false;
    }
    showError(e.message || String(e), e.field);
  }

  async function begin() {
    try {
      items = await backend.start();
      $("login").hidden = true;
      $("workspace").hidden = false;
      const first = items.findIndex((it) => it.status !== "done");
      await show(first >= 0 ? first : 0);
    } catch (e) {
      failed(e);
    }
  }

  $("label-form").addEventListener("submit", save);
  $("prev").addEventListener("click", () => show(current - 1));
  $("next").addEventListener("click", () => show(current + 1));

  if (dataEl) {
    backend = offlineBackend(JSON.parse(dataEl.textContent));
    begin();
  } else {
    backend = serverBackend();
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      clearError();
      backend.setKey($("key").value.trim());
      $("key").value = "";
      begin();
    });
    $("logout").addEventListener("click", () => {
      backend.forget();
      location.reload();
    });
    if (backend.hasKey()) begin();
    else $("login").hidden = false;
  }
})();
