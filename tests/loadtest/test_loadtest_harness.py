"""The load-test harness (``loadtest/``, ``make loadtest``) kept honest: its figures from known
records, and one seconds-long scenario end to end against a real ``serve`` (Locust, drain, report)."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

# Never imported here: Locust monkey-patches the process with gevent; its runs are subprocesses.
# `make test` installs the loadtest extra, so a missing Locust is a failure, not a skip.
assert importlib.util.find_spec("locust") is not None, "install the loadtest extra: '.[loadtest]'"
REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "loadtest"))

import report  # noqa: E402


def job(status: str, created: str, updated: str, ms: float) -> dict:
    return {"status": status, "createdAt": created, "updatedAt": updated, "stages": {"decode": {"ms": ms}}}


def test_figures_count_lost_jobs_5xx_and_time_to_final():
    records = [
        {"variant": "a", "status": 202, "ms": 10.0, "submit_ms": 4.0, "jobId": "j1"},
        {"variant": "a", "status": 202, "ms": 20.0, "submit_ms": 6.0, "jobId": "j2"},
        {"variant": "a", "status": 202, "ms": 30.0, "submit_ms": 8.0, "jobId": "j3"},
        {"variant": "a", "status": 503, "ms": 40.0, "submit_ms": None, "jobId": None},  # a PUT refused
        {"variant": "a", "status": 0, "ms": 50.0, "submit_ms": 50.0, "jobId": None},
    ]
    jobs = {
        "j1": job("succeeded", "2026-12-01T10:00:00Z", "2026-12-01T10:00:04Z", 1000),
        "j2": {
            **job("failed", "2026-12-01T10:00:00Z", "2026-12-01T10:00:02Z", 2000),
            "error": {"type": "urn:bgremover:problem:job-time-limit"},
        },
        "j3": job("running", "2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z", 0),
    }
    got = report.figures(records, jobs)
    assert got["submits"] == 5 and got["success_rate"] == 0.6
    assert got["jobs_accepted"] == 3 and got["jobs_lost"] == 1 and got["jobs_failed"] == 1
    assert got["http_5xx"] == 1 and got["connection_errors"] == 1
    assert got["submit_p50_ms"] == 30.0 and got["final_p50_s"] == 3.0
    assert got["submit_call_p50_ms"] == 7.0  # the submit calls made: not the refused PUT's sequence
    assert got["processing_p95_s"] == 1.0 and got["queued_p95_s"] == 3.0  # succeeded jobs only
    assert got["job_errors"] == "job-time-limit"
    row = {**got, "api_cpu_pct": 5.0, "workers_cpu_pct": 190.0}
    assert report.limit_hit_first(row, cores=2) == "API refused or failed submits"
    clean = {**row, "http_5xx": 0, "connection_errors": 0, "success_rate": 1.0}
    assert report.limit_hit_first(clean, cores=2) == "jobs failed: job-time-limit"
    no_failure = {**clean, "jobs_failed": 0}
    assert report.limit_hit_first(no_failure, cores=2) == "worker capacity: jobs wait in the queue"
    slow = {**no_failure, "queued_p95_s": 0.5, "submit_p95_ms": 1200.0, "api_cpu_pct": 5.0}
    assert report.limit_hit_first({**slow, "submit_call_p95_ms": 90.0}, cores=2).startswith(
        "direct-upload PUTs"
    )
    assert report.limit_hit_first({**slow, "submit_call_p95_ms": 1190.0}, cores=2).startswith("upload path")


@pytest.mark.slow
def test_a_tiny_scenario_end_to_end(tmp_path: Path, model_dir: Path, shared_data: Path) -> None:
    """A multipart scenario and one through the direct-upload flow (slots, PUTs, submit by reference)."""
    command = [sys.executable, str(REPO_ROOT / "loadtest" / "run.py"), "--quick", "--targets", "embedded"]
    command += [
        "--scenarios",
        "steady,image_count_direct",
        "--image-counts",
        "1,3",
        "--out",
        str(tmp_path),
        "--model-dir",
        str(model_dir),
        "--drain-s",
        "120",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    folder = tmp_path / "embedded" / "steady"
    for name in ("summary.csv", "summary.html", "latency.png", "jobs.csv", "locust.html", "locust_stats.csv"):
        assert (folder / name).stat().st_size > 0, name
    rows = {row["variant"]: row for row in csv.DictReader((folder / "summary.csv").open())}
    overall = rows["all"]
    assert int(overall["submits"]) >= 1 and float(overall["success_rate"]) == 1.0
    assert overall["jobs_lost"] == "0" and overall["http_5xx"] == "0"
    assert float(overall["final_p50_s"]) > 0 and float(overall["workers_peak_rss_mb"]) > 0
    assert float(overall["api_peak_rss_mb"]) > 0
    assert (tmp_path / "summary.md").read_text().count("| embedded | steady |") == 2

    direct = tmp_path / "embedded" / "image_count_direct"
    rows = {row["variant"]: row for row in csv.DictReader((direct / "summary.csv").open())}
    assert set(rows) == {"1 images", "3 images", "all"}
    for row in rows.values():
        assert float(row["success_rate"]) == 1.0 and row["jobs_lost"] == "0" and row["http_5xx"] == "0"
        assert 0 < float(row["submit_call_p50_ms"]) < float(row["submit_p50_ms"])  # PUTs come before
    requests = {row["Name"]: row for row in csv.DictReader((direct / "locust_stats.csv").open())}
    assert (
        requests["put 3 images"]["Request Count"] == "3" and requests["put 3 images"]["Failure Count"] == "0"
    )
    assert requests["slots 1 images"]["Request Count"] == "1"
    assert requests["submit by reference 3 images"]["Request Count"] == "1"
    jobs = list(csv.DictReader((direct / "jobs.csv").open()))
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"]
