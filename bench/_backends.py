"""The distributed-mode benchmarks use the same throwaway PostgreSQL database as the contract and fault
tests (a uniquely named database on 127.0.0.1:5432, dropped afterwards): one helper, in tests/backends.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from backends import postgres_database

__all__ = ["postgres_database"]
