"""A server under test keeps its log lines with the test (pytest's capture, shown on failure), never
on the terminal: the access line a live server writes after its response included."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from api.live_server import live_server
from bgremover.api import create_app
from bgremover.settings import Settings
from bgremover.wiring import Services


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "bgremover.api.access" and record.levelno == logging.INFO
    ]


def test_a_live_servers_lines_are_captured_with_the_test_not_printed(
    services: Services,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with live_server(create_app(services, settings)) as base_url:
        response = httpx.get(f"{base_url}/v1/jobs/nope", headers={"X-Tenant-ID": "acme"}, timeout=20)
        assert response.status_code == 404
        deadline = time.monotonic() + 10  # the access line follows the response
        while not _access_lines(caplog) and time.monotonic() < deadline:
            time.sleep(0.02)
    [line] = _access_lines(caplog)
    assert (line["event"], line["route"], line["status"]) == ("request", "/v1/jobs/{job_id}", 404)
    assert line["tenant_id"] == "acme" and line["request_id"] == response.headers["x-request-id"]
    out, err = capfd.readouterr()
    assert "/v1/jobs/{job_id}" not in out + err
