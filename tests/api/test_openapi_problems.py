"""The OpenAPI document names every refusal a route can answer, as problem+json, so that clients
generated from it handle quotas (402), rate limits (429) and slow uploads (408) instead of guessing."""

from __future__ import annotations

import pytest

from bgremover.api import create_app
from bgremover.settings import Settings

SUBMIT_ROUTES = ["/v1/group-images", "/bg-remover/group-images", "/v1/remove-background"]
JOB_ROUTES = [
    ("get", "/v1/jobs/{job_id}"),
    ("delete", "/v1/jobs/{job_id}"),
    ("get", "/v1/jobs/{job_id}/images/{image_id}/{kind}"),
]


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(settings=Settings()).openapi()


@pytest.mark.parametrize("path", SUBMIT_ROUTES)
def test_submit_routes_document_every_refusal_as_a_problem(document, path):
    responses = document["paths"][path]["post"]["responses"]
    for status in ("400", "401", "402", "403", "408", "413", "415", "422", "429", "503"):
        assert "application/problem+json" in responses[status]["content"], status
    assert "202" in responses


@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_job_routes_document_not_found_and_rate_limits(document, method, path):
    responses = document["paths"][path][method]["responses"]
    for status in ("401", "404", "429"):
        assert "application/problem+json" in responses[status]["content"], status
