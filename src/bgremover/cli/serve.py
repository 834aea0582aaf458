"""``bg-remover serve``: the API on uvicorn plus N embedded worker processes (``--workers 0``: the API
alone, for distributed mode).

The workers run as one child process tree (``bg-remover worker``), at lower CPU priority, so that
inference never starves the request path. The signal that stops the API is passed on to them:
SIGTERM lets in-flight jobs finish (within ``BGR_SHUTDOWN_GRACE_S``), SIGINT returns them to the
queue. A worker tree that dies while the API serves is started again (:mod:`bgremover.cli.serving`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bgremover.cli.app import app
from bgremover.observability.metrics_setup import prepare_metrics

METRICS_DIR = Path("var/prometheus")

HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="TCP port.")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=0, help="Embedded workers (default: BGR_WORKERS, else fit the machine)."),
]


@app.command("serve")
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000, workers: WorkersOption = None) -> None:
    """Serve the HTTP API and run embedded workers, with state under ./var by default."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before serve could enable multiprocess metrics")
    prepare_metrics(METRICS_DIR)  # before anything imports the metrics module
    from bgremover.api.app import create_app
    from bgremover.cli.serving import Server, WorkerTree, uvicorn_config
    from bgremover.ledger.factory import ledger_from_url
    from bgremover.observability.logging import configure_logging
    from bgremover.settings import get_settings
    from bgremover.wiring import build_services
    from bgremover.worker import default_worker_count

    settings = get_settings()
    configure_logging("api")
    if workers is None:
        workers = settings.workers if settings.workers is not None else default_worker_count()
    ledger_from_url(settings.database_url, migrate=settings.database_migrate).close()  # before workers
    tree = WorkerTree(workers, settings.shutdown_grace_s) if workers else None
    services = build_services(settings, migrate=False)
    server = Server(uvicorn_config(create_app(services, settings), settings, host, port))
    try:
        server.run()
    finally:
        if tree is not None:
            tree.stop(server.stop_signal)
        services.close()
