"""``bgremover.aws.api.handler`` on API Gateway HTTP API events, on the SQLite ledger, the SQLite
queue and local blobs. Each phase runs in a fresh process, as a Lambda execution environment does:
environment first, the handler module imported (its cold start), then events, warm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from apigw_events import HOST, http_api_event, json_event, multipart_event, response_body
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from api.support import noise_png, png_bytes
from backends import S3_TEST_ENV, S3Server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SRC = ROOT / "src"
OPTIONAL = {"rich"}  # structlog imports it when it is installed, and does without


@pytest.fixture
def lambda_env(tmp_path: Path) -> dict[str, str]:
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("BGR_")},
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "BGR_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "BGR_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "BGR_STORAGE_URL": f"file://{tmp_path / 'blobs'}",
        "BGR_MODEL_DIR": str(tmp_path / "no-models"),
        "BGR_UPLOAD_SIGNING_KEY": "s" * 32,
        "AWS_LAMBDA_FUNCTION_NAME": "bg-remover-api",
    }


def invoke(env: dict[str, str], events: list[dict[str, Any]]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "invoke_api_handler.py")],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(env["BGR_DATABASE_URL"].removeprefix("sqlite:///")).parent,  # the test's own folder
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in response["headers"].items()}


def test_cold_start_imports_no_inference_library_and_the_zip_has_what_it_imports(
    lambda_env: dict[str, str],
) -> None:
    """The API function's zip (``deploy/aws/functions/requirements.txt``) must hold every dependency of
    the package that the handler's cold start loads; the inference stack is not among them."""
    started = invoke(lambda_env, [http_api_event("GET", "/healthz")])
    assert started["loaded"] == []
    assert started["responses"][0]["statusCode"] == 200
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {canonicalize_name(Requirement(line).name) for line in declared}
    lines = (ROOT / "deploy" / "aws" / "functions" / "requirements.txt").read_text().splitlines()
    in_zip = {
        canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("#")
    }
    imported = {canonicalize_name(name) for name in started["distributions"]} & runtime - OPTIONAL
    assert imported and imported <= in_zip, imported - in_zip
    assert not in_zip & {"onnxruntime", "opencv-python-headless", "scikit-learn", "pymatting", "onnx"}


def test_photos_through_api_gateway_events_are_accepted_stored_and_served(lambda_env: dict[str, str]) -> None:
    photos = [("a.png", png_bytes()), ("b.png", png_bytes((64, 48), (0, 0, 200)))]
    tenant = {"X-Tenant-ID": "acme"}
    first = invoke(
        lambda_env,
        [
            multipart_event("/v1/group-images", photos, headers=tenant, threshold="0.4"),
            multipart_event("/v1/remove-background", [("page.png", b"<html></html>")], headers=tenant),
            json_event(
                "POST",
                "/v1/uploads",
                {"files": [{"filename": "c.png", "size": len(photos[1][1])}]},
                headers=tenant,
            ),
        ],
    )
    assert first["loaded"] == []
    accepted, refused, slots = first["responses"]
    assert accepted["statusCode"] == 202, accepted
    job_id = json.loads(accepted["body"])["jobId"]
    assert headers_of(accepted)["location"] == f"https://{HOST}/v1/jobs/{job_id}"
    assert refused["statusCode"] == 415 and headers_of(refused)["content-type"] == "application/problem+json"
    (slot,) = json.loads(slots["body"])["slots"]
    assert slot["url"].startswith(f"https://{HOST}/v1/uploads/")

    second = invoke(
        lambda_env,
        [
            http_api_event("GET", f"/v1/jobs/{job_id}", headers=tenant),
            http_api_event("GET", f"/v1/jobs/{job_id}/images/img-0002/original", headers=tenant),
            http_api_event("GET", f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "globex"}),
            http_api_event("PUT", urlsplit(slot["url"]).path, headers=slot["headers"], body=photos[1][1]),
            json_event(
                "POST", "/v1/remove-background", {"uploads": [slot["slot"]], "format": "webp"}, headers=tenant
            ),
        ],
    )
    job, original, other_tenant, put, by_reference = second["responses"]
    assert job["statusCode"] == 200
    assert json.loads(job["body"])["status"] == "queued" and json.loads(job["body"])["progress"]["total"] == 2
    assert original["isBase64Encoded"] and response_body(original) == photos[1][1]  # binary out
    assert other_tenant["statusCode"] == 404
    assert put["statusCode"] == 204  # binary in
    assert by_reference["statusCode"] == 202, by_reference


def test_thirty_photos_of_2_mb_go_straight_to_s3_and_are_submitted_by_reference(
    lambda_env: dict[str, str], s3: S3Server
) -> None:
    """60 MB, ten Lambda requests' worth: the handler hands out presigned S3 PUTs, the photos go to the
    bucket (moto's server), and the submit event carries the slots only."""
    bucket = s3.create_bucket()
    env = {**lambda_env, **S3_TEST_ENV, "BGR_STORAGE_URL": f"s3://{bucket}/bg-remover"}
    env["BGR_S3_ENDPOINT_URL"] = s3.endpoint_url
    photos = [(f"p{i:02d}.png", noise_png((816, 816))) for i in range(30)]
    assert all(len(data) > 1_990_000 for _, data in photos)
    declared = [{"filename": name, "size": len(data), "contentType": "image/png"} for name, data in photos]
    (issued,) = invoke(env, [json_event("POST", "/v1/uploads", {"files": declared})])["responses"]
    slots = json.loads(issued["body"])["slots"]
    for slot, (_, data) in zip(slots, photos, strict=True):
        assert slot["url"].startswith(f"{s3.endpoint_url}/{bucket}/bg-remover/default/uploads/")
        assert httpx.put(slot["url"], content=data, headers=slot["headers"]).status_code == 200

    submit = json_event("POST", "/v1/group-images", {"uploads": [slot["slot"] for slot in slots]})
    assert len(submit["body"]) < 30_000  # the photos are 60 MB
    (accepted,) = invoke(env, [submit])["responses"]
    assert accepted["statusCode"] == 202, accepted
    objects = boto3.client("s3", endpoint_url=s3.endpoint_url).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Size"] for o in objects) == sorted(len(data) for _, data in photos)
