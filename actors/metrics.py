"""The run's custom Ray metrics (ray.util.metrics): exported to Prometheus with a `ray_` prefix, counters
with a `_total` suffix, e.g. `ray_kernelevolve_candidates_evaluated_total`.

Created lazily inside the actor that reports them (a metric object belongs to one worker process).
"""

from __future__ import annotations

import functools

from ray.util.metrics import Counter, Gauge

_RUN = ("run_id",)


@functools.cache
def controller_metrics() -> dict[str, Counter | Gauge]:
    """Returns the controller's metrics (one set per process)."""
    return {
        "evaluated": Counter("kernelevolve_candidates_evaluated", "candidates with a verdict; rate() = candidates/s",
                             tag_keys=_RUN),
        "eval_queue": Gauge("kernelevolve_eval_queue_depth", "candidates waiting for or in evaluation", tag_keys=_RUN),
        "expanding": Gauge("kernelevolve_expansions_in_flight", "expansions running on expanders", tag_keys=_RUN),
        "best": Gauge("kernelevolve_best_speedup", "best fitness so far (interpreter score on cpu)", tag_keys=_RUN),
        "tokens": Counter("kernelevolve_llm_tokens", "LLM tokens spent (in + out)", tag_keys=_RUN),
        "dollars": Counter("kernelevolve_llm_dollars", "estimated LLM cost, US dollars", tag_keys=_RUN),
        "quarantined": Gauge("kernelevolve_evaluators_quarantined", "evaluators taken out of service", tag_keys=_RUN),
        "slots_busy": Gauge("kernelevolve_eval_slots_busy_fraction", "share of the evaluation slots (evaluators x "
                            "eval_batch) holding a candidate over the last 30 s", tag_keys=_RUN),
        "operator_bound": Gauge("kernelevolve_operator_bound", "1 while evaluators idle waiting for candidates "
                                "(the operator, not the GPUs, limits the run), else 0", tag_keys=_RUN),
    }


@functools.cache
def evaluator_metrics() -> dict[str, Counter | Gauge]:
    """Returns an evaluator's metrics (one set per process)."""
    tags = ("run_id", "evaluator")
    return {
        "busy": Gauge("kernelevolve_device_busy_fraction", "GPU kernel time (the verdicts' gpu_busy_s, from CUDA "
                      "events) over wall time since the first evaluation", tag_keys=tags),
        "slot": Gauge("kernelevolve_device_slot_fraction", "share of the device slot's permits (one per judge) "
                      "held over wall time (time inside evaluate, not GPU time)", tag_keys=tags),
        "phase_s": Counter("kernelevolve_phase_seconds", "seconds of each verdict phase (rate() = seconds per "
                           "second; phase tag: worker.check, referee.prepare, timing, ...)",
                           tag_keys=(*tags, "phase")),
        "gpu_busy_s": Counter("kernelevolve_gpu_busy_seconds", "device seconds of the judge's own kernels",
                              tag_keys=tags),
        "done": Counter("kernelevolve_evaluations", "evaluations finished on this evaluator", tag_keys=tags),
        "precompile_hits": Counter("kernelevolve_precompile_hits", "candidates compiled off the device before "
                                   "being judged", tag_keys=tags),
        "precompile_misses": Counter("kernelevolve_precompile_misses", "candidates whose off-device compile "
                                     "failed, timed out or was cancelled (the judge compiled them)", tag_keys=tags),
        "compile_s": Counter("kernelevolve_precompile_seconds", "seconds spent compiling off the device",
                             tag_keys=tags),
    }
