"""Applies the packaged Alembic migrations programmatically: ``serve`` and ``worker`` call ``upgrade``
at start, so a fresh clone needs no separate migration step."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_ID = 0x6267726D  # "bgrm": serialises concurrent upgrades from many workers on PostgreSQL


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision. Concurrent callers (several processes starting at
    once) are serialised by the database: SQLite's write lock, a PostgreSQL advisory lock."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        conn.execution_options(bgr_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
