"""Multiprocess metrics set-up, free of any ``prometheus_client`` import.

``prometheus_client`` decides when it is first imported whether samples go to per-process files, so
``serve`` must export the directory before anything imports ``bgremover.observability.metrics``:
this module is what it calls first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics(path: Path) -> Path:
    """Empty (or create) the directory for multiprocess samples and export it to this process and its
    future children; files of an earlier run would otherwise be counted again."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path.resolve())
    return path
