"""Keys that may verify a JWT, each bound to the algorithms it is allowed to verify with.

Binding the algorithm to the key, not to the token, is what defeats algorithm confusion: an RSA public
key is never offered to HMAC (a token "signed" with the public PEM as an HS256 secret), and a JWK
verifies only with its own ``alg`` (or, without one, the single algorithm its ``kty``/``crv`` implies,
as PyJWT derives it). ``none`` is never in any key's set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import InvalidKeyError, PyJWKError


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    by_algorithm: Mapping[str, Any]  # algorithm name -> the key prepared for it

    def accepts(self, algorithm: str) -> bool:
        return algorithm in self.by_algorithm


MIN_HMAC_SECRET_BYTES = 32  # RFC 7518 3.2: an HMAC key at least as long as the hash output


def static_key(kid: str, material: str, allowed: Iterable[str]) -> VerificationKey:
    """A key from ``BGR_JWT_KEYS`` (a PEM public key or an HMAC secret), prepared for each allowed
    algorithm that PyJWT accepts it for: PyJWT refuses PEM and SSH keys as HMAC secrets and secrets
    as RSA/EC keys, so a PEM gets only asymmetric algorithms of its own type. A secret shorter than
    32 bytes is never an HMAC key. Raises ``ValueError`` for a key no allowed algorithm can use, so
    a misconfiguration stops the service at start rather than refusing every token."""
    prepared: dict[str, Any] = {}
    for name in allowed:
        if name.startswith("HS") and len(material.encode()) < MIN_HMAC_SECRET_BYTES:
            continue
        try:
            prepared[name] = jwt.get_algorithm_by_name(name).prepare_key(material)
        except (InvalidKeyError, NotImplementedError, ValueError, TypeError):
            continue
    if not prepared:
        raise ValueError(f"JWT key {kid!r} is usable with none of the allowed algorithms {list(allowed)}")
    return VerificationKey(kid, prepared)


def static_keys(keys: Mapping[str, str], allowed: Iterable[str]) -> dict[str, VerificationKey]:
    allowed = list(allowed)
    return {kid: static_key(kid, material, allowed) for kid, material in keys.items()}


def jwk_key(jwk: jwt.PyJWK, allowed: Iterable[str]) -> VerificationKey | None:
    """A JWK from a key set, bound to its one algorithm if that is allowed; encryption keys skipped."""
    if (jwk.public_key_use or "sig") != "sig" or jwk.algorithm_name not in set(allowed):
        return None
    return VerificationKey(jwk.key_id, {jwk.algorithm_name: jwk.key})


def parse_jwks(document: bytes, allowed: Iterable[str]) -> dict[str | None, list[VerificationKey]]:
    """A JWKS document as keys grouped by ``kid``; raises ``ValueError`` when no key is usable."""
    try:
        key_set = jwt.PyJWKSet.from_json(document.decode())
    except (PyJWKError, ValueError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a usable JWK set: {exc}") from exc
    allowed = list(allowed)
    grouped: dict[str | None, list[VerificationKey]] = {}
    for jwk in key_set.keys:
        key = jwk_key(jwk, allowed)
        if key is not None:
            grouped.setdefault(key.kid, []).append(key)
    if not grouped:
        raise ValueError(f"the JWK set has no signing key for the allowed algorithms {allowed}")
    return grouped
