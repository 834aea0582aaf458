"""Throwaway databases and queues for the distributed-mode benchmarks: a fresh PostgreSQL database
and a Redis namespace per run on the local servers (127.0.0.1:5432, :6379), dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis

PG_ADMIN_DSN = os.environ.get("BGR_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BGR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"bgr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def redis_namespace() -> Iterator[str]:
    name = f"bgr_bench_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{name}*", count=1000))
        if keys:
            client.delete(*keys)
