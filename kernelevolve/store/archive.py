"""The archive: the one writer of a run's metadata and objects.

Objects (kernel sources, overviews, logs, prompts) are written first and are content-addressed, so
re-writing them after a kill is harmless; then the metadata rows that point at them are committed in
one transaction per event. The store is therefore always a consistent prefix of the run's history.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from kernelevolve.core.types import DUPLICATE_PREFIX, EvalResult, Node
from kernelevolve.store import rows
from kernelevolve.store.config import store_config_from_dict
from kernelevolve.store.factory import build_object_store
from kernelevolve.store.objects_local import LocalObjectStore
from kernelevolve.store.overview import render_overview
from kernelevolve.store.protocols import ObjectStore
from kernelevolve.store.sqlite import SqliteMetadataStore, open_run

logger = logging.getLogger(__name__)


class Archive:
    """Writes one run: nodes, expansion steps, verdicts, LLM calls and the budget counters."""

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

    # Every write below is idempotent: a caller that lost the reply (the archive actor restarted mid-call, "may
    # or may not have been executed") calls again, and a write already committed is not applied twice.

    def add_roots(self, nodes: list[Node]) -> None:
        """Stores the run's roots (seed and warm starts) in one transaction: all of them or none."""
        if nodes and self._has("nodes", "id = ?", (nodes[0].id,)):
            return  # committed already (all or none)
        node_rows = [self._node_row(node, None) for node in nodes]
        with self.meta.transaction():
            for row in node_rows:
                self.meta.insert("nodes", row)

    def _node_row(self, node: Node, step: int | None) -> dict[str, Any]:
        data = node.candidate.source.encode()
        path = self.objects.put(f"kernel_{node.id}.py", data)
        return rows.node_row(self.run_id, node, task=self.task, platform=self.platform, step=step,
                             kernel_path=path, source_sha256=hashlib.sha256(data).hexdigest())

    def begin_expansion(self, *, step: int, parent_id: int, seed: int, inspirations: list[int]) -> None:
        """Commits an expansion step before the operator is called, so a resume can re-issue it."""
        if self._has("expansions", "step = ?", (step,)):
            return
        self.meta.insert("expansions", {"run_id": self.run_id, "step": step, "parent_id": parent_id, "seed": seed,
                                        "inspirations_json": json.dumps(inspirations), "status": "in_flight",
                                        "started_at": time.time()})

    def finish_expansion(self, *, step: int, node: Node | None, failure: str | None,
                         llm_calls: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Commits an expansion's outcome in one transaction: the new node (or the failure), its LLM
        calls and the budget counters, so a kill never leaves a node without its step or vice versa."""
        if self._has("expansions", "step = ? AND status != 'in_flight'", (step,)):
            return  # finished already
        node_row = None if node is None else self._node_row(node, step)
        call_rows = self._llm_rows(None if node is None else node.id, step, llm_calls)
        with self.meta.transaction():
            if node_row is not None:
                self.meta.insert("nodes", node_row)
            for row in call_rows:
                self.meta.insert("llm_calls", row)
            status = "done" if node is not None else "failed"
            self.meta.update("expansions", {"run_id": self.run_id, "step": step},
                             {"status": status, "child_id": None if node is None else node.id, "failure": failure,
                              "finished_at": time.time()})
            self.meta.save_progress(self.run_id, progress)

    def cancel_expansion(self, step: int) -> None:
        """Marks an expansion that was never started (cancelled at shutdown)."""
        self.meta.update("expansions", {"run_id": self.run_id, "step": step},
                         {"status": "cancelled", "finished_at": time.time()})

    def open_expansions(self) -> list[dict[str, Any]]:
        """Returns the expansion steps still in flight (a killed run's), by step, with `inspirations` ids."""
        return [{**r, "inspirations": json.loads(r["inspirations_json"])}
                for r in self.meta.expansions(self.run_id) if r["status"] == "in_flight"]

    def next_step(self) -> int:
        """Returns the number of the next expansion step (one past the last one started)."""
        rows = self.meta.execute("SELECT MAX(step) AS last FROM expansions WHERE run_id = ?", (self.run_id,))
        return 0 if rows[0]["last"] is None else int(rows[0]["last"]) + 1

    def trailing_expansion_failures(self) -> int:
        """Returns how many of the latest finished expansion steps failed in a row (a dropped duplicate neither
        counts nor breaks the row, as in the controller's live count)."""
        count = 0
        for row in reversed(self.meta.expansions(self.run_id)):
            if row["status"] == "failed" and str(row.get("failure") or "").startswith(DUPLICATE_PREFIX):
                continue
            if row["status"] == "failed":
                count += 1
            elif row["status"] == "done":
                break
        return count

    def record_evaluation(self, node: Node, result: EvalResult, *, seq: int, progress: dict[str, Any]) -> None:
        """Commits a verdict (node columns + evaluations row + budget counters) in one transaction;
        the full error goes to log_<n>.txt, the row keeps an excerpt."""
        if self._has("evaluations", "node_id = ? AND seq = ?", (node.id, seq)):
            return
        log = None if result.error is None else self.objects.put(f"log_{node.id}.txt", result.error.encode())
        shown = Node(id=node.id, parent_id=node.parent_id, candidate=node.candidate, state=node.state,
                     result=result, created_at=node.created_at)
        overview = self.objects.put(f"overview_{node.id}.md", render_overview(shown).encode())
        values = rows.verdict_values(node, result, seq=seq, overview_path=overview, log_path=log)
        with self.meta.transaction():
            self.meta.update("nodes", {"run_id": self.run_id, "id": node.id}, values)
            self.meta.insert("evaluations", rows.evaluation_row(self.run_id, node.id, values, result.platform))
            self.meta.save_progress(self.run_id, progress)
        logger.info("recorded node=%d status=%s score=%.3f", node.id, result.status, values["score"])

    def record_llm_calls(self, node_id: int | None, calls: list[dict[str, Any]], *, step: int | None = None) -> None:
        """Stores LLM calls (model, prompt, response, tokens_in/out/cached, cost_usd, latency_s); prompts
        and responses go to the object store with an excerpt in the row. Safe from any thread. A batch whose
        every row is stored already (same node, step, model, tokens and prompt/response objects) is a retry
        and is skipped."""
        call_rows = self._llm_rows(node_id, step, calls)
        if call_rows and all(self._has("llm_calls", "node_id IS ? AND step IS ? AND model IS ? AND tokens_in = ? AND "
                                       "tokens_out = ? AND prompt_path IS ? AND response_path IS ?",
                                       (r["node_id"], r["step"], r["model"], r["tokens_in"], r["tokens_out"],
                                        r["prompt_path"], r["response_path"])) for r in call_rows):
            return
        with self.meta.transaction():
            for row in call_rows:
                self.meta.insert("llm_calls", row)

    def _has(self, table: str, where: str, params: tuple[Any, ...]) -> bool:
        """Returns whether this run's `table` holds a row matching `where` (a committed write, on a retry)."""
        found = self.meta.execute(f"SELECT 1 FROM {table} WHERE run_id = ? AND {where} LIMIT 1",  # noqa: S608
                                  (self.run_id, *params))
        return bool(found)

    def _llm_rows(self, node_id: int | None, step: int | None, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for call in calls:
            paths = [self._put_text(call.get(field)) for field in ("prompt", "response")]
            out.append(rows.llm_call_row(self.run_id, node_id, step, call, *paths))
        return out

    def _put_text(self, text: str | None) -> str | None:
        if not text:
            return None
        data = text.encode()
        return self.objects.put(f"llm/{hashlib.sha256(data).hexdigest()[:16]}.txt", data)

    def read_source(self, locator: str) -> str:
        """Returns a stored kernel source."""
        return self.objects.get(locator).decode()

    def load_nodes(self) -> list[tuple[Node, int | None, int | None]]:
        """Returns (node, step, eval_seq) for every stored node, by id, with sources and errors restored."""
        out = []
        for row in self.meta.nodes(self.run_id):
            error = self.objects.get(row["log_path"]).decode() if row["log_path"] else None
            out.append((rows.node_from_row(row, self.read_source(row["kernel_path"]), error),
                        row["step"], row["eval_seq"]))
        return out

    def progress(self) -> dict[str, Any]:
        """Returns the stored budget counters."""
        return dict(json.loads(self.meta.get_run(self.run_id)["progress_json"] or "{}"))


def open_archive(run_dir: Path) -> Archive:
    """Returns the Archive of a stored run, reading objects from the backend its stored config names."""
    run_dir = Path(run_dir)
    meta, run = open_run(run_dir)
    meta.close()
    store = store_config_from_dict(json.loads(run["config_json"]).get("store", {}))
    return Archive(run_dir, run["id"], task=run["task"], platform=run["platform"],
                   objects=build_object_store(store, run_dir, run["id"]))
