"""The archive: the one writer of a run's metadata and objects."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kernelevolve.core.types import Node
from kernelevolve.store.objects_local import LocalObjectStore
from kernelevolve.store.protocols import ObjectStore
from kernelevolve.store.sqlite import SqliteMetadataStore

logger = logging.getLogger(__name__)


class Archive:
    """Writes nodes (metadata row + kernel_<n>.py + overview_<n>.md) for one run."""

    def __init__(self, run_dir: Path, run_id: str, *, task: str, platform: str,
                 objects: ObjectStore | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.task = task
        self.platform = platform
        self.meta = SqliteMetadataStore(self.run_dir / "meta.db")
        self.objects = objects if objects is not None else LocalObjectStore(self.run_dir / "objects")

    def close(self) -> None:
        """Closes the metadata DB."""
        self.meta.close()

    def start(self, *, config: dict[str, Any], versions: dict[str, str], host: str) -> None:
        """Records the run's config, software versions and host."""
        self.meta.create_run(run_id=self.run_id, task=self.task, platform=self.platform,
                             config=config, versions=versions, host=host)

    def add_node(self, node: Node) -> None:
        """Stores a new node's kernel source and its pending row."""
        path = self.objects.put(f"kernel_{node.id}.py", node.candidate.source.encode())
        self.meta.add_node(self.run_id, node, task=self.task, platform=self.platform, kernel_path=path)

    def record_result(self, node: Node) -> None:
        """Stores a node's verdict and its overview.md."""
        overview = self.objects.put(f"overview_{node.id}.md", render_overview(node).encode())
        self.meta.record_result(self.run_id, node, overview_path=overview)
        logger.info("recorded node=%d status=%s score=%.3f", node.id,
                    node.result.status if node.result else "-", node.score)

    def read_source(self, locator: str) -> str:
        """Returns a stored kernel source."""
        return self.objects.get(locator).decode()


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
