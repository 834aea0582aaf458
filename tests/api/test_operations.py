"""Health, readiness, metrics and the request's log lines."""

from __future__ import annotations

import io
import json

from prometheus_client.parser import text_string_to_metric_families

from api.support import assert_problem, images_part, png_bytes
from bgremover.models.registry import DEFAULT_MODELS, get_model
from bgremover.observability.logging import configure_logging


def metric_values(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_missing_models_then_ready(client, settings):
    body = assert_problem(client.get("/readyz"), 503, "not-ready")
    assert body["checks"]["ledger"] == "ok" and body["checks"]["queue"] == "ok"
    assert body["checks"]["models"].startswith("failed: models missing")
    settings.model_dir.mkdir(parents=True)
    for name in DEFAULT_MODELS:
        (settings.model_dir / get_model(name, settings.model_dir).filename).write_bytes(b"present")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"ledger": "ok", "queue": "ok", "models": "ok"}


def test_metrics_show_route_latency_jobs_queue_depth_and_job_age(client):
    client.post("/v1/group-images", files=images_part(png_bytes(), png_bytes()))
    client.post("/v1/group-images", files=images_part(png_bytes()))
    values = metric_values(client.get("/metrics").text)
    route = frozenset({"method": "POST", "route": "/v1/group-images", "status": "202"}.items())
    assert values[("bgr_http_request_duration_seconds_count", route)] >= 2
    assert values[("bgr_jobs_total", frozenset({"type": "group-images", "status": "queued"}.items()))] >= 2
    assert values[("bgr_queue_depth", frozenset())] == 2
    assert values[("bgr_jobs_current", frozenset({"status": "queued"}.items()))] == 2
    assert values[("bgr_job_oldest_age_seconds", frozenset({"status": "queued"}.items()))] >= 0
    assert values[("bgr_jobs_current", frozenset({"status": "running"}.items()))] == 0


def test_latency_is_labelled_by_route_template_never_by_raw_path(client):
    job_id = client.post("/v1/group-images", files=images_part(png_bytes())).json()["jobId"]
    client.get(f"/v1/jobs/{job_id}")
    client.get("/v1/jobs/no-such-job")
    routes = {dict(labels).get("route") for _, labels in metric_values(client.get("/metrics").text)}
    assert "/v1/jobs/{job_id}" in routes
    assert not any(job_id in route or "no-such-job" in route for route in routes if route)


def test_every_log_line_of_a_submit_carries_request_tenant_and_job(client, restore_logging):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    response = client.post(
        "/v1/group-images",
        files=images_part(png_bytes()),
        headers={"X-Tenant-ID": "acme", "X-Request-ID": "r-77"},
    )
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    accepted = [line for line in lines if line["event"] == "job accepted"]
    access = [line for line in lines if line["event"] == "request"]
    assert accepted and access
    for line in (*accepted, *access):
        assert line["request_id"] == "r-77"
        assert line["tenant_id"] == "acme"
        assert line["job_id"] == response.json()["jobId"]
    assert access[0]["route"] == "/v1/group-images" and access[0]["status"] == 202


def test_openapi_documents_both_submit_bodies_with_their_options(client):
    paths = client.get("/openapi.json").json()["paths"]
    group = paths["/v1/group-images"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(group)
    assert {"images", "threshold", "remove_background", "bg_color"} <= set(
        group["multipart/form-data"]["schema"]["properties"]
    )
    remove = paths["/v1/remove-background"]["post"]["requestBody"]["content"]["application/json"]
    assert "threshold" not in remove["schema"]["properties"]
