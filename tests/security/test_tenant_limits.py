"""Per-tenant limits through the HTTP API (in-process, real embedded backends): submit and read rates
(429 + ``Retry-After`` + ``RateLimit-*``), the concurrent-job quota (429), the monthly image quota
(402), per-tenant overrides, and that every refusal leaves no job and no blob."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.support import assert_problem, count_jobs, images_part, png_bytes
from bgremover.api.quotas import month_bounds
from bgremover.ledger.base import JobStatus, JobType, NewImage, NewJob
from bgremover.ledger.sql import SqlJobLedger
from bgremover.settings import Settings, TenantLimits

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


def _submit(client, tenant: str = "default", images: int = 1, key: str | None = None):
    headers = {"X-Tenant-ID": tenant}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/remove-background", files=images_part(*[png_bytes()] * images), headers=headers)


def _blob_keys(services, tenant: str) -> list[str]:
    return list(services.blobs.list(f"{tenant}/"))


def test_submit_rate_limit_answers_429_with_headers_and_spares_other_tenants(make_client, services):
    client = make_client(rate_limit="2/minute")
    first, second = _submit(client, "acme"), _submit(client, "acme")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert second.headers["ratelimit-remaining"] == "0"
    assert second.headers["ratelimit-policy"] == "2;w=60"
    assert 0 < int(second.headers["ratelimit-reset"]) <= 60

    refused = _submit(client, "acme")
    body = assert_problem(refused, 429, "rate-limited")
    assert body["limit"] == "2/minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert count_jobs(services) == 2

    other = _submit(client, "globex")
    assert other.status_code == 202
    assert other.headers["ratelimit-remaining"] == "1"


def test_reads_have_their_own_limit_and_do_not_spend_the_submit_budget(make_client):
    client = make_client(rate_limit="1/minute", read_rate_limit="3/minute")
    job_id = _submit(client, "acme").json()["jobId"]
    for remaining in ("2", "1", "0"):
        response = client.get(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"})
        assert response.status_code == 200
        assert response.headers["ratelimit-remaining"] == remaining
        assert response.headers["ratelimit-limit"] == "3"
    assert_problem(client.get(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"}), 429, "rate-limited")
    assert _submit(client, "globex").status_code == 202


def test_no_rate_limit_headers_when_limits_are_off(client):
    """The embedded default limits nothing, so it says nothing about limits."""
    response = _submit(client)
    assert response.status_code == 202
    assert not {h for h in RATE_HEADERS if h in response.headers}


def test_rate_limited_client_is_refused_before_its_body_is_read(make_client, services):
    client = make_client(rate_limit="1/hour")
    assert _submit(client).status_code == 202
    # A body that would be 400 if read: the 429 comes first, from the headers alone.
    refused = client.post(
        "/v1/group-images", content=b"not multipart", headers={"Content-Type": "multipart/form-data"}
    )
    assert_problem(refused, 429, "rate-limited")
    assert count_jobs(services) == 1


@pytest.mark.parametrize("finish", ["cancel", "succeed"])
def test_active_job_quota_is_429_until_a_job_ends(make_client, services, finish):
    client = make_client(max_active_jobs=1)
    job_id = _submit(client, "acme").json()["jobId"]
    blobs_before = _blob_keys(services, "acme")

    refused = _submit(client, "acme")
    body = assert_problem(refused, 429, "too-many-active-jobs")
    assert (body["limit"], body["active"]) == (1, 1)
    assert int(refused.headers["retry-after"]) >= 1
    assert count_jobs(services) == 1
    assert _blob_keys(services, "acme") == blobs_before  # nothing stored for the refused submit
    assert _submit(client, "globex").status_code == 202  # another tenant has its own quota

    if finish == "cancel":
        assert client.delete(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"}).status_code == 200
    else:
        ledger = services.ledger
        assert ledger.claim(job_id, "worker-1", 60) is not None
        ledger.succeed(job_id, "worker-1", {"images": []})
        assert ledger.get_job("acme", job_id).status is JobStatus.SUCCEEDED
    assert _submit(client, "acme").status_code == 202


def test_idempotent_replay_is_not_refused_by_the_active_job_quota(make_client, services):
    client = make_client(max_active_jobs=1)
    first = _submit(client, "acme", key="order-7")
    replay = _submit(client, "acme", key="order-7")
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["jobId"] == first.json()["jobId"]
    assert_problem(_submit(client, "acme", key="order-8"), 429, "too-many-active-jobs")
    assert count_jobs(services) == 1


def _old_job(services, tenant: str, images: int, when: datetime) -> None:
    """A job created at ``when`` (last month), through the ledger with a clock of that time."""
    ledger = SqlJobLedger(services.ledger.engine, clock=lambda: when)
    job_id = uuid.uuid4().hex
    new_images = [
        NewImage(
            f"img-{i:04d}", f"{i}.png", f"{tenant}/jobs/{job_id}/images/img-{i:04d}/original", "image/png", 1
        )
        for i in range(images)
    ]
    ledger.create_job(NewJob(job_id, tenant, JobType.REMOVE_BACKGROUND, new_images))


def test_monthly_quota_is_402_and_counts_only_this_tenant_this_month(make_client, services):
    client = make_client(monthly_image_quota=3)
    start, resets = month_bounds(datetime.now(UTC))
    _old_job(services, "acme", 50, start - timedelta(seconds=1))  # last month: not counted
    assert _submit(client, "globex", images=3).status_code == 202  # another tenant: not counted
    assert _submit(client, "acme", images=2).status_code == 202

    refused = _submit(client, "acme", images=2)
    body = assert_problem(refused, 402, "quota-exhausted")
    assert (body["quota"], body["used"], body["requested"]) == (3, 2, 2)
    assert body["resetsAt"] == resets.isoformat()
    assert "3" in body["detail"] and "2" in body["detail"] and resets.isoformat() in body["detail"]
    jobs_before = count_jobs(services)

    assert _submit(client, "acme", images=1).status_code == 202  # exactly at the quota
    assert_problem(_submit(client, "acme", images=1), 402, "quota-exhausted")  # refused before the body
    assert count_jobs(services) == jobs_before + 1


def test_idempotent_replay_is_not_counted_twice_against_the_monthly_quota(make_client, services):
    client = make_client(monthly_image_quota=2)
    first = _submit(client, "acme", images=2, key="batch-1")
    replay = _submit(client, "acme", images=2, key="batch-1")
    assert replay.status_code == 202
    assert replay.json()["jobId"] == first.json()["jobId"]
    assert services.ledger.images_submitted_since("acme", month_bounds(datetime.now(UTC))[0]) == 2
    assert_problem(_submit(client, "acme", images=1, key="batch-2"), 402, "quota-exhausted")


def test_replay_over_the_quota_only_once_its_body_is_counted_is_not_refused(make_client, services):
    """3 of 3 after a first submit of 2: the replay passes the early check (2 + 1 <= 3) and meets the
    quota only when its 2 images are counted; it creates nothing, so it is still answered 202."""
    client = make_client(monthly_image_quota=3)
    first = _submit(client, "acme", images=2, key="batch-1")
    replay = _submit(client, "acme", images=2, key="batch-1")
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["jobId"] == first.json()["jobId"]
    assert_problem(_submit(client, "acme", images=2, key="batch-2"), 402, "quota-exhausted")
    assert count_jobs(services) == 1


def test_per_tenant_overrides_raise_lower_or_lift_the_defaults(make_client):
    overrides = {
        "big": TenantLimits(monthly_image_quota=None),  # null: no quota for this tenant
        "tiny": TenantLimits(max_active_jobs=1),  # quota inherited, active jobs lowered
    }
    client = make_client(monthly_image_quota=1, max_active_jobs=10, tenant_limits=overrides)
    assert _submit(client, "big", images=3).status_code == 202
    assert _submit(client, "big", images=3).status_code == 202
    assert _submit(client, "tiny").status_code == 202
    assert_problem(_submit(client, "tiny"), 429, "too-many-active-jobs")
    assert _submit(client, "default").status_code == 202
    assert_problem(_submit(client, "default"), 402, "quota-exhausted")


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("BGR_RATE_LIMIT", "100/minute")
    monkeypatch.setenv(
        "BGR_TENANT_LIMITS", '{"acme": {"rate_limit": "5/second", "monthly_image_quota": null}}'
    )
    monkeypatch.setenv("BGR_MONTHLY_IMAGE_QUOTA", "1000")
    settings = Settings()
    acme, other = settings.limits_for("acme"), settings.limits_for("other")
    assert (acme.rate_limit, acme.monthly_image_quota) == ("5/second", None)
    assert (other.rate_limit, other.monthly_image_quota) == ("100/minute", 1000)


def test_limits_from_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "bgremover.toml"
    config.write_text(
        'max_active_jobs = 4\n[tenant_limits.acme]\nmax_active_jobs = 40\nread_rate_limit = "9/second"\n'
    )
    monkeypatch.setenv("BGR_CONFIG_FILE", str(config))
    settings = Settings()
    assert settings.limits_for("acme").max_active_jobs == 40
    assert settings.limits_for("acme").read_rate_limit == "9/second"
    assert settings.limits_for("other").max_active_jobs == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_limit": "lots"},
        {"tenant_limits": {"acme": {"rate_limit": "5 per fortnight"}}},
        {"tenant_limits": {"acme": {"max_active_job": 3}}},
        {"max_active_jobs": 0},
    ],
)
def test_a_misconfigured_limit_fails_at_start_up(bad):
    with pytest.raises(ValueError):
        Settings(**bad)


def test_refusals_are_counted_by_reason(make_client):
    from prometheus_client import REGISTRY

    def refused(reason: str) -> float:
        return REGISTRY.get_sample_value("bgr_requests_refused_total", {"reason": reason}) or 0.0

    before = {reason: refused(reason) for reason in ("rate-limit", "active-jobs", "quota")}
    client = make_client(rate_limit="2/minute", max_active_jobs=1, monthly_image_quota=1)
    _submit(client, "a")
    _submit(client, "a")  # active jobs
    _submit(client, "b", images=2)  # quota
    _submit(client, "a")  # rate
    assert {reason: refused(reason) - before[reason] for reason in before} == {
        "rate-limit": 1,
        "active-jobs": 1,
        "quota": 1,
    }
