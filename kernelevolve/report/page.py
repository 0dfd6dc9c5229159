"""`runs/<id>/report.html`: one self-contained page (inline CSS, SVG and a few lines of JS; nothing
fetched) built from the store, at the end of every run and by `kernelevolve report RUN [--watch]`."""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path

from kernelevolve.report import costs, sections
from kernelevolve.report.data import RunData, load_run
from kernelevolve.report.svg import esc

logger = logging.getLogger(__name__)

REPORT_HTML = "report.html"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1320px;padding:0 20px 40px;color:#1d2430}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
nav a{margin-right:12px}.note{color:#5a6472;font-size:13px}.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:8px 0}
.facts div b{display:block;font-size:18px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.plot{background:#fbfcfd;border:1px solid #e3e8ee;border-radius:4px}.scroll{overflow-x:auto;max-width:100%}
.axis{stroke:#6b7684}.grid{stroke:#edf0f3}.tick{font-size:11px;fill:#4a5461}.label{font-size:12px;fill:#2b3440}
.group{font-size:12px;font-weight:600;fill:#2b3440}.legend{font-size:12px;margin:6px 0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:middle}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #e3e8ee;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f5f8;cursor:pointer}tr.lineage td{background:#eaf2fc}tr:target td{background:#fff1b8}
pre.code{background:#f6f8fa;border:1px solid #e3e8ee;padding:10px;overflow-x:auto;font-size:12px;line-height:1.35}
.diff .add{color:#116329;background:#e6ffec;display:block}.diff .del{color:#82071e;background:#ffebe9;display:block}
.diff .hunk{color:#6639ba;display:block}.diff .ctx{display:block}.live{color:#b35900;font-weight:600}
"""

# Click a column header to sort the table by it (numbers numerically); the only script on the page.
SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      if (!isNaN(nx) && !isNaN(ny)) { return dir * (nx - ny); }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _facts(data: RunData) -> str:
    best = data.best
    failed = sum(v.status != "ok" for v in data.verdicts)
    facts = {"state": data.state, "stopped": data.stop_reason or "-", "candidates judged": str(len(data.verdicts)),
             "failed": str(failed), f"best {sections.fitness_label(data)}": "-" if best is None else f"{best.score:.4g}",
             "best node": "-" if best is None else str(best.id), "wall clock": f"{data.wall_s:.0f} s",
             "LLM dollars": f"${sum(c.cost_usd for c in data.llm_calls):.4f}"}
    return "<div class='facts'>" + "".join(f"<div>{esc(k)}<b>{esc(v)}</b></div>" for k, v in facts.items()) + "</div>"


def render_page(data: RunData, *, refresh_s: float | None = None) -> str:
    """Returns the report page; `refresh_s` makes an open browser reload it (the --watch page)."""
    refresh = f'<meta http-equiv="refresh" content="{refresh_s:g}">' if refresh_s else ""
    live = (f"<p class='live'>Live: rebuilt from the store every {refresh_s:g} s while the run goes on "
            f"(last {_when(data.read_at)}).</p>" if refresh_s else "")
    nav = "".join(f"<a href='#{a}'>{t}</a>" for a, t in (
        ("progress", "progress"), ("tree", "tree"), ("shapes", "shapes"), ("time", "time"), ("llm", "LLM"),
        ("kernel", "best kernel"), ("dispatch", "dispatch")))
    body = "".join([
        f"<h1>Run {esc(data.run_id)}</h1>",
        f"<p>task <b>{esc(data.task)}</b> · platform <b>{esc(data.platform)}</b> · started {_when(data.created_at)}"
        f" · report built {_when(data.read_at)}</p>", live, _facts(data), f"<nav>{nav}</nav>",
        sections.progress_section(data), sections.tree_section(data), sections.shapes_section(data),
        costs.time_section(data), costs.llm_section(data), sections.kernel_section(data)])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{refresh}"
            f"<title>kernelevolve · {esc(data.run_id)}</title><style>{CSS}</style></head>"
            f"<body>{body}<script>{SORT_JS}</script></body></html>")


def write_atomic(path: Path, text: str) -> Path:
    """Writes text to path through a temporary file and a rename (a browser never reads half a page)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_report(run_dir: Path, *, out: Path | None = None, refresh_s: float | None = None) -> Path:
    """Builds the report of the run in `run_dir` from its store and writes it (default <run_dir>/report.html)."""
    run_dir = Path(run_dir)
    path = write_atomic(out or run_dir / REPORT_HTML, render_page(load_run(run_dir), refresh_s=refresh_s))
    logger.info("report written: %s", path)
    return path
