"""``make loadtest``: every scenario under ``loadtest/`` against each deployment on this machine, then
the report under ``var/loadtest/``: per target and scenario a folder with Locust's CSV and HTML, our
``summary.csv``, ``summary.html``, ``jobs.csv`` and ``latency.png``; across all, ``summary.csv``,
``summary.md`` (the README's table) and ``index.html``. Exits 1 if a job was lost or a 5xx answered.

    .venv/bin/python loadtest/run.py [--targets embedded,distributed] [--scenarios payload_size,...]
                                     [--quick] [--out var/loadtest] [--image-counts 1,10,100,1000]

Each scenario runs twice: ``payload_size`` etc. send the photos in the submit (multipart), and
``payload_size_direct`` etc. through the direct-upload flow (slots, a PUT per photo, the submit by
reference), where submit latency is the whole sequence and ``submit_call`` the submit alone.

Bounded: each scenario has a run time and a budget of submits; after it, accepted jobs are waited for
until final, for at most ``--drain-s`` (1 h), and no longer once none of them has moved (status,
stage, images done) for ``--stall-s`` (5 min): a job not final then counts as lost. CPU and memory
are sampled over the run and the drain. ``--quick`` is a seconds-long smoke run (what the test suite runs)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import payloads
import report
from sampler import Sampler
from stack import REPO_ROOT, TARGETS, Target

from bgremover.client import ApiError, Client

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Scenario:
    file: str
    users: int
    run_s: int
    max_submits: int
    env: dict[str, str] = field(default_factory=dict)


MULTIPART = {
    "payload_size": Scenario("payload_size.py", users=1, run_s=60, max_submits=8),  # each size twice
    "image_count": Scenario("image_count.py", users=1, run_s=90, max_submits=4),  # 1, 10, 100, 1000 once
    "steady": Scenario("steady.py", users=2, run_s=30, max_submits=20),
    "spike": Scenario("spike.py", users=10, run_s=30, max_submits=40, env={"LOADTEST_SPIKE_USERS": "10"}),
}
# The same scenarios through the direct-upload flow: slots, a PUT per photo, the submit by reference.
DIRECT = {
    f"{name}_direct": replace(scenario, env={**scenario.env, "LOADTEST_UPLOAD": "direct"})
    for name, scenario in MULTIPART.items()
}
SCENARIOS = {**MULTIPART, **DIRECT}


def quick(scenario: Scenario) -> Scenario:
    return replace(
        scenario, users=1, run_s=3, max_submits=2, env={**scenario.env, "LOADTEST_SPIKE_USERS": "2"}
    )


def with_image_counts(scenario: Scenario, counts: str) -> Scenario:
    """The image-count scenario (either flow) sending ``counts`` images per request, once each."""
    if scenario.file != "image_count.py":
        return scenario
    env = {**scenario.env, "LOADTEST_IMAGE_COUNTS": counts}
    return replace(scenario, max_submits=len(counts.split(",")), env=env)


def run_locust(scenario: Scenario, target: Target, folder: Path, payload_dir: Path) -> None:
    env = {
        **os.environ,
        **scenario.env,
        "LOADTEST_PAYLOADS": str(payload_dir),
        "LOADTEST_FASHION": str(SHARED_DATA / "fashion_products"),
        "LOADTEST_RECORDS": str(folder / "records.jsonl"),
        "LOADTEST_MAX_SUBMITS": str(scenario.max_submits),
        "LOADTEST_RUN_S": str(scenario.run_s),
    }
    command = [sys.executable, "-m", "locust", "-f", str(HERE / scenario.file), "--headless"]
    command += ["-u", str(scenario.users), "-r", str(scenario.users), "-t", f"{scenario.run_s}s"]
    command += ["--host", target.base_url, "--csv", str(folder / "locust"), "--csv-full-history"]
    command += ["--html", str(folder / "locust.html"), "--stop-timeout", "60", "--only-summary"]
    with (folder / "locust.log").open("wb") as log:
        subprocess.run(
            command, env=env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, timeout=scenario.run_s + 180
        )


def _pending(jobs: dict[str, dict[str, Any] | None]) -> dict[str, tuple[Any, ...]]:
    """Each job not yet final, with what shows it moving: status, stage and images done."""
    return {
        job_id: (job["status"], job["stage"], job["progress"]["done"]) if job else (None,)
        for job_id, job in jobs.items()
        if not job or job["status"] not in report.FINAL
    }


def drain(
    base_url: str, job_ids: list[str], stall_s: float, max_s: float
) -> dict[str, dict[str, Any] | None]:
    """Each accepted job's last state, waiting until all are final, or none of those left has moved
    for ``stall_s``, or ``max_s`` in all: a job still working is waited for, a stuck one is lost."""
    jobs: dict[str, dict[str, Any] | None] = dict.fromkeys(job_ids)
    started = moved = time.monotonic()
    seen: dict[str, tuple[Any, ...]] = {}
    with Client(base_url) as client:
        while True:
            for job_id in _pending(jobs):
                try:
                    jobs[job_id] = client.get_job(job_id).raw
                except ApiError:
                    jobs[job_id] = None
            pending, now = _pending(jobs), time.monotonic()
            if pending != seen:
                seen, moved = pending, now
            if not pending or now - moved > stall_s or now - started > max_s:
                return jobs
            time.sleep(1)


def warm_up(target: Target, photo: Path) -> None:
    """One job through the whole pipeline before anything is measured: a worker's first job loads its
    models, which is start-up, not load."""
    with Client(target.base_url) as client:
        client.wait(client.group_images([photo]), timeout=300)


def run_scenario(
    name: str, scenario: Scenario, target: Target, out: Path, payload_dir: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    folder = out / target.name / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    roles = {"api": lambda: [target.api], "workers": target.workers}
    with Sampler(roles) as usage:
        run_locust(scenario, target, folder, payload_dir)
        records = report.read_records(folder / "records.jsonl")
        accepted = [r["jobId"] for r in records if r["jobId"]]
        jobs = drain(target.base_url, accepted, args.stall_s, args.drain_s)
    variants = list(dict.fromkeys(r["variant"] for r in records))
    rows = [
        {"variant": v, **report.figures([r for r in records if r["variant"] == v], jobs)} for v in variants
    ]
    overall = {"variant": "all", **report.figures(records, jobs), **usage.summary()}
    overall["limit_hit_first"] = report.limit_hit_first(overall, os.cpu_count() or 1)
    rows = [{"target": target.name, "scenario": name, **row} for row in [*rows, overall]]
    report.write(folder, rows, records, jobs)
    print(f"{target.name}/{name}: {overall}", flush=True)
    return rows


def write_index(out: Path, rows: list[dict[str, Any]]) -> None:
    report.write_table(out / "summary.csv", rows)
    keys = [
        "target", "scenario", "variant", "success_rate", "submit_p50_ms", "submit_p95_ms", "submit_p99_ms",
        "submit_call_p50_ms", "submit_call_p95_ms", "final_p50_s", "final_p95_s", "jobs_lost", "http_5xx",
        "api_cpu_pct", "api_peak_rss_mb", "workers_cpu_pct", "workers_peak_rss_mb", "limit_hit_first",
    ]  # fmt: skip
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += [
        "| " + " | ".join("" if row.get(k) is None else str(row[k]) for k in keys) + " |" for row in rows
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    links = "".join(
        f'<li><a href="{t}/{s}/summary.html">{t} / {s}</a></li>'
        for t, s in dict.fromkeys((row["target"], row["scenario"]) for row in rows)
    )
    (out / "index.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>load tests</title><ul>{links}</ul>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="embedded,distributed")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "loadtest")
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("BGR_MODEL_DIR", REPO_ROOT / "var" / "models"))
    )
    parser.add_argument("--drain-s", type=float, default=3600, help="the most a drain waits")
    parser.add_argument("--stall-s", type=float, default=300, help="a drain ends when no job moved for this")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--image-counts", help="images per request of image_count, e.g. 1,10,100")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()  # Locust runs in loadtest/
    scenarios = {name: SCENARIOS[name] for name in args.scenarios.split(",")}
    if args.image_counts:
        scenarios = {name: with_image_counts(s, args.image_counts) for name, s in scenarios.items()}
    if args.quick:
        scenarios = {name: quick(scenario) for name, scenario in scenarios.items()}
    payload_dir = args.out / "payloads"
    if any(scenario.file == "payload_size.py" for scenario in scenarios.values()):
        payloads.prepare(SHARED_DATA, payload_dir)
    rows: list[dict[str, Any]] = []
    for target_name in args.targets.split(","):
        with (
            tempfile.TemporaryDirectory(prefix=f"loadtest-{target_name}-") as workdir,
            TARGETS[target_name](Path(workdir), args.model_dir.resolve()) as target,
        ):
            warm_up(target, next((SHARED_DATA / "fashion_products").glob("*.jpg")))
            for name, scenario in scenarios.items():
                rows += run_scenario(name, scenario, target, args.out, payload_dir, args)
    write_index(args.out, rows)
    broken = [row for row in rows if row["jobs_lost"] or row["http_5xx"]]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
