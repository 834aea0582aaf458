"""The service's log lines in tests go to pytest's log capture, test by test.

Left unconfigured, structlog prints each line straight to ``sys.stdout``: a server under test in a
thread (``api.live_server``, Starlette's TestClient) writes its access line after the response is
sent, often once pytest has moved on and stopped capturing, so the line lands on the terminal, and no
line ever reaches ``caplog``. Here structlog renders each line (JSON, with the bound request, tenant
and job ids) and hands it to the standard library's logger of the same name, where pytest's handler
keeps it with the test that was running and shows it under "Captured log" when that test fails; a line
that arrives between tests has no handler and is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

LEVEL = logging.INFO  # the service's own level: its access and job lines are INFO


def _with_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in ("request_id", "tenant_id", "job_id"):
        event.setdefault(key, None)
    return event


def route_logs_to_pytest() -> None:
    """Configure structlog for a test session (and again after a test that configured it itself)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _with_ids,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    logging.getLogger("bgremover").setLevel(LEVEL)
