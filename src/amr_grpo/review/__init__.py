"""Clinician review: the loop that checks the judges against pharmacists and physicians.

  export.py      INPUT (evaluate run dir, judged JSONL, cases file) -> a blinded review set: review.html (offline
                 form), labels.csv (spreadsheet template), items.jsonl (what reviewers see), key.json (the rest)
  sources.py     reads the three kinds of INPUT into review candidates (judging with the rules judge what has no
                 rules verdict yet)
  page.py        the review page: one HTML/JS form, self-contained for export or served by `serve --review`
  store.py       labels in a real database through SQLAlchemy (SQLite file by default, PostgreSQL by URL),
                 schema managed by alembic (migrations/)
  labels_csv.py  a filled labels.csv -> the store, all-or-nothing, `FILE:LINE: field 'x': problem`
  agreement.py   judge-vs-clinician and clinician-vs-clinician agreement with bootstrap intervals
  agreement_report.py  agreement.json + agreement.md/.html with a plot; the section `amr-grpo report` adds
  to_cases.py    reviewed items -> cases that `amr-grpo prepare` reads (clinician corrections become data)

Research tool, not for clinical use.
Try it: amr-grpo review export data/cases.jsonl -n 30 -o runs/review && open runs/review/review.html
"""
