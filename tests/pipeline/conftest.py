"""Fixtures: the pipeline on real adapters and the real models (see ``pipeline_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import Bench

from bgremover.blobs.local import LocalBlobStore
from bgremover.ledger.sql import SqlJobLedger
from bgremover.pipeline.engines import Engines


@pytest.fixture(scope="session")
def engines(model_dir: Path) -> Engines:
    engines = Engines(model_dir)
    engines.warm()
    return engines


@pytest.fixture
def bench(tmp_path: Path, engines: Engines) -> Iterator[Bench]:
    ledger = SqlJobLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield Bench(ledger, LocalBlobStore(tmp_path / "blobs"), tmp_path / "params", engines)
    ledger.close()
