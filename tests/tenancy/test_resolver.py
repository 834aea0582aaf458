"""Tenant resolution: embedded default, API keys, verified JWTs, trusted header and Host."""

from __future__ import annotations

import time

import jwt
import pytest

from bgremover.settings import Settings
from bgremover.tenancy import DEFAULT_TENANT, TenantResolutionError, TenantResolver


def resolver(**fields) -> TenantResolver:
    return TenantResolver(Settings(**fields))


def token(private_pem: bytes, kid: str = "k1", **claims) -> str:
    body = {"tenant_id": "acme", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, private_pem, algorithm="RS256", headers={"kid": kid})


def rejected(res: TenantResolver, headers: dict, host: str | None = None) -> TenantResolutionError:
    with pytest.raises(TenantResolutionError) as info:
        res.resolve(headers, host)
    return info.value


class TestAuthOff:
    def test_default_tenant_without_header(self):
        assert resolver().resolve({}) == DEFAULT_TENANT

    def test_header_names_the_tenant(self):
        assert resolver().resolve({"x-tenant-id": "Acme-2"}) == "acme-2"

    def test_malformed_tenant_is_400(self):
        for bad in ("../etc", "a/b", "x" * 64, "-lead"):
            assert rejected(resolver(), {"x-tenant-id": bad}).status == 400

    def test_credentials_are_not_required(self):
        assert resolver().resolve({"x-api-key": "anything"}) == DEFAULT_TENANT


class TestApiKeys:
    def test_known_key_gives_its_tenant(self):
        res = resolver(auth_mode="on", api_keys={"acme": "key-a", "globex": "key-g"})
        assert res.resolve({"x-api-key": "key-g"}) == "globex"
        assert res.resolve({"x-api-key": "key-a"}) == "acme"

    def test_unknown_or_prefix_key_is_401(self):
        res = resolver(auth_mode="on", api_keys={"acme": "key-a"})
        assert rejected(res, {"x-api-key": "key-"}).status == 401
        assert rejected(res, {"x-api-key": "key-ab"}).status == 401

    def test_bad_key_does_not_fall_through_to_trusted_header(self):
        res = resolver(auth_mode="on", api_keys={"acme": "key-a"}, trust_tenant_header=True)
        assert rejected(res, {"x-api-key": "nope", "x-tenant-id": "acme"}).status == 401

    def test_nothing_presented_is_401(self):
        assert rejected(resolver(auth_mode="on", api_keys={"acme": "k"}), {}).status == 401


class TestJwt:
    def settings(self, public_pem: str, **more) -> dict:
        return {"auth_mode": "on", "jwt_keys": {"k1": public_pem}, **more}

    def test_valid_token_gives_its_tenant_claim(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(**self.settings(public_pem))
        assert res.resolve({"authorization": f"Bearer {token(private_pem)}"}) == "acme"

    def test_expired_tampered_or_unknown_kid_tokens_are_401(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(**self.settings(public_pem))
        expired = token(private_pem, exp=int(time.time()) - 120)  # beyond the 30 s leeway
        tampered = token(private_pem)[:-4] + "AAAA"
        unknown = token(private_pem, kid="other")
        for bad in (expired, tampered, unknown, "not-a-jwt"):
            assert rejected(res, {"authorization": f"Bearer {bad}"}).status == 401

    def test_hmac_token_signed_with_the_public_key_is_refused(self, rsa_keys):
        """Algorithm confusion: HS256 with the RSA public key as secret must not verify."""
        _, public_pem = rsa_keys
        res = resolver(**self.settings(public_pem, jwt_algorithms=["RS256", "HS256"]))
        forged = jwt.encode(
            {"tenant_id": "acme", "exp": int(time.time()) + 60},
            "x" * 32,
            algorithm="HS256",
            headers={"kid": "k1"},
        )
        assert rejected(res, {"authorization": f"Bearer {forged}"}).status == 401

    def test_audience_and_issuer_are_checked_when_configured(self, rsa_keys):
        private_pem, public_pem = rsa_keys
        res = resolver(**self.settings(public_pem, jwt_audience="bgr", jwt_issuer="idp"))
        good = token(private_pem, aud="bgr", iss="idp")
        assert res.resolve({"authorization": f"Bearer {good}"}) == "acme"
        wrong = token(private_pem, aud="other", iss="idp")
        assert rejected(res, {"authorization": f"Bearer {wrong}"}).status == 401


class TestTrusted:
    def test_header_only_when_trusted(self):
        assert resolver(auth_mode="on", trust_tenant_header=True).resolve({"x-tenant-id": "t1"}) == "t1"
        assert rejected(resolver(auth_mode="on"), {"x-tenant-id": "t1"}).status == 401

    def test_host_subdomain_with_configured_suffix(self):
        res = resolver(auth_mode="on", tenant_host_suffix="api.example.com")
        assert res.resolve({}, "acme.api.example.com:8443") == "acme"
        assert rejected(res, {}, "api.example.com").status == 401
        assert rejected(res, {}, "evil.com").status == 401
