"""The report's blocks -> files: report.md (+ plots/*.png|svg|pdf), a self-contained report.html, and every
table also as tables/NAME.csv and tables/NAME.tex (booktabs) for a paper.

Pure text work, no numbers computed here: report.py builds the blocks from saved results.
Try it: amr-grpo report runs/main/eval-before runs/main/eval-after -o /tmp/r && ls /tmp/r/tables /tmp/r/plots
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PLOTS, TABLES = "plots", "tables"


@dataclass
class Block:
    """One piece of the report, rendered to Markdown, HTML and (tables) CSV and LaTeX."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "notice" | "warning" | "table" | "figure" | "pre"
    text: str = ""  # heading / paragraph / caption / preformatted text
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    name: str = ""  # file stem of a table's CSV / LaTeX or a figure's PNG / SVG / PDF
    figure: dict[str, bytes] = field(default_factory=dict)  # format -> bytes


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _plain(cell: str) -> str:
    return cell.replace("**", "")


def _fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks inside the text."""
    return "`" * max(3, 1 + max(map(len, re.findall(r"`+", text)), default=0))


def render_markdown(blocks: Sequence[Block]) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the files it links to ({relative path: bytes}): figures in three formats, tables as
    CSV and LaTeX."""
    out, files = [], {}
    for blk in blocks:
        if blk.kind in ("h1", "h2", "h3"):
            out.append("#" * int(blk.kind[1]) + " " + blk.text)
        elif blk.kind == "p":
            out.append(blk.text)
        elif blk.kind == "notice":
            out.append(f"> **{blk.text}**")
        elif blk.kind == "warning":
            out.append(f"> **Warning:** {blk.text}")
        elif blk.kind == "pre":
            fence = _fence(blk.text)
            out.append(f"{fence}text\n{blk.text}\n{fence}")
        elif blk.kind == "table":
            cells = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in [blk.header, *blk.rows]]
            lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(blk.header)]
            text = "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])
            if blk.name:
                files[f"{TABLES}/{blk.name}.csv"] = to_csv(blk).encode("utf-8")
                files[f"{TABLES}/{blk.name}.tex"] = to_latex(blk).encode("utf-8")
                text += f"\n\n[CSV]({TABLES}/{blk.name}.csv) · [LaTeX]({TABLES}/{blk.name}.tex)"
            out.append(text)
        elif blk.kind == "figure":
            name = blk.name or slug(blk.text)
            for fmt, data in blk.figure.items():
                files[f"{PLOTS}/{name}.{fmt}"] = data
            others = " · ".join(f"[{fmt.upper()}]({PLOTS}/{name}.{fmt})" for fmt in blk.figure if fmt != "png")
            out.append(f"![{blk.text}]({PLOTS}/{name}.png)" + (f"\n\n{others}" if others else ""))
    return "\n\n".join(out) + "\n", files


def to_csv(blk: Block) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows([[_plain(c) for c in row] for row in [blk.header, *blk.rows]])
    return buf.getvalue()


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(cell: str) -> str:
    return "".join(_LATEX.get(c, c) for c in _plain(cell).replace("\n", " "))


def to_latex(blk: Block) -> str:
    """A booktabs tabular (\\usepackage{booktabs}). Written by hand: pandas' to_latex would need pandas and
    jinja2 for a table of strings we already hold."""
    cols = "l" * len(blk.header)
    lines = [f"% {blk.text or blk.name} (amr-grpo report)", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
             " & ".join(_tex(c) for c in blk.header) + " \\\\", "\\midrule"]
    lines += [" & ".join(_tex(c) for c in row) + " \\\\" for row in blk.rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f2f4f7}img{max-width:100%}.notice{background:#fff4e5;border-left:4px solid #e08a00;padding:.6em 1em}
.warning{background:#fdecea;border-left:4px solid #c62828;padding:.6em 1em}
pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap;font-size:13px}"""


def render_html(blocks: Sequence[Block]) -> str:
    """One HTML file: inline CSS, figures as base64 PNG data URIs; nothing fetched from anywhere."""
    e = html.escape
    out = ['<!doctype html><html lang="en"><head><meta charset="utf-8">',
           "<title>amr-grpo evaluation report</title>", f"<style>{CSS}</style></head><body>"]
    for blk in blocks:
        if blk.kind in ("h1", "h2", "h3"):
            out.append(f"<{blk.kind}>{e(blk.text)}</{blk.kind}>")
        elif blk.kind == "p":
            out.append(f"<p>{e(blk.text)}</p>")
        elif blk.kind == "notice":
            out.append(f'<p class="notice" role="note"><strong>{e(blk.text)}</strong></p>')
        elif blk.kind == "warning":
            out.append(f'<p class="warning" role="alert"><strong>Warning:</strong> {e(blk.text)}</p>')
        elif blk.kind == "pre":
            out.append(f"<pre>{e(blk.text)}</pre>")
        elif blk.kind == "table":
            head = "".join(f"<th>{e(_plain(c))}</th>" for c in blk.header)
            body = "".join("<tr>" + "".join(f"<td>{e(_plain(c))}</td>" for c in r) + "</tr>" for r in blk.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif blk.kind == "figure":
            data = base64.b64encode(blk.figure["png"]).decode("ascii")
            out.append(f'<figure><img alt="{e(blk.text)}" src="data:image/png;base64,{data}"></figure>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
