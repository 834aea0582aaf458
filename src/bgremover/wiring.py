"""The one place that turns configuration URLs into adapters.

``BGR_DATABASE_URL`` -> ledger (SQLite, PostgreSQL or DynamoDB), ``BGR_QUEUE_URL`` -> dispatcher
(SqliteHuey, RedisHuey, Huey on SQS or a Lambda invocation), ``BGR_STORAGE_URL`` -> blob store (local
disk or S3), ``BGR_PARAM_STORE_URL`` -> parameter store (a file tree or SSM). The API and the workers
both build their services here, so embedded and distributed mode differ only in URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bgremover.blobs.base import BlobStore
from bgremover.blobs.factory import blob_store_from_url
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.params.cache import TenantConfigCache
from bgremover.params.factory import parameter_store_from_url
from bgremover.queue.base import Dispatcher
from bgremover.queue.factory import dispatcher_from_url
from bgremover.queue.huey_queue import JobHandler
from bgremover.resilience.reaper import Reaper, RetryPolicy
from bgremover.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    ledger: JobLedger
    blobs: BlobStore
    dispatcher: Dispatcher

    def close(self) -> None:
        self.dispatcher.close()
        self.ledger.close()


def build_services(
    settings: Settings, *, handler: JobHandler | None = None, migrate: bool = True
) -> Services:
    """Adapters for ``settings``. Only workers pass ``handler`` (what runs a job); the schema is
    migrated unless ``migrate`` is off (``serve`` migrates once before starting its processes)."""
    return Services(
        ledger=ledger_from_url(settings.database_url, migrate=migrate and settings.database_migrate),
        blobs=blob_store_from_url(
            settings.storage_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_presign_seconds=settings.s3_presign_seconds,
        ),
        dispatcher=dispatcher_from_url(settings.queue_url, handler, name=settings.queue_name),
    )


def build_reaper(settings: Settings, services: Services) -> Reaper:
    """The reaper pass on these adapters: worker nodes run it as a periodic task, AWS on a schedule."""
    return Reaper(
        services.ledger,
        services.dispatcher,
        RetryPolicy.from_settings(settings),
        webhook_retention=timedelta(days=settings.webhook_retention_days),
    )


def build_tenant_configs(settings: Settings) -> TenantConfigCache:
    """Per-tenant configuration for workers (``BGR_PARAM_STORE_URL``)."""
    store = parameter_store_from_url(settings.param_store_url, max_age_s=settings.config_max_age_s)
    return TenantConfigCache(store, stage=settings.stage, max_age_s=settings.config_max_age_s)
