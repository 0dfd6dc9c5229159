"""The judge: sandboxed correctness, integrity checks and timing of candidate kernels.

How the judge works, file by file, grouped by the process each file runs in. Candidate code runs only
in the worker; the referee, which decides correctness, never runs it.

Evaluator side (the search's process, or an evaluator actor; trusted, never runs candidate code):
    protocols.py       every contract of the judge, imported by both sides (so only core and wire/ in it): Judge
                       (what the search asks: one verdict per source) and its extras Prefetching, Precompiling;
                       Platform, Timer, the device Gate; the worker's Converse
    evaluator.py       Evaluator: one task on one platform; starts the worker and the referee per job
    conversation.py    one job, phase by phase, between worker and referee (the order is below)
    fitness.py         the search's fitness F: geometric-mean speedup over the job's shapes
    sandbox.py         WorkerProcess: scrubbed environment, private dir, limits, timeouts, kills; reads `ready`
    fsjail.py          the filesystem jail a sandboxed process is exec'd in (read-only but its private dirs)
    kernel_cache.py    each process's private Triton/Inductor cache, shared only per candidate source
    redact.py          the credential-name list; cuts the parent's secrets out of verdict text
    baseline_cache.py  cached baseline times, to spot a noisy machine (never instead of interleaved timing)
    device_gate.py     the device gate: checks of several judges share a device, timing holds it alone
    judge_pool.py      several Evaluators on one device behind one Judge, through the device gate
    precompile_pool.py compile-only workers ahead of the device, and the EvalPipeline Judge that uses them
    baseline_ahead.py  child processes compiling a starting worker's baselines side by side into its cache
    compile_ahead.py   a compile-only worker compiling a cold worker's candidate beside its start (outside a search)
    config.py          EvalConfig (the `eval` config group, flat keys declared by concern in CheckConfig,
                       TimingConfig, ProcessConfig, ProfilingConfig); commands.py: `kernelevolve eval`
worker/ (`python -m kernelevolve.eval.worker.main`; runs candidate code, so nothing it says is trusted):
    main.py            start-up: limits and network namespace, then the harness, then the integrity snapshot
    job.py             the worker's side of one job, phase by phase, turned into a report (never an exception)
    candidate.py       build inputs, import and run the candidate under guard, export its outputs
    measure.py         timing against the baselines (interleaved, L2 flushed; timing.py, adaptive.py: early stop)
    baseline_child.py  (started by baseline_ahead.py, trusted) compiles some shapes' baselines, then exits
    guard/             integrity.py (audit hook, launch counter), taint.py (monkeypatch detector),
                       procstate.py (process state a candidate left behind)
referee/ (`python -m kernelevolve.eval.referee.main`, beside each worker; never imports candidate code):
    main.py            builds the same cases with references and judges the outputs the worker exports
precompile/ (`python -m kernelevolve.eval.precompile.main`, started by precompile_pool.py): main.py
    compiles a queued candidate's kernels into the shared Triton cache; its result is advice, not a verdict.
profile/ (optional, after a verdict): run.py (evaluator side) runs main.py (the profiled child) under
    Nsight Compute, Proton or rocprofv3 and parses with parsers.py; commands.py is the CLI.
wire/ (what crosses a process boundary; imported by every process): channel.py (nonce-framed messages on
    pipes), serve.py (start-up and job loop of every sandboxed main), messages.py (every message as a frozen
    dataclass with to_wire/from_wire; fields.py checks each field read off the wire),
    exchange.py (outputs handed from worker to referee as data), ahead.py (the go line and per-shape marks of
    baselines compiled ahead of a starting worker).
Shared by worker and referee: cases.py (inputs from seeds; references only in the referee),
    correctness.py (structure, aliasing and tolerance checks), platforms/ (one file per device family; its
    worker_env() runs in the evaluator, its timer, timing.py and adaptive.py, in the worker), phases.py
    (seconds per phase). tests/test_style.py checks that neither side imports the other.

The phases of one job (conversation.py drives them, worker/job.py answers them, each a PhaseClock phase; a
failed step is the verdict):
    1. first_case: the referee prepares it while the worker builds, imports and runs the candidate on it;
       the referee judges it (a wrong answer is rejected before anything else is built)
    2. check: every other case, run by the worker and judged by the referee
    3. timing: the worker times the candidate against its baselines (holding the device alone; phases 1-2
       hold it shared with other judges); the referee judges the last timed outputs
    4. retiming, only above eval.suspicious_speedup: fresh inputs, timed and judged again, flagged
    5. finish: the worker's final report; conversation.py sets fitness (fitness.py), and the evaluator
       redacts the verdict's text and checks its baselines against the cache
Where to add a check: on outputs, in the referee (correctness.py, used by referee/main.py); on what the
candidate does while it runs, in worker/guard/ (integrity.py, taint.py, procstate.py); on timings, in
conversation.py's timing report check or worker/measure.py.
"""
