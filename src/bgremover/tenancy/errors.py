"""The one error tenant resolution raises; the API turns it into a problem response."""

from __future__ import annotations


class TenantResolutionError(Exception):
    """No acceptable tenant: ``status`` 401 for missing or bad credentials, 400 for a malformed id."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
