"""Fixtures: the pipeline on real adapters and the real models (see ``pipeline_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import Bench

from bgremover.blobs.local import LocalBlobStore
from bgremover.ledger.factory import ledger_from_url
from bgremover.pipeline.engines import Engines


@pytest.fixture(scope="session")
def engines(model_dir: Path) -> Engines:
    engines = Engines(model_dir)
    engines.warm()
    return engines


@pytest.fixture
def bench(tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    yield from _bench(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, engines)


@pytest.fixture(params=["sqlite", "dynamodb"])
def any_bench(request: pytest.FixtureRequest, tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    """The bench on the SQLite ledger and on the DynamoDB one (moto): the pipeline knows only the port."""
    yield from _bench(_ledger_url(request, tmp_path), tmp_path, engines)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_bench(request: pytest.FixtureRequest, tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    """The bench on SQLite and on a real PostgreSQL database (a fresh one per test)."""
    yield from _bench(_ledger_url(request, tmp_path), tmp_path, engines)


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def every_bench(request: pytest.FixtureRequest, tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    """The bench on every ledger: SQLite, PostgreSQL and DynamoDB (moto)."""
    yield from _bench(_ledger_url(request, tmp_path), tmp_path, engines)


def _ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ledger the fixture's parameter names: a file, or a fresh server database or table."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    server_url = {"postgresql": "postgres_url", "dynamodb": "dynamodb_url"}[request.param]
    return str(request.getfixturevalue(server_url))


def _bench(ledger_url: str, tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    ledger = ledger_from_url(ledger_url)
    yield Bench(ledger, LocalBlobStore(tmp_path / "blobs"), tmp_path / "params", engines, ledger_url)
    ledger.close()
