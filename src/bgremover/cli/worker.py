"""``bg-remover worker``: workers only, for distributed mode (any number, on any machines)."""

from __future__ import annotations

from typing import Annotated

import typer

from bgremover.cli.app import app

WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Worker processes (default: BGR_WORKERS, else fit the machine)."),
]


@app.command("worker")
def worker(workers: WorkersOption = None) -> None:
    """Run job workers until SIGTERM (finish in-flight jobs) or SIGINT (return them to the queue)."""
    from bgremover.observability.logging import configure_logging
    from bgremover.settings import get_settings
    from bgremover.worker import run_workers  # heavy imports only for this command

    configure_logging("worker")
    run_workers(get_settings(), workers)
