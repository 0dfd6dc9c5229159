"""The markdown overview of one node (overview_<n>.md): lineage, verdict, timings, error."""

from __future__ import annotations

from kernelevolve.core.types import Node


def render_overview(node: Node) -> str:
    """Returns the markdown overview of one node: lineage, verdict, timings, error."""
    r = node.result
    lines = [f"# Node {node.id}", "", f"- parent: {node.parent_id}", f"- origin: {node.candidate.origin}",
             f"- change: {node.candidate.note or '-'}", f"- state: {node.state}"]
    if r is not None:
        lines += [f"- status: {r.status}", f"- fitness: {node.score:.4f}", f"- platform: {r.platform}",
                  f"- reason: {r.reason or '-'}"]
        if r.timings:
            unit = "interpreter ms" if r.platform == "cpu" else "ms"
            lines += ["", f"| shape | candidate ({unit}) | baseline ({unit}) | ratio |", "|---|---|---|---|"]
            for t in r.timings:
                base = f"{t.baseline_ms:.4f}" if t.baseline_ms is not None else "-"
                ratio = f"{t.speedup:.3f}" if t.speedup is not None else "-"
                lines.append(f"| {t.shape} | {t.candidate_ms:.4f} ± {t.candidate_iqr_ms:.4f} | {base} | {ratio} |")
        if r.mismatch is not None:
            m = r.mismatch
            lines += ["", f"Mismatch on {m.shape} seed {m.seed} output {m.output_index}: max abs {m.max_abs_err:.3g},"
                      f" max rel {m.max_rel_err:.3g}, {m.frac_mismatched:.2%} mismatched, first at {m.first_bad_index}"]
        if r.metrics:
            lines += ["", "Metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items()))]
        if r.error:
            lines += ["", "```", r.error[-4000:], "```"]
    return "\n".join(lines) + "\n"
