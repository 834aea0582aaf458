"""Tenant resolution from headers and Host alone.

With auth on, credentials are tried in this order: ``X-API-Key``, ``Authorization: Bearer`` (a
verified JWT), then, only where the deployment says it trusts them, ``X-Tenant-ID`` and the Host's
subdomain. Presented credentials that fail are refused (401) rather than passed over, so a bad key
never silently falls through to a weaker method. With auth off (the embedded default) the tenant is
``X-Tenant-ID`` when present, else ``default``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgremover.settings import Settings
from bgremover.tenancy.api_keys import ApiKeyVerifier
from bgremover.tenancy.errors import TenantResolutionError
from bgremover.tenancy.ids import checked_tenant_id
from bgremover.tenancy.tokens import JwtVerifier

DEFAULT_TENANT = "default"
TENANT_HEADER = "x-tenant-id"
API_KEY_HEADER = "x-api-key"


class TenantResolver:
    def __init__(self, settings: Settings) -> None:
        self._auth_on = settings.auth_mode == "on"
        self._api_keys = ApiKeyVerifier({t: k.get_secret_value() for t, k in settings.api_keys.items()})
        self._jwt = JwtVerifier(
            {kid: k.get_secret_value() for kid, k in settings.jwt_keys.items()},
            settings.jwt_algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            tenant_claim=settings.jwt_tenant_claim,
        )
        self._trust_header = settings.trust_tenant_header
        suffix = settings.tenant_host_suffix
        self._host_suffix = f".{suffix.strip('.').lower()}" if suffix else None

    def resolve(self, headers: Mapping[str, str], host: str | None = None) -> str:
        """The tenant id of a request; raises ``TenantResolutionError``. ``headers`` keys are
        looked up in lower case (Starlette's ``Headers`` is case-insensitive already)."""
        if not self._auth_on:
            header = headers.get(TENANT_HEADER)
            return checked_tenant_id(header, "X-Tenant-ID") if header else DEFAULT_TENANT
        tenant = self._from_credentials(headers) or self._from_trusted(headers, host)
        if tenant is None:
            raise TenantResolutionError(401, "authentication required: send X-API-Key or a Bearer token")
        return tenant

    def _from_credentials(self, headers: Mapping[str, str]) -> str | None:
        api_key = headers.get(API_KEY_HEADER)
        if api_key is not None:
            tenant = self._api_keys.tenant_for(api_key) if self._api_keys else None
            if tenant is None:
                raise TenantResolutionError(401, "invalid API key")
            return checked_tenant_id(tenant, "API key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            tenant = self._jwt.tenant_for(token.strip()) if self._jwt else None
            if tenant is None:
                raise TenantResolutionError(401, "invalid or expired bearer token")
            return checked_tenant_id(tenant, "token")
        return None

    def _from_trusted(self, headers: Mapping[str, str], host: str | None) -> str | None:
        header = headers.get(TENANT_HEADER)
        if self._trust_header and header:
            return checked_tenant_id(header, "X-Tenant-ID")
        if self._host_suffix and host:
            hostname = host.split(":", 1)[0].lower()
            if hostname.endswith(self._host_suffix):
                return checked_tenant_id(hostname[: -len(self._host_suffix)], "Host")
        return None
