"""SQLite writers of one process take turns on a lock instead of in SQLite's busy handler.

The proof: with SQLite's busy timeout cut to 1 ms, eight threads creating jobs at once would get
"database is locked" if they met in SQLite; queued on the lock, none does. PostgreSQL has no such
queue (row locks, concurrent writers)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.engine import create_ledger_engine
from bgremover.ledger.sql import SqlJobLedger


def impatient_sqlite_ledger(path: Path) -> SqlJobLedger:
    engine = create_ledger_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _busy_timeout_1ms(dbapi_connection: Any, _record: Any) -> None:  # after the engine's own
        dbapi_connection.execute("PRAGMA busy_timeout=1")

    ledger = SqlJobLedger(engine)
    ledger.migrate()
    return ledger


def new_job(images: int = 20) -> NewJob:
    rows = [NewImage(f"img-{i:04d}", f"{i}.jpg", f"t/{i}", "image/jpeg", 100) for i in range(images)]
    return NewJob(uuid.uuid4().hex, "acme", JobType.GROUP_IMAGES, rows, options={})


def test_concurrent_writers_of_one_process_never_meet_in_sqlite(tmp_path: Path) -> None:
    ledger = impatient_sqlite_ledger(tmp_path / "ledger.db")
    try:
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda _: ledger.create_job(new_job())[1], range(200)))
        assert all(created)
        assert sum(ledger.count_by_status().values()) == 200
    finally:
        ledger.close()


def test_only_sqlite_queues_its_writers(postgres_url: str, tmp_path: Path) -> None:
    sqlite = SqlJobLedger.from_url(f"sqlite:///{tmp_path / 'l.db'}")
    postgres = SqlJobLedger.from_url(postgres_url)
    try:
        # a write on SQLite waits its turn on the ledger's lock; a read, or anything on PostgreSQL, does not
        assert sqlite._write_lock is not None and sqlite._writer_turn(True) is sqlite._write_lock
        assert isinstance(sqlite._writer_turn(False), nullcontext)
        assert postgres._write_lock is None and isinstance(postgres._writer_turn(True), nullcontext)
    finally:
        sqlite.close()
        postgres.close()
