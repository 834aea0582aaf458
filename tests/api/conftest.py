"""The API in-process (Starlette's TestClient) on the real embedded backends: the SQLite ledger
(WAL, migrated), local blobs and the Huey SQLite queue, each in a fresh temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bgremover.api import create_app
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services
from observability.support import restore_logging

__all__ = ["restore_logging"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        model_dir=tmp_path / "models",
        enqueue_timeout_s=2.0,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture
def make_client(services: Services, settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """A client on the real services (or ``app_services``); keyword arguments override settings."""
    clients: list[TestClient] = []

    def make(app_services: object = None, **overrides: object) -> TestClient:
        app_settings = Settings(**{**settings.model_dump(), **overrides})
        client = TestClient(create_app(app_services or services, app_settings), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
