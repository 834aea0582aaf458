"""One shared ``bg-remover serve`` for the end-to-end tests that can share it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_server import Server, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("serve"), model_dir, workers=1) as running:
        yield running


@pytest.fixture(scope="session")
def photos(shared_data: Path) -> dict[str, bytes]:
    folder = shared_data / "fashion_products"
    return {
        "a": (folder / "ukbench00000.jpg").read_bytes(),
        "b": (folder / "ukbench00200.jpg").read_bytes(),
        "c": (folder / "ukbench00400.jpg").read_bytes(),
        "truncated": (shared_data / "formats" / "truncated.jpg").read_bytes(),
    }
