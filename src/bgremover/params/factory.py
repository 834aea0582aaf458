"""Turns ``BGR_PARAM_STORE_URL`` into a parameter store: ``file://PATH`` (default) or ``ssm://``."""

from __future__ import annotations

from bgremover.params.base import ParameterStore
from bgremover.params.local import LocalParameterStore


def parameter_store_from_url(url: str, *, max_age_s: float) -> ParameterStore:
    """``max_age_s`` (``BGR_CONFIG_MAX_AGE_S``) is the SSM provider's cache age; a file tree is read as is."""
    if url.startswith("ssm://"):
        from bgremover.params.ssm import SsmParameterStore  # boto3 and Powertools only where SSM is used

        return SsmParameterStore.from_url(url, max_age_s=max_age_s)
    return LocalParameterStore.from_url(url)
