"""Shared fixtures. Evaluation data lives beside the repository at ../shared/data and is never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from log_capture import route_logs_to_pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

pytest_plugins = ("backends",)  # real PostgreSQL, Redis and S3 (moto) for contract and fault tests


@pytest.fixture(scope="session", autouse=True)
def logs_to_pytest() -> None:
    """The service's log lines kept with the test that made them (``log_capture``), never printed."""
    route_logs_to_pytest()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped, with the reason, where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The fetched default models, through the product's own fetch code path (idempotent: a present,
    intact model is not downloaded again). ``BGR_MODEL_DIR`` or ``var/models`` under the repo."""
    from bgremover.models.fetch import fetch_models

    root = Path(os.environ.get("BGR_MODEL_DIR") or REPO_ROOT / "var" / "models")
    fetch_models(model_dir=root)
    return root


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[bytes, str]:
    """One RSA key pair for every JWT test (generating 2048-bit keys is slow): the private key as
    PKCS#8 PEM bytes, the public key as a SubjectPublicKeyInfo PEM string."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_pem, public.decode()
