"""Per-tenant configuration: a hierarchical parameter store, read by workers only, through a cache."""

from bgremover.params.base import (
    ParameterNotFoundError,
    ParameterStore,
    ParameterStoreError,
    config_key,
)
from bgremover.params.cache import TenantConfigCache
from bgremover.params.config import TenantConfig

__all__ = [
    "ParameterNotFoundError",
    "ParameterStore",
    "ParameterStoreError",
    "TenantConfig",
    "TenantConfigCache",
    "config_key",
]
