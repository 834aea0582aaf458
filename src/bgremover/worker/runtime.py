"""What one worker process holds: its adapters, the per-tenant configuration cache and the models.

Huey forks its process workers from the consumer, so nothing that owns a connection, a thread or an
ONNX session may be created before the fork: ``WorkerRuntime`` is built in the parent empty and
``start`` runs in each child (Huey's startup hook), once per process.
"""

from __future__ import annotations

import os
import socket
from functools import cached_property

from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import worker_heartbeat
from bgremover.pipeline.chunks import ChunkBoard
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.runner import JobRunner, RunnerLimits, worker_owner
from bgremover.resilience.reaper import Reaper
from bgremover.settings import Settings
from bgremover.webhooks.delivery import DeliveryLoop, DeliveryOptions
from bgremover.webhooks.schedule import RetrySchedule
from bgremover.webhooks.sender import WebhookSender
from bgremover.wiring import Services, build_reaper, build_services, build_tenant_configs

log = get_logger(__name__)


class WorkerRuntime:
    def __init__(self, settings: Settings, board: ChunkBoard | None = None) -> None:
        """``board``: the supervisor's claim board, where the runner posts each chunk it works on."""
        self.settings = settings
        self.board = board

    @cached_property
    def services(self) -> Services:
        return build_services(self.settings, migrate=False)  # the parent migrated before forking

    @cached_property
    def runner(self) -> JobRunner:
        settings = self.settings
        limits = RunnerLimits(
            lease_s=settings.lease_s,
            time_limit_s=settings.job_time_limit_s,
            max_attempts=settings.job_max_attempts,
            max_pixels=int(settings.max_image_megapixels * 1_000_000),
            chunk_images=settings.job_chunk_images,
        )
        return JobRunner(
            ledger=self.services.ledger,
            blobs=self.services.blobs,
            configs=build_tenant_configs(settings),
            engines=Engines(settings.model_dir),
            owner=worker_owner(socket.gethostname(), os.getpid()),
            limits=limits,
            dispatcher=self.services.dispatcher,
            board=self.board,
        )

    @cached_property
    def reaper(self) -> Reaper:
        return build_reaper(self.settings, self.services)

    @cached_property
    def deliveries(self) -> DeliveryLoop:
        """This process's webhook sender, in a thread beside the jobs (see ``bgremover.webhooks``)."""
        settings = self.settings
        attempt_s = settings.webhook_connect_timeout_s + 2 * settings.webhook_timeout_s
        return DeliveryLoop(
            self.services.ledger,
            self.runner.configs,  # the same per-tenant cache as the jobs: one store read per max age
            WebhookSender(
                connect_timeout_s=settings.webhook_connect_timeout_s, timeout_s=settings.webhook_timeout_s
            ),
            RetrySchedule(
                max_attempts=settings.webhook_max_attempts,
                base_s=settings.webhook_backoff_s,
                max_s=settings.webhook_backoff_max_s,
            ),
            owner=self.runner.owner,
            options=DeliveryOptions(
                public_base_url=settings.public_base_url,
                poll_s=settings.webhook_poll_s,
                lease_s=max(60.0, 3 * attempt_s),
            ),
        )

    def start(self) -> None:
        """Load models and warm the configuration cache now, not inside the first job; start sending
        webhooks."""
        self.runner.engines.warm()
        tenants = self.runner.configs.warm()
        self.deliveries.start()
        worker_heartbeat()
        log.info("worker_started", pid=os.getpid(), owner=self.runner.owner, tenants=len(tenants))

    def handle(self, job_id: str) -> None:
        self.runner(job_id)

    def reap(self) -> None:
        worker_heartbeat()
        self.reaper.run_once()

    def stop(self) -> None:
        if "deliveries" in self.__dict__:
            self.deliveries.stop()
        if "services" in self.__dict__:
            self.services.close()
