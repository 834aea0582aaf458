"""Bearer JWTs verified with PyJWT against keys held in memory: ``BGR_JWT_KEYS`` and the JWKS.

The token's header picks candidate keys (by ``kid``; every key for a token without one) and each
candidate verifies only with an algorithm bound to it (``jwt_keys``). ``exp`` is required; ``nbf`` and
``iat`` are checked when present; ``iss`` and ``aud`` when configured (and then required), all with
``BGR_JWT_LEEWAY_S`` of clock skew. An unknown ``kid`` asks the JWKS refresher for an early reload
(rate-limited, off this thread) and is answered at once. Failures raise ``TenantResolutionError``
(401) with a short reason: which check failed, never anything about the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jwt

from bgremover.tenancy.errors import TenantResolutionError
from bgremover.tenancy.jwks import JwksKeySet
from bgremover.tenancy.jwt_keys import VerificationKey, static_keys

_CLAIM_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid (nbf or iat in the future)"),
    (jwt.InvalidAudienceError, "token audience not accepted"),
    (jwt.InvalidIssuerError, "token issuer not accepted"),
)


def _refused(reason: str) -> TenantResolutionError:
    return TenantResolutionError(401, f"invalid bearer token: {reason}")


def _claim_failure(exc: jwt.PyJWTError) -> TenantResolutionError:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return _refused(f"missing claim '{exc.claim}'")
    for kind, reason in _CLAIM_ERRORS:
        if isinstance(exc, kind):
            return _refused(reason)
    return _refused("malformed claims")


class JwtVerifier:
    def __init__(
        self,
        keys: Mapping[str, str],
        algorithms: list[str],
        *,
        audience: str | None,
        issuer: str | None,
        tenant_claim: str,
        leeway_s: float = 30.0,
        jwks: JwksKeySet | None = None,
        on_unknown_kid: Callable[[], object] | None = None,
    ) -> None:
        self._static = static_keys(keys, algorithms)
        self._algorithms = set(algorithms)
        self._audience = audience
        self._issuer = issuer
        self._tenant_claim = tenant_claim
        self._leeway = leeway_s
        self._jwks = jwks
        self._on_unknown_kid = on_unknown_kid

    def __bool__(self) -> bool:
        return bool(self._static) or self._jwks is not None

    def tenant_for(self, token: str) -> str:
        """The tenant claim of a valid token; raises ``TenantResolutionError`` (401) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _refused("malformed token") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise _refused("algorithm not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _refused("malformed key id")
        known = self._candidates(kid)
        if not known:
            raise self._unknown_key(kid)
        candidates = [key for key in known if key.accepts(algorithm)]
        if not candidates:
            raise _refused("algorithm not accepted for this key")
        claims = self._verified_claims(token, algorithm, candidates)
        tenant = claims.get(self._tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise _refused(f"missing claim '{self._tenant_claim}'")
        return tenant

    def _candidates(self, kid: str | None) -> list[VerificationKey]:
        found = list(self._static.values()) if kid is None else [k for k in (self._static.get(kid),) if k]
        if self._jwks is not None:
            found += self._jwks.keys_for(kid)
        return found

    def _unknown_key(self, kid: str | None) -> TenantResolutionError:
        if kid is None:
            return _refused("no verification key configured")
        if self._on_unknown_kid is not None:
            self._on_unknown_kid()  # an early JWKS reload, rate-limited, on another thread
            return _refused("unknown key id; the key set is being refreshed, retry shortly")
        return _refused("unknown key id")

    def _verified_claims(
        self, token: str, algorithm: str, candidates: list[VerificationKey]
    ) -> dict[str, Any]:
        for key in candidates:
            try:
                return jwt.decode(
                    token,
                    key.by_algorithm[algorithm],
                    algorithms=[algorithm],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options={
                        "require": ["exp"] + (["iss"] if self._issuer else []),
                        "verify_aud": self._audience is not None,
                    },
                )
            except jwt.InvalidSignatureError:
                continue  # maybe another candidate's (a kid-less token, or a kid shared during rotation)
            except jwt.DecodeError as exc:
                raise _refused("malformed token") from exc
            except jwt.PyJWTError as exc:  # the signature was good: a claim failed
                raise _claim_failure(exc) from exc
        raise _refused("signature does not verify")
