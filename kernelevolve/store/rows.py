"""Conversions between domain objects and metadata rows (no I/O)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from kernelevolve.core.types import Candidate, EvalResult, Node, NodeState
from kernelevolve.store.schema import excerpt


def node_row(run_id: str, node: Node, *, task: str, platform: str, step: int | None, kernel_path: str,
             source_sha256: str) -> dict[str, Any]:
    """Returns the nodes row of a new (pending) node."""
    c = node.candidate
    return {"run_id": run_id, "id": node.id, "parent_id": node.parent_id, "task": task, "platform": platform,
            "state": node.state.value, "origin": c.origin, "note": c.note, "step": step,
            "source_sha256": source_sha256, "kernel_path": kernel_path, "created_at": node.created_at}


def verdict_values(node: Node, result: EvalResult, *, seq: int, overview_path: str | None,
                   log_path: str | None) -> dict[str, Any]:
    """Returns the nodes columns a verdict sets. result_json keeps the whole result but the error,
    which lives in the log object (log_path) and as an excerpt in `error`."""
    stored = dataclasses.replace(result, error=None)
    return {"state": NodeState.EVALUATED.value, "status": result.status.value,
            "score": result.fitness if result.ok else 0.0, "is_buggy": int(not result.ok),
            "reason": result.reason, "error": excerpt(result.error),
            "timings_json": json.dumps([dataclasses.asdict(t) for t in result.timings]),
            "metrics_json": json.dumps(result.metrics), "result_json": json.dumps(stored.to_dict()),
            "eval_seq": seq, "overview_path": overview_path, "log_path": log_path, "evaluated_at": time.time()}


def evaluation_row(run_id: str, node_id: int, values: dict[str, Any], platform: str) -> dict[str, Any]:
    """Returns the evaluations row of one verdict from its nodes columns."""
    return {"run_id": run_id, "node_id": node_id, "seq": values["eval_seq"], "status": values["status"],
            "fitness": values["score"], "is_buggy": values["is_buggy"], "reason": values["reason"],
            "platform": platform, "timings_json": values["timings_json"], "metrics_json": values["metrics_json"],
            "error": values["error"], "log_path": values["log_path"], "finished_at": values["evaluated_at"]}


def llm_call_row(run_id: str, node_id: int | None, step: int | None, call: dict[str, Any],
                 prompt_path: str | None, response_path: str | None) -> dict[str, Any]:
    """Returns the llm_calls row of one call dict (model, tokens_in/out/cached, cost_usd, latency_s, attempts,
    error, ...)."""
    latency, attempts = call.get("latency_s"), call.get("attempts")
    return {"run_id": run_id, "node_id": node_id, "step": step, "model": call.get("model"),
            "tokens_in": int(call.get("tokens_in", 0)), "tokens_out": int(call.get("tokens_out", 0)),
            "tokens_cached": int(call.get("tokens_cached", 0)), "cost_usd": float(call.get("cost_usd", 0.0)),
            "latency_s": None if latency is None else float(latency),
            "prompt_excerpt": excerpt(call.get("prompt")), "response_excerpt": excerpt(call.get("response")),
            "prompt_path": prompt_path, "response_path": response_path, "created_at": time.time(),
            "attempts": None if attempts is None else int(attempts), "error": call.get("error")}


def node_from_row(row: dict[str, Any], source: str, error: str | None) -> Node:
    """Returns the domain node of a nodes row, with its source and full error text restored."""
    result = None
    if row["result_json"]:
        result = dataclasses.replace(EvalResult.from_dict(json.loads(row["result_json"])), error=error)
    candidate = Candidate(source=source, parent_id=row["parent_id"], origin=row["origin"], note=row["note"])
    return Node(id=row["id"], parent_id=row["parent_id"], candidate=candidate, state=NodeState(row["state"]),
                result=result, created_at=row["created_at"])
