"""The ledger's tables, as SQLAlchemy Core metadata: portable types only, so that the same schema runs
on SQLite and PostgreSQL. Migrations (``migrations/versions``) create it; a test checks they agree."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def aware_utc(value: datetime | None) -> datetime | None:
    """A timestamp read from these tables, made timezone-aware: SQLite hands back naive datetimes, and
    every timestamp here is UTC. Every row mapper of the ledger (jobs and outbox) uses this one."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stage", String(32)),
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=False, default=0),
    Column("options", JSON, nullable=False),
    Column("error", JSON),
    Column("result", JSON),
    Column("request_id", String(128)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
    Index("ix_jobs_status_updated_at", "status", "updated_at"),
    Index("ix_jobs_tenant_created_at", "tenant_id", "created_at"),
)

job_images = Table(
    "job_images",
    metadata,
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("image_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("filename", Text, nullable=False),
    Column("blob_key", Text, nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", JSON),
    Column("width", Integer),
    Column("height", Integer),
    Column("group_id", String(64)),
    Column("outputs", JSON, nullable=False),
)

job_stages = Table(
    "job_stages",
    metadata,
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("ms", Float, nullable=False),
    Column("detail", JSON, nullable=False),
)

# API keys (bgremover.ledger.sql_keys): ``bgr_<key_id>_<secret>``; only the secret's SHA-256 is kept.
# A row is never deleted on revocation, so ``keys list`` still shows who had access and until when.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("label", String(255), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_api_keys_tenant_id", "tenant_id"),
)

# The webhook outbox (bgremover.ledger.outbox): one row per announced final state, written in the
# same transaction as that state. No foreign key to jobs: a delivery outlives nothing it needs.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_job_id", "job_id"),
)

# Chunks of a big job (issue 16): positions [start, stop) of its images in list_images order, each
# with a lease of its own so that many workers run one job. Rows go with their job (cascade).
job_chunks = Table(
    "job_chunks",
    metadata,
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("chunk_index", Integer, primary_key=True, autoincrement=False),
    Column("start", Integer, nullable=False),
    Column("stop", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("stages", JSON, nullable=False),
)
