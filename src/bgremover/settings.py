"""Process-wide settings, read from ``BGR_*`` environment variables or an optional config file.

These are deployment settings (where state lives, which backends to use). Per-tenant settings are a
different thing: they live in the parameter store and are read by workers only, through a cache.

The optional config file is TOML, named by ``BGR_CONFIG_FILE`` (default ``./bgremover.toml`` when it
exists), with the same keys in lower case (``database_url = "postgresql://..."``). Environment
variables win over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse as parse_rate_limit
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("bgremover.toml")


def _valid_rate(value: str | None) -> str | None:
    """A rate such as ``120/minute`` or ``10 per second`` (the ``limits`` notation), checked at start-up
    so that a typo fails the deployment rather than the first request."""
    if value is not None:
        parse_rate_limit(value)  # raises ValueError on anything it cannot read
    return value


class TenantLimits(BaseModel):
    """One tenant's overrides of the default limits (``BGR_TENANT_LIMITS='{"acme": {...}}'``). A field
    left out inherits the deployment's default; ``null`` turns that limit off for the tenant."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: str | None = None
    read_rate_limit: str | None = None
    max_active_jobs: int | None = Field(default=None, ge=1)
    monthly_image_quota: int | None = Field(default=None, ge=0)

    _rates = field_validator("rate_limit", "read_rate_limit")(_valid_rate)


class Settings(BaseSettings):
    """Deployment settings. Every field maps to ``BGR_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="BGR_", extra="ignore")

    database_url: str = "sqlite:///var/bgremover.db"
    # serve, worker and `keys` create or migrate the ledger's schema (SQL tables, the DynamoDB table)
    # at start; off where an infrastructure template owns it.
    database_migrate: bool = True
    queue_url: str = "sqlite:///var/queue.db"
    # The queue's name within its backend (Redis keys, SQLite rows): deployments sharing one Redis
    # need different names, or each one's workers take the other's jobs.
    queue_name: str = Field(default="bgremover", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    storage_url: str = "file://./var/blobs"
    model_dir: Path = Path("var/models")
    stage: str = "dev"

    # Request limits (answered 413 before any job exists) and the bounded hand-off to the queue.
    max_images_per_request: int = Field(default=1000, ge=1)
    max_image_bytes: int = Field(default=50 * 1024**2, ge=1)
    max_request_bytes: int = Field(default=500 * 1024**2, ge=1)
    max_image_megapixels: float = Field(default=100.0, gt=0)
    enqueue_timeout_s: float = Field(default=10.0, gt=0)

    # Per-tenant limits, held in memory by the API (the request path never reads the parameter store).
    # All off by default, so the embedded single-user service never refuses its user; see README.
    rate_limit: str | None = None  # submits per tenant, e.g. "120/minute"; 429 + RateLimit-* headers
    read_rate_limit: str | None = None  # GETs of jobs and their images per tenant, e.g. "1200/minute"
    rate_limit_storage_url: str = "memory://"  # "redis://host:6379/1" shares counts across API processes
    max_active_jobs: int | None = Field(default=None, ge=1)  # queued + running per tenant, else 429
    monthly_image_quota: int | None = Field(default=None, ge=0)  # images per UTC calendar month, else 402
    tenant_limits: dict[str, TenantLimits] = Field(default_factory=dict)  # tenant -> overrides
    # Slow clients: a body that stalls longer than the idle timeout, or takes longer than the upload
    # deadline, is answered 408; request headers must be complete within the header timeout.
    upload_idle_timeout_s: float = Field(default=30.0, gt=0)
    upload_timeout_s: float = Field(default=300.0, gt=0)
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_keep_alive_s: int = Field(default=5, ge=1)  # idle keep-alive connections are closed after this
    http_limit_concurrency: int | None = Field(default=1000, ge=1)  # connections/tasks, then 503
    # Direct uploads (bgremover.api.direct_uploads): how long a slot may be used, and the key that signs
    # slots (set it wherever more than one API process runs: Lambda, several nodes; without it each
    # process signs with a random key of its own). At most a day: the one-job-per-upload guard is the
    # ledger's idempotency window (24 h).
    upload_slot_ttl_s: int = Field(default=3600, ge=60, le=86400)
    upload_signing_key: SecretStr | None = Field(default=None, min_length=32)  # a short key fails start-up

    _rates = field_validator("rate_limit", "read_rate_limit")(_valid_rate)

    # Tenant resolution (bgremover.tenancy). "off" is the embedded default: X-Tenant-ID or "default".
    auth_mode: Literal["off", "on"] = "off"
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)  # tenant -> API key
    jwt_keys: dict[str, SecretStr] = Field(default_factory=dict)  # key id -> PEM public key or secret
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_tenant_claim: str = "tenant_id"
    trust_tenant_header: bool = False  # behind a gateway that sets X-Tenant-ID itself
    tenant_host_suffix: str | None = None  # "api.example.com": acme.api.example.com -> tenant acme
    # Identity hardening: keys live in memory and are refreshed off the request path (bgremover.tenancy).
    api_key_refresh_s: float = Field(default=10.0, gt=0)  # stored keys reloaded: a revocation's delay
    jwks_url: str | None = None  # "https://idp/.well-known/jwks.json", "file:///etc/bgr/jwks.json", a path
    jwks_refresh_s: float = Field(default=300.0, gt=0)  # periodic reload of the key set
    jwks_min_refresh_interval_s: float = Field(default=30.0, ge=0)  # unknown kid: at most 1 reload per this
    jwks_timeout_s: float = Field(default=5.0, gt=0)  # connect/read timeout of one JWKS fetch
    jwks_max_bytes: int = Field(default=1024**2, ge=1024)  # a larger key set is refused
    jwt_leeway_s: float = Field(default=30.0, ge=0, le=300)  # clock skew allowed on exp, nbf and iat

    @field_validator("jwt_algorithms")
    @classmethod
    def _no_unsigned_tokens(cls, value: list[str]) -> list[str]:
        """``none`` would accept unsigned tokens; refuse the configuration rather than the token."""
        if any(name.lower() == "none" for name in value):
            raise ValueError("'none' is not an acceptable JWT algorithm")
        return value

    # Workers (bgremover.worker) and the per-tenant parameter store they read through a cache.
    workers: int | None = Field(default=None, ge=0)  # embedded workers of `serve`; None: fit to the machine
    job_time_limit_s: float = Field(default=900.0, gt=0)  # per job; the watchdog kills at 1.5x
    job_max_attempts: int = Field(default=3, ge=1)
    # A worker's claim on a job, renewed every third of it: with the reaper's interval and the first
    # backoff, a vanished machine's job is retried within lease + interval + backoff = 25 s.
    lease_s: float = Field(default=15.0, gt=0)
    # A job of more images is split into chunks of this many that any worker may claim, each under its
    # own lease (bgremover.pipeline.chunks); 0: every job runs whole on the worker that claims it.
    job_chunk_images: int = Field(default=50, ge=0)
    # Distributed mode's safety nets (bgremover.resilience): recycling, the reaper, retries with backoff.
    worker_max_jobs: int | None = Field(default=None, ge=1)  # a worker process is replaced after N jobs
    worker_memory_ceiling_mb: int | None = Field(default=None, ge=64)  # ... or above this RSS
    reaper_interval_s: float = Field(default=5.0, gt=0)  # how often each worker node runs the reaper
    retry_backoff_s: float = Field(default=5.0, ge=0)  # after a lost attempt, doubled per attempt
    queued_grace_s: float = Field(default=120.0, gt=0)  # a job queued longer lost its queue message
    shutdown_grace_s: float = Field(default=30.0, ge=0)  # SIGTERM: finish in-flight jobs within this
    param_store_url: str = "file://./var/params"
    config_max_age_s: float = Field(default=300.0, ge=0)
    s3_endpoint_url: str | None = None
    s3_presign_seconds: int = Field(default=0, ge=0)  # >0: image downloads redirect to presigned S3 URLs
    # Signed webhooks (bgremover.webhooks), sent by every worker process from the ledger's outbox. Where
    # a tenant's webhook points is per-tenant configuration (parameter store), never a request field.
    public_base_url: str = "http://127.0.0.1:8000"  # how clients reach the API: the statusUrl sent
    webhook_poll_s: float = Field(default=2.0, gt=0)  # how often each worker looks for due deliveries
    webhook_max_attempts: int = Field(default=8, ge=1)  # then the delivery is marked failed
    webhook_backoff_s: float = Field(default=30.0, ge=0)  # n-th retry after 1/2..1 x this x 2^(n-1)
    webhook_backoff_max_s: float = Field(default=3600.0, ge=0)
    webhook_connect_timeout_s: float = Field(default=5.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)  # read and write timeouts of one POST
    webhook_retention_days: float = Field(default=30.0, gt=0)  # then ended deliveries are deleted
    # Job event streams (GET /v1/jobs/{id}/events): each API process reads every followed job once per
    # this, however many streams follow it (bgremover.api.job_watch).
    events_poll_s: float = Field(default=1.0, gt=0)

    def limits_for(self, tenant: str) -> TenantLimits:
        """The limits that apply to ``tenant``: its overrides where it has them, else the defaults."""
        defaults = TenantLimits(
            rate_limit=self.rate_limit,
            read_rate_limit=self.read_rate_limit,
            max_active_jobs=self.max_active_jobs,
            monthly_image_quota=self.monthly_image_quota,
        )
        override = self.tenant_limits.get(tenant)
        if override is None:
            return defaults
        return defaults.model_copy(
            update={name: getattr(override, name) for name in override.model_fields_set}
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("BGR_CONFIG_FILE", DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
