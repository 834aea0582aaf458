"""Tenant ids become the first segment of every blob key and a label in logs, so only a safe,
bounded alphabet is accepted; anything else is refused rather than escaped."""

from __future__ import annotations

import re

from bgremover.tenancy.errors import TenantResolutionError

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def checked_tenant_id(value: str, source: str) -> str:
    tenant = value.strip().lower()
    if not _TENANT_ID.fullmatch(tenant):
        raise TenantResolutionError(
            400,
            f"invalid tenant id from {source}: use 1-63 characters a-z, 0-9, '-' or '_', "
            "starting with a letter or digit",
        )
    return tenant
