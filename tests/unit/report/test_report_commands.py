"""`kernelevolve report RUN... [--watch]`: pages from the store, rebuilt while a run goes on, final once it stops."""

from __future__ import annotations

import time

from kernelevolve import cli
from kernelevolve.report.commands import watch
from kernelevolve.store.sqlite import SqliteMetadataStore
from tests.unit.report.run_store import make_run


def test_report_writes_each_runs_page_by_directory_or_id(tmp_path, capsys):
    first, second = make_run(tmp_path, "a"), make_run(tmp_path, "b")
    assert cli.main(["report", str(first), "b", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(first / "report.html"), str(second / "report.html")]
    assert "Run a" in (first / "report.html").read_text() and "Run b" in (second / "report.html").read_text()


def test_an_unknown_run_is_an_error_naming_where_it_looked(tmp_path, capsys):
    assert cli.main(["report", "nope", "--root", str(tmp_path)]) == 2
    assert f"{tmp_path}/nope/meta.db" in capsys.readouterr().err


def _mark_live(run_dir, run_id: str) -> SqliteMetadataStore:
    meta = SqliteMetadataStore(run_dir / "meta.db")
    meta.mark_running(run_id)
    meta.claim_run(run_id, pid=1, host="elsewhere", at=time.time())  # beating from another host: live
    return meta


def test_watch_rebuilds_a_live_run_with_a_reloading_page_until_it_finishes(tmp_path):
    run_dir = make_run(tmp_path)
    meta = _mark_live(run_dir, "r1")
    pages, said = [], []

    def tick(seconds: float) -> None:
        pages.append((run_dir / "report.html").read_text())
        if len(pages) == 2:
            meta.finish_run("r1", status="finished", stop_reason="max_steps", progress={})

    assert watch([(run_dir, None)], 7.0, sleep=tick, say=said.append) == 0
    final = (run_dir / "report.html").read_text()
    meta.close()
    assert len(said) == 3 and said[0].endswith("(running)") and said[-1].endswith("(finished)")
    assert all('<meta http-equiv="refresh" content="7">' in page for page in pages)
    assert "http-equiv" not in final and "Live:" not in final, "the last page stops reloading"


def test_watch_leaves_the_runs_store_as_it_was(tmp_path):
    run_dir = make_run(tmp_path)
    meta = _mark_live(run_dir, "r1")
    before = meta.execute("SELECT * FROM runs")
    beats = iter(range(3))

    def tick(seconds: float) -> None:
        if next(beats) == 2:
            meta.finish_run("r1", status="finished", stop_reason="max_steps", progress={})

    watch([(run_dir, None)], 1.0, sleep=tick, say=lambda _: None)
    after = meta.execute("SELECT * FROM runs")
    meta.close()
    assert [{**r, "status": None, "stop_reason": None, "progress_json": None} for r in after] == \
           [{**r, "status": None, "stop_reason": None, "progress_json": None} for r in before]
