"""The distributed-mode benchmarks use the same throwaway backends as the contract and fault tests (a
uniquely named PostgreSQL database on 127.0.0.1:5432, dropped afterwards; moto's DynamoDB and S3
servers on free ports): one set of helpers, in tests/backends.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from backends import dynamodb_server, postgres_database, s3_server, unique_name

__all__ = ["dynamodb_server", "postgres_database", "s3_server", "unique_name"]
