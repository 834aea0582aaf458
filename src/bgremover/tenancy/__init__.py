"""Which tenant a request belongs to, decided from the request alone: no database, no network."""

from bgremover.tenancy.errors import TenantResolutionError
from bgremover.tenancy.resolver import DEFAULT_TENANT, TenantResolver

__all__ = ["DEFAULT_TENANT", "TenantResolutionError", "TenantResolver"]
