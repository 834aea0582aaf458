"""The API app on a real uvicorn in a thread of the test, for what Starlette's TestClient cannot show:
it buffers a response whole, so an event stream's events only arrive at its end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from backends import free_port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (a free port) until the block ends; yields its base URL."""
    port = free_port()
    # log_config=None: uvicorn installs no handlers of its own (its default config writes to the
    # streams of the moment and stops propagation), so its lines reach pytest's capture like the app's
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
