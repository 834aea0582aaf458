"""JWT verification: unsigned and algorithm-confused tokens, time claims with leeway, iss, aud, tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bgremover.settings import Settings
from bgremover.tenancy import TenantResolutionError, TenantResolver

HS_SECRET = "a-shared-secret-of-at-least-32-bytes!"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(header: dict, claims: dict, sign: bytes | None = None) -> str:
    """A token built without PyJWT; signed with HMAC-SHA256 under ``sign`` or left unsigned."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if sign is None else hmac.new(sign, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims(**more: object) -> dict:
    return {"tenant_id": "acme", "exp": int(time.time()) + 300, **more}


def resolver(**fields: object) -> TenantResolver:
    return TenantResolver(Settings(auth_mode="on", **fields))  # type: ignore[arg-type]


def rs256(private_pem: bytes, kid: str = "k1", **more: object) -> str:
    return jwt.encode(claims(**more), private_pem, algorithm="RS256", headers={"kid": kid})


def refused(res: TenantResolver, token: str, status: int = 401) -> str:
    with pytest.raises(TenantResolutionError) as info:
        res.resolve({"authorization": f"Bearer {token}"})
    assert info.value.status == status, info.value.detail
    return info.value.detail


def accepted(res: TenantResolver, token: str) -> str:
    return res.resolve({"authorization": f"Bearer {token}"})


class TestAlgorithms:
    def test_unsigned_alg_none_token_is_refused(self, rsa_keys):
        _, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem})
        for alg in ("none", "None", "NONE"):
            token = hand_built({"alg": alg, "typ": "JWT", "kid": "k1"}, claims())
            assert "algorithm not accepted" in refused(res, token)

    def test_none_cannot_even_be_configured(self):
        with pytest.raises(ValueError, match="none"):
            Settings(jwt_algorithms=["RS256", "none"])

    def test_hs256_signed_with_the_rs256_public_pem_is_refused(self, rsa_keys):
        """Algorithm confusion: HS256 is allowed, but never with a key that is an RSA public key."""
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_algorithms=["RS256", "HS256"])
        forged = hand_built({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims(), sign=public_pem.encode())
        assert "algorithm not accepted for this key" in refused(res, forged)
        kidless = hand_built({"alg": "HS256", "typ": "JWT"}, claims(), sign=public_pem.encode())
        assert "algorithm not accepted" in refused(res, kidless)
        assert accepted(res, rs256(private_pem)) == "acme"  # the key still works for its own algorithm

    def test_hs256_with_a_configured_secret_works_and_a_wrong_secret_does_not(self):
        res = resolver(jwt_keys={"shared": HS_SECRET}, jwt_algorithms=["HS256"])
        good = jwt.encode(claims(), HS_SECRET, algorithm="HS256", headers={"kid": "shared"})
        assert accepted(res, good) == "acme"
        bad = hand_built(
            {"alg": "HS256", "kid": "shared"}, claims(), sign=b"another-secret-of-32-bytes-length!!"
        )
        assert "signature" in refused(res, bad)

    def test_short_hmac_secret_is_a_configuration_error(self):
        with pytest.raises(ValueError, match="usable with none"):
            resolver(jwt_keys={"shared": "short"}, jwt_algorithms=["HS256"])

    def test_es256_key_does_not_verify_rs256_tokens(self, rsa_keys):
        private_pem, _ = rsa_keys
        ec_public = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        res = resolver(jwt_keys={"k1": ec_public}, jwt_algorithms=["RS256", "ES256"])
        assert "algorithm not accepted for this key" in refused(res, rs256(private_pem))

    def test_algorithm_outside_the_allow_list_is_refused(self):
        res = resolver(jwt_keys={"shared": HS_SECRET}, jwt_algorithms=["HS256"])
        token = jwt.encode(claims(), HS_SECRET * 2, algorithm="HS512", headers={"kid": "shared"})
        assert "algorithm not accepted" in refused(res, token)


class TestTimeClaims:
    def test_exp_is_required(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem})
        token = jwt.encode({"tenant_id": "acme"}, private_pem, algorithm="RS256", headers={"kid": "k1"})
        assert "missing claim 'exp'" in refused(res, token)

    @pytest.mark.parametrize(
        ("claim", "within", "beyond", "reason"),
        [
            ("exp", -10, -60, "expired"),  # expired 10 s ago: accepted; 60 s ago: refused
            ("nbf", 10, 120, "not yet valid"),
            ("iat", 10, 120, "not yet valid"),  # issued in the future
        ],
    )
    def test_time_claim_within_the_leeway_is_accepted_beyond_it_refused(
        self, rsa_keys, claim, within, beyond, reason
    ):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_leeway_s=30)
        now = int(time.time())
        assert accepted(res, rs256(private_pem, **{claim: now + within})) == "acme"
        assert reason in refused(res, rs256(private_pem, **{claim: now + beyond}))

    def test_zero_leeway_is_strict(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_leeway_s=0)
        assert "expired" in refused(res, rs256(private_pem, exp=int(time.time()) - 2))


class TestIssuerAudienceTenant:
    def test_wrong_or_missing_issuer_is_refused(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_issuer="https://idp.example")
        assert accepted(res, rs256(private_pem, iss="https://idp.example")) == "acme"
        assert "issuer" in refused(res, rs256(private_pem, iss="https://evil.example"))
        assert "missing claim 'iss'" in refused(res, rs256(private_pem))

    def test_wrong_or_missing_audience_is_refused(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_audience="bg-remover")
        assert accepted(res, rs256(private_pem, aud=["other", "bg-remover"])) == "acme"
        assert "audience" in refused(res, rs256(private_pem, aud="another-service"))
        assert "missing claim 'aud'" in refused(res, rs256(private_pem))

    def test_missing_or_non_string_tenant_claim_is_401(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem})
        no_tenant = jwt.encode(
            {"exp": int(time.time()) + 60}, private_pem, algorithm="RS256", headers={"kid": "k1"}
        )
        assert "missing claim 'tenant_id'" in refused(res, no_tenant)
        assert "missing claim 'tenant_id'" in refused(res, rs256(private_pem, tenant_id=["acme"]))

    def test_configured_tenant_claim_is_used(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem}, jwt_tenant_claim="org")
        assert accepted(res, rs256(private_pem, org="globex")) == "globex"

    def test_invalid_tenant_id_in_the_claim_is_400_as_for_every_source(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem})
        detail = refused(res, rs256(private_pem, tenant_id="../etc"), status=400)
        assert "invalid tenant id from token" in detail

    def test_tampered_signature_and_garbage_are_refused(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(jwt_keys={"k1": public_pem})
        good = rs256(private_pem)
        header, payload, signature = good.split(".")
        other_claims = b64url(json.dumps(claims(tenant_id="globex")).encode())
        assert "signature" in refused(res, f"{header}.{other_claims}.{signature}")
        for garbage in ("not-a-jwt", "a.b.c", "...", f"{header}.{payload}"):
            assert refused(res, garbage)

    def test_bearer_token_without_any_configured_key_is_401(self, rsa_keys):
        private_pem, _ = rsa_keys
        assert "not accepted by this deployment" in refused(resolver(), rs256(private_pem))
