"""A JSON Web Key Set from a file or an HTTPS URL, held in memory and reloaded off the request path.

``BGR_JWKS_URL`` is ``https://...``, ``file:///path`` or a bare path. Plain ``http://`` is accepted for
loopback hosts only: a key set read over plaintext lets anyone on the path mint tokens. Fetches use
httpx with a timeout, no redirects and a size cap; ``BackgroundRefresher`` calls ``refresh`` and keeps
the previous set when a fetch or parse fails.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bgremover.tenancy.jwt_keys import VerificationKey, parse_jwks

_LOOPBACK_NAMES = {"localhost"}


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksSource:
    """Reads the key set's bytes from where ``BGR_JWKS_URL`` points."""

    def __init__(self, url: str, *, timeout_s: float, max_bytes: int) -> None:
        parts = urlsplit(url)
        if parts.scheme in {"http", "https"}:
            if parts.scheme == "http" and not _loopback(parts.hostname):
                raise ValueError("BGR_JWKS_URL must be https:// (plain http only for a loopback host)")
            self._path: Path | None = None
        elif parts.scheme == "file":
            self._path = Path(unquote(parts.path))
        elif parts.scheme == "":
            self._path = Path(url)
        else:
            raise ValueError(
                f"unsupported BGR_JWKS_URL scheme {parts.scheme!r}: use https://, file:// or a path"
            )
        self.url = url
        self._timeout = httpx.Timeout(timeout_s)
        self._max_bytes = max_bytes

    def read(self) -> bytes:
        return self._read_file(self._path) if self._path is not None else self._fetch()

    def _read_file(self, path: Path) -> bytes:
        with path.open("rb") as handle:
            data = handle.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise ValueError(f"JWK set larger than {self._max_bytes} bytes")
        return data

    def _fetch(self) -> bytes:
        with (
            httpx.Client(timeout=self._timeout, follow_redirects=False) as client,
            client.stream("GET", self.url, headers={"Accept": "application/json"}) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ValueError(f"JWK set larger than {self._max_bytes} bytes")
        return bytes(body)


class JwksKeySet:
    """The current keys of a ``JwksSource``, grouped by ``kid``; swapped whole on each refresh."""

    def __init__(self, source: JwksSource, allowed: Iterable[str]) -> None:
        self.source = source
        self._allowed = list(allowed)
        self._by_kid: dict[str | None, list[VerificationKey]] = {}

    def refresh(self) -> None:
        self._by_kid = parse_jwks(self.source.read(), self._allowed)

    def keys_for(self, kid: str | None) -> list[VerificationKey]:
        """The keys a token with this ``kid`` may be checked against (all keys for a token without)."""
        snapshot = self._by_kid
        if kid is None:
            return [key for keys in snapshot.values() for key in keys]
        return list(snapshot.get(kid, ()))
