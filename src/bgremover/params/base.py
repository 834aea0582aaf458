"""The parameter-store port: hierarchical keys to JSON values, like AWS SSM Parameter Store.

A tenant's configuration lives under ``/tf/{stage}/{tenant}/services/bg-remover/config`` as JSON, which
the store parses (on SSM, Powertools' JSON transform does). A store may be slow (the original design
spent 5-10 s per call) or down, which is why only workers read it, and only through
``TenantConfigCache``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

SERVICE = "bg-remover"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ParameterNotFoundError(KeyError):
    """No parameter under that key (the tenant has no configuration: defaults apply)."""


class ParameterStoreError(Exception):
    """The store could not answer (unreachable, timed out, unreadable)."""


class InvalidParameterError(ValueError):
    """The parameter is there but is not JSON: the operator's mistake, reported, never a default."""


def config_key(stage: str, tenant: str) -> str:
    for name, value in (("stage", stage), ("tenant", tenant)):
        if not _SEGMENT.match(value) or value in {".", ".."}:
            raise ValueError(f"invalid {name} for a parameter key: {value!r}")
    return f"/tf/{stage}/{tenant}/services/{SERVICE}/config"


def tenant_of(key: str, stage: str) -> str | None:
    """The tenant a configuration key belongs to, or None for another kind of key."""
    parts = key.split("/")
    if len(parts) == 7 and parts[:3] == ["", "tf", stage] and parts[4:] == ["services", SERVICE, "config"]:
        return parts[3]
    return None


class ParameterStore(Protocol):
    def get(self, key: str) -> Any:
        """The value, parsed from JSON; ``ParameterNotFoundError`` when absent, ``InvalidParameterError``
        when not JSON, ``ParameterStoreError`` when the store fails."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (used to warm the cache with every configured tenant)."""
        ...
