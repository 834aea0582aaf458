"""Log lines are JSON, one per line, and carry the request, tenant and job ids from contextvars."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bgremover.observability.logging import (
    clear_log_context,
    configure_logging,
    get_logger,
    log_context,
)


@pytest.fixture
def log_stream(restore_logging):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    yield stream
    clear_log_context()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_lines_carry_bound_ids(log_stream):
    with log_context(request_id="r1", tenant_id="acme"), log_context(job_id="j1"):
        get_logger("t").info("stage finished", stage="cutout", ms=12.5)
    [line] = lines(log_stream)
    assert line["event"] == "stage finished"
    assert (line["request_id"], line["tenant_id"], line["job_id"]) == ("r1", "acme", "j1")
    assert line["stage"] == "cutout"
    assert line["level"] == "info"
    assert line["process"] == "api"
    assert line["timestamp"].endswith("Z")


def test_ids_are_null_when_unbound_and_unbound_after_the_block(log_stream):
    with log_context(job_id="j1"):
        pass
    get_logger().warning("outside")
    [line] = lines(log_stream)
    assert line["request_id"] is None and line["tenant_id"] is None and line["job_id"] is None


def test_stdlib_loggers_share_format_and_context(log_stream):
    with log_context(request_id="r2"):
        logging.getLogger("uvicorn.error").error("boom")
    [line] = lines(log_stream)
    assert line["event"] == "boom"
    assert line["request_id"] == "r2"
    assert line["logger"] == "uvicorn.error"


def test_exceptions_are_rendered_inside_the_json_line(log_stream):
    try:
        raise ValueError("bad pixel")
    except ValueError:
        get_logger().exception("failed")
    [line] = lines(log_stream)
    assert "ValueError: bad pixel" in line["exception"]


def test_uvicorn_access_lines_are_left_to_the_api_access_line(log_stream):
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    logging.getLogger("uvicorn.error").info("Started server process")
    assert [line["event"] for line in lines(log_stream)] == ["Started server process"]
