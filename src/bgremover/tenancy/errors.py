"""The one error tenant resolution raises; the API turns it into a problem response."""

from __future__ import annotations

_SLUGS = {400: "invalid-tenant", 401: "unauthorized", 403: "tenant-mismatch"}


class TenantResolutionError(Exception):
    """No acceptable tenant: ``status`` 401 for missing or bad credentials, 400 for a malformed id,
    403 for a valid credential sent with a header or Host that names another tenant."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    @property
    def slug(self) -> str:
        """The problem type's last segment (``/problems/<slug>``)."""
        return _SLUGS.get(self.status, "unauthorized")
