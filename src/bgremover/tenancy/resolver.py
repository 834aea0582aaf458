"""Tenant resolution from headers and Host alone: no database, no network on the request path.

With auth on, credentials are tried in this order: ``X-API-Key`` (a stored ``bgr_`` key, then the
static ``BGR_API_KEYS``), ``Authorization: Bearer`` (a verified JWT), then, only where the deployment
says it trusts them, ``X-Tenant-ID`` and the Host's subdomain. Presented credentials that fail are
refused (401) rather than passed over, so a bad key never silently falls through to a weaker method.
A valid credential sent together with an ``X-Tenant-ID`` (trusted or not) or a tenant Host subdomain
naming another tenant is refused with 403: the caller asked to act for a tenant its credential does
not grant, and answering as the credential's tenant would act for one it did not name.
With auth off (the embedded default) the tenant is ``X-Tenant-ID`` when present, else ``default``.

Stored API keys and the JWKS are held in memory; ``start`` loads them and starts their background
refreshers (the API's lifespan calls it), ``stop`` ends them.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgremover.ledger.base import ApiKeyStore, JobLedger
from bgremover.ledger.factory import key_store_from_url
from bgremover.settings import Settings
from bgremover.tenancy.api_keys import ApiKeyVerifier
from bgremover.tenancy.errors import TenantResolutionError
from bgremover.tenancy.ids import checked_tenant_id
from bgremover.tenancy.jwks import JwksKeySet, JwksSource
from bgremover.tenancy.refresher import BackgroundRefresher
from bgremover.tenancy.stored_keys import StoredKeySnapshot
from bgremover.tenancy.tokens import JwtVerifier

DEFAULT_TENANT = "default"
TENANT_HEADER = "x-tenant-id"
API_KEY_HEADER = "x-api-key"


class TenantResolver:
    def __init__(self, settings: Settings, *, key_store: ApiKeyStore | None = None) -> None:
        self._auth_on = settings.auth_mode == "on"
        self._api_keys = ApiKeyVerifier({t: k.get_secret_value() for t, k in settings.api_keys.items()})
        self._refreshers: list[BackgroundRefresher] = []
        self._stored = StoredKeySnapshot(key_store) if key_store is not None else None
        if self._stored is not None:
            self._refreshers.append(
                BackgroundRefresher("api-keys", self._stored.refresh, interval_s=settings.api_key_refresh_s)
            )
        jwks, jwks_refresher = self._jwks(settings)
        self._jwt = JwtVerifier(
            {kid: k.get_secret_value() for kid, k in settings.jwt_keys.items()},
            settings.jwt_algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            tenant_claim=settings.jwt_tenant_claim,
            leeway_s=settings.jwt_leeway_s,
            jwks=jwks,
            on_unknown_kid=jwks_refresher.request if jwks_refresher else None,
        )
        self._trust_header = settings.trust_tenant_header
        suffix = settings.tenant_host_suffix
        self._host_suffix = f".{suffix.strip('.').lower()}" if suffix else None

    @classmethod
    def from_settings(cls, settings: Settings, *, ledger: JobLedger | None = None) -> TenantResolver:
        """The service's resolver: with auth on, stored keys come from ``BGR_DATABASE_URL``, read
        through ``ledger_engine`` (the ledger's own, on that database) when given, else a new one."""
        if settings.auth_mode != "on":
            return cls(settings)
        if ledger is not None:
            return cls(settings, key_store=ledger.key_store())
        return cls(settings, key_store=key_store_from_url(settings.database_url))

    def _jwks(self, settings: Settings) -> tuple[JwksKeySet | None, BackgroundRefresher | None]:
        if not settings.jwks_url:
            return None, None
        source = JwksSource(
            settings.jwks_url, timeout_s=settings.jwks_timeout_s, max_bytes=settings.jwks_max_bytes
        )
        key_set = JwksKeySet(source, settings.jwt_algorithms)
        refresher = BackgroundRefresher(
            "jwks",
            key_set.refresh,
            interval_s=settings.jwks_refresh_s,
            min_interval_s=settings.jwks_min_refresh_interval_s,
        )
        self._refreshers.append(refresher)
        return key_set, refresher

    def start(self) -> None:
        """Load stored keys and the JWKS now (raising if they cannot be read), then refresh them in the
        background. Only needed with auth on; without it there is nothing to load."""
        if not self._auth_on:
            return
        for refresher in self._refreshers:
            refresher.start()

    def stop(self) -> None:
        for refresher in self._refreshers:
            refresher.stop()
        if self._stored is not None:
            self._stored.close()

    def resolve(self, headers: Mapping[str, str], host: str | None = None) -> str:
        """The tenant id of a request; raises ``TenantResolutionError``. ``headers`` keys are
        looked up in lower case (Starlette's ``Headers`` is case-insensitive already)."""
        if not self._auth_on:
            header = headers.get(TENANT_HEADER)
            return checked_tenant_id(header, "X-Tenant-ID") if header else DEFAULT_TENANT
        tenant = self._from_credentials(headers)
        if tenant is not None:
            self._refuse_another_tenant(tenant, headers, host)
            return tenant
        tenant = self._from_trusted(headers, host)
        if tenant is None:
            raise TenantResolutionError(401, "authentication required: send X-API-Key or a Bearer token")
        return tenant

    def _from_credentials(self, headers: Mapping[str, str]) -> str | None:
        api_key = headers.get(API_KEY_HEADER)
        if api_key is not None:
            tenant = self._tenant_of_key(api_key.strip())
            if tenant is None:
                raise TenantResolutionError(401, "invalid API key")
            return checked_tenant_id(tenant, "API key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            if not self._jwt:
                raise TenantResolutionError(401, "bearer tokens are not accepted by this deployment")
            return checked_tenant_id(self._jwt.tenant_for(token.strip()), "token")
        return None

    def _tenant_of_key(self, presented: str) -> str | None:
        stored = self._stored.tenant_for(presented) if self._stored is not None else None
        static = self._api_keys.tenant_for(presented) if self._api_keys else None
        return stored or static

    def _host_tenant(self, host: str | None) -> str | None:
        if not (self._host_suffix and host):
            return None
        hostname = host.split(":", 1)[0].lower()
        return hostname[: -len(self._host_suffix)] if hostname.endswith(self._host_suffix) else None

    def _refuse_another_tenant(self, tenant: str, headers: Mapping[str, str], host: str | None) -> None:
        header = headers.get(TENANT_HEADER)
        if header is not None and header.strip().lower() != tenant:
            raise TenantResolutionError(403, "X-Tenant-ID names another tenant than the credential")
        from_host = self._host_tenant(host)
        if from_host is not None and from_host != tenant:
            raise TenantResolutionError(403, "the Host names another tenant than the credential")

    def _from_trusted(self, headers: Mapping[str, str], host: str | None) -> str | None:
        header = headers.get(TENANT_HEADER)
        if self._trust_header and header:
            return checked_tenant_id(header, "X-Tenant-ID")
        from_host = self._host_tenant(host)
        return checked_tenant_id(from_host, "Host") if from_host is not None else None
