"""Metrics: one module, merged across processes in multiprocess mode, sampled gauges at scrape."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bgremover.observability import metrics
from bgremover.observability.dead_processes import mark_exited_processes
from bgremover.observability.metrics_setup import MULTIPROC_ENV, prepare_metrics


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_service_gauges_are_sampled_from_the_given_sources():
    metrics.refresh_service_gauges(
        queue_depth=lambda: 7, active_jobs=lambda: {"queued": (3, 42.0), "running": (1, 5.0)}
    )
    body, content_type = metrics.render_latest()
    got = samples(body.decode())
    assert content_type.startswith("text/plain")
    assert got[("bgr_queue_depth", ())] == 7
    assert got[("bgr_jobs_current", (("status", "queued"),))] == 3
    assert got[("bgr_job_oldest_age_seconds", (("status", "queued"),))] == 42.0
    assert got[("bgr_job_oldest_age_seconds", (("status", "running"),))] == 5.0


CHILD = textwrap.dedent(
    """
    import sys
    from bgremover.observability import metrics
    metrics.JOBS.labels(type="group-images", status="succeeded").inc(int(sys.argv[1]))
    metrics.STAGE_DURATION.labels(stage="cutout", type="group-images").observe(0.3)
    metrics.worker_heartbeat()
    print(__import__("os").getpid())
    """
)
RENDER = "from bgremover.observability import metrics; print(metrics.render_latest()[0].decode())"


def run(code: str, env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def test_multiprocess_mode_merges_worker_processes_and_drops_dead_live_gauges(tmp_path: Path):
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    pid_a = run(CHILD, env, "2").strip()
    pid_b = run(CHILD, env, "3").strip()
    got = samples(run(RENDER, env))
    assert got[("bgr_jobs_total", (("status", "succeeded"), ("type", "group-images")))] == 5
    assert got[("bgr_stage_duration_seconds_count", (("stage", "cutout"), ("type", "group-images")))] == 2
    assert got[("bgr_workers_alive", ())] == 2
    assert got[("bgr_worker_last_heartbeat_timestamp_seconds", ())] > 1.7e9

    # Both workers have exited (so have the rendering processes, which drop nothing that counts).
    assert {int(pid_a), int(pid_b)} <= set(mark_exited_processes(tmp_path))
    assert samples(run(RENDER, env))[("bgr_workers_alive", ())] == 0


def test_prepare_metrics_starts_empty_and_exports_the_env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(MULTIPROC_ENV, "to-be-replaced")  # recorded, so the variable is restored after
    target = tmp_path / "prom"
    target.mkdir()
    (target / "counter_1.db").write_bytes(b"stale")
    prepare_metrics(target)
    assert list(target.iterdir()) == []
    assert os.environ[MULTIPROC_ENV] == str(target)


def test_serve_style_set_up_collects_from_its_own_process(tmp_path: Path):
    """prepare_metrics first, then the metrics module: samples go to files and are rendered merged."""
    code = (
        "from pathlib import Path; import sys\n"
        "from bgremover.observability.metrics_setup import prepare_metrics\n"
        "prepare_metrics(Path(sys.argv[1]))\n"
        "from bgremover.observability import metrics\n"
        "metrics.QUEUE_DEPTH.set(4)\n"
        "print(metrics.render_latest()[0].decode())\n"
    )
    text = run(code, {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}, str(tmp_path / "m"))
    assert samples(text)[("bgr_queue_depth", ())] == 4
    assert any(path.name.startswith("gauge_livemostrecent") for path in (tmp_path / "m").iterdir())
