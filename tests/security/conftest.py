"""The security tests drive the same in-process app on the same real embedded backends as tests/api."""

from __future__ import annotations

from api.conftest import client, make_client, restore_logging, services, settings

__all__ = ["client", "make_client", "restore_logging", "services", "settings"]
