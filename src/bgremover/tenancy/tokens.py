"""Bearer JWTs verified with PyJWT against keys from configuration, parsed once and kept in memory.

A token that names a key id (``kid``) is checked against that key only; one without is tried against
each configured key. Rotation from a JWKS endpoint and further hardening come later; nothing here
ever fetches a key during a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt


class JwtVerifier:
    def __init__(
        self,
        keys: Mapping[str, str],
        algorithms: list[str],
        *,
        audience: str | None,
        issuer: str | None,
        tenant_claim: str,
    ) -> None:
        self._raw_keys = dict(keys)
        self._algorithms = algorithms
        self._audience = audience
        self._issuer = issuer
        self._tenant_claim = tenant_claim
        self._prepared: dict[tuple[str, str], Any] = {}

    def __bool__(self) -> bool:
        return bool(self._raw_keys)

    def _key(self, kid: str, algorithm: str) -> Any:
        """The parsed key object for ``kid`` under ``algorithm``, parsed on first use only."""
        cache_key = (kid, algorithm)
        if cache_key not in self._prepared:
            algo = jwt.get_algorithm_by_name(algorithm)
            self._prepared[cache_key] = algo.prepare_key(self._raw_keys[kid])
        return self._prepared[cache_key]

    def tenant_for(self, token: str) -> str | None:
        """The tenant claim of a valid token, or ``None`` when no configured key verifies it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            return None
        kid = header.get("kid")
        kids = [kid] if kid in self._raw_keys else ([] if kid else list(self._raw_keys))
        for candidate in kids:
            claims = self._decode(token, candidate, algorithm)
            if claims is not None:
                tenant = claims.get(self._tenant_claim)
                return tenant if isinstance(tenant, str) else None
        return None

    def _decode(self, token: str, kid: str, algorithm: str) -> dict[str, Any] | None:
        try:
            key = self._key(kid, algorithm)
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
