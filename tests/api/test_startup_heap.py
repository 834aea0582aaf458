"""The API freezes its start-up objects out of the garbage collector's scans while it serves (full
collections then walk only what requests left behind) and gives them back at shutdown."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient


def test_start_up_objects_are_frozen_while_serving_and_released_at_shutdown(make_client) -> None:
    gc.unfreeze()
    client: TestClient = make_client()
    with client:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the app, its routes and models, and every module loaded so far
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0
