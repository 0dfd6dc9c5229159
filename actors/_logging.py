"""Logging set up once per Ray worker process (STYLE R35): kernelevolve loggers go to the worker's stderr,
which Ray shows in the dashboard's per-actor logs."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_actor_logging(level: str = "INFO") -> None:
    """Routes the kernelevolve and actors loggers to stderr at `level`; idempotent within a process."""
    for name in ("kernelevolve", "actors"):
        log = logging.getLogger(name)
        log.setLevel(level)
        if not any(getattr(h, "_kernelevolve", False) for h in log.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler._kernelevolve = True  # type: ignore[attr-defined]  # marks ours, for idempotence
            log.addHandler(handler)
