"""Stored API keys end to end: created by the CLI, accepted by the running API, refused within the
refresh interval of their revocation; and credentials never combined with another tenant's header or Host."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.support import assert_problem, images_part, png_bytes
from bgremover.api import create_app
from bgremover.cli import app as cli
from bgremover.settings import Settings, get_settings
from bgremover.wiring import Services

runner = CliRunner()
STATIC = {"globex": "globex-static-key-from-settings"}


@pytest.fixture
def keys_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """``bg-remover keys ...`` on the test's ledger database; returns its stdout, asserts its exit code."""
    monkeypatch.setenv("BGR_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()

    def run(*args: str, exit_code: int = 0) -> str:
        result = runner.invoke(cli, ["keys", *args], terminal_width=200)
        assert result.exit_code == exit_code, result.output
        return result.stdout

    yield run
    get_settings.cache_clear()


@pytest.fixture
def running_api(services: Services, settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """The API with its lifespan entered (stored keys loaded, refreshers running), stopped after."""
    clients: list[TestClient] = []

    def start(**overrides: object) -> TestClient:
        fields = {"auth_mode": "on", "api_key_refresh_s": 0.1, **overrides}
        client = TestClient(create_app(services, Settings(**{**settings.model_dump(), **fields})))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def status_of(client: TestClient, headers: dict[str, str], job_id: str = "0123456789abcdef") -> int:
    return client.get(f"/v1/jobs/{job_id}", headers=headers).status_code


def test_cli_key_works_until_revoked_then_is_refused_within_the_refresh_interval(keys_cli, running_api):
    key = keys_cli("create", "--tenant", "acme", "--label", "shop-sync").strip()
    assert key.startswith("bgr_")
    client = running_api(api_keys=STATIC)
    submitted = client.post("/v1/group-images", files=images_part(png_bytes()), headers={"X-API-Key": key})
    assert submitted.status_code == 202
    job_id = submitted.json()["jobId"]
    assert client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()["tenantId"] == "acme"
    assert status_of(client, {"X-API-Key": STATIC["globex"]}, job_id) == 404  # static keys still work

    listed = keys_cli("list", "--tenant", "acme")
    key_id, secret = key.removeprefix("bgr_").split("_", 1)
    assert key_id in listed and "shop-sync" in listed and secret not in listed
    keys_cli("revoke", key_id)
    revoked_at = time.monotonic()
    while status_of(client, {"X-API-Key": key}, job_id) != 401:
        assert time.monotonic() - revoked_at < 2.0, "a revoked key still worked after 20 refresh intervals"
        time.sleep(0.02)
    assert_problem(client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}), 401, "unauthorized")
    assert key_id in keys_cli("list")  # kept, marked revoked


def test_cli_refuses_bad_input_and_unknown_ids(keys_cli):
    keys_cli("create", "--tenant", "../etc", exit_code=2)
    keys_cli("list", "--tenant", "../etc", exit_code=2)
    keys_cli("revoke", "no-such-key", exit_code=1)


def test_a_key_created_while_the_api_runs_is_accepted_after_a_refresh(keys_cli, running_api):
    client = running_api()
    key = keys_cli("create", "--tenant", "initech").strip()
    deadline = time.monotonic() + 2.0
    while status_of(client, {"X-API-Key": key}) != 404:  # 404: authenticated, no such job
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_forged_keys_in_the_stored_format_are_refused(keys_cli, running_api):
    key = keys_cli("create", "--tenant", "acme").strip()
    client = running_api()
    key_id, secret = key.removeprefix("bgr_").split("_", 1)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for forged in (f"bgr_{key_id}_{flipped}", f"bgr_{'0' * 16}_{secret}", f"bgr_{key_id}_", key_id, secret):
        assert_problem(client.get("/v1/jobs/x", headers={"X-API-Key": forged}), 401, "unauthorized")


class TestCredentialAndAnotherTenant:
    """A credential for tenant A with ``X-Tenant-ID: B`` (or Host ``b.<suffix>``) is 403, whether or not
    the deployment trusts the header: the caller asked to act for a tenant its credential does not grant."""

    @pytest.mark.parametrize("trusted", [False, True])
    def test_key_with_another_tenants_header_is_403(self, keys_cli, running_api, trusted):
        key = keys_cli("create", "--tenant", "acme").strip()
        client = running_api(trust_tenant_header=trusted)
        response = client.get("/v1/jobs/x", headers={"X-API-Key": key, "X-Tenant-ID": "globex"})
        assert_problem(response, 403, "tenant-mismatch")
        assert status_of(client, {"X-API-Key": key, "X-Tenant-ID": "Acme"}) == 404  # same tenant: fine
        nothing = client.post(
            "/v1/group-images", files=images_part(png_bytes()), headers={"X-API-Key": key, "X-Tenant-ID": "b"}
        )
        assert_problem(nothing, 403, "tenant-mismatch")

    def test_token_with_another_tenants_host_is_403(self, running_api):
        private = ec.generate_private_key(ec.SECP256R1())
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        client = running_api(jwt_keys={"k": public_pem.decode()}, tenant_host_suffix="api.example.com")
        token = jwt.encode(
            {"tenant_id": "acme", "exp": int(time.time()) + 60},
            private,
            algorithm="ES256",
            headers={"kid": "k"},
        )
        bearer = {"Authorization": f"Bearer {token}"}
        other = client.get("/v1/jobs/x", headers={**bearer, "Host": "globex.api.example.com"})
        assert_problem(other, 403, "tenant-mismatch")
        assert status_of(client, {**bearer, "Host": "acme.api.example.com"}) == 404
        assert status_of(client, {**bearer, "Host": "api.example.com"}) == 404  # no tenant in the Host

    def test_trusted_header_alone_only_when_configured(self, running_api):
        assert status_of(running_api(trust_tenant_header=True), {"X-Tenant-ID": "acme"}) == 404
        assert status_of(running_api(), {"X-Tenant-ID": "acme"}) == 401
