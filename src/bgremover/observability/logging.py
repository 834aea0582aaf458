"""Structured JSON logs for the API and the workers.

Every line carries ``request_id``, ``tenant_id`` and ``job_id`` (``null`` where not known yet), taken
from contextvars: the API binds them per request, a worker per job, so a line logged deep inside a
stage can be joined to the request that caused it without passing ids around. Standard-library loggers
(uvicorn, huey, alembic) go through the same renderer, so a process writes one format only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

CONTEXT_KEYS = ("request_id", "tenant_id", "job_id")


def _ensure_context_keys(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Absent ids are written as null so that every line has the same keys to filter on."""
    for key in CONTEXT_KEYS:
        event.setdefault(key, None)
    return event


def _shared_processors(process: str) -> list[structlog.types.Processor]:
    def add_process(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("process", process)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_process,
        _ensure_context_keys,
    ]


def configure_logging(process: str, level: str | int = "INFO", stream: Any = None) -> None:
    """Send structlog and standard-library logging to ``stream`` (stderr) as one JSON object per line.

    ``process`` names the role ("api", "worker") so that lines of the API and of workers sharing one
    terminal or log file can be told apart.
    """
    shared = _shared_processors(process)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "huey"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the process's level decides, whatever a uvicorn.Config set before
    # The API writes its own access line (bgremover.api.access: route template, status, ms, ids);
    # uvicorn's would repeat it without them.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Bind ids (``request_id``, ``tenant_id``, ``job_id``) for the lines logged inside the block."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield


def bind_log_context(**ids: str | None) -> None:
    """Bind ids until the current context ends (an ASGI request, a worker's job)."""
    structlog.contextvars.bind_contextvars(**ids)


def clear_log_context() -> None:
    structlog.contextvars.clear_contextvars()
