"""One scenario's figures, from what the Locust users recorded (every submit: status, latency, job id)
and from the jobs' final states in the ledger (submit to final = ``updatedAt - createdAt`` of the final
job, both stamped by the service; processing = the sum of its stage times): written as CSV, an HTML
summary and one PNG of latency over time."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

FINAL = {"succeeded", "failed", "canceled"}
COLUMNS = [
    "target", "scenario", "variant", "submits", "success_rate", "submit_p50_ms", "submit_p95_ms",
    "submit_p99_ms", "submit_call_p50_ms", "submit_call_p95_ms", "final_p50_s", "final_p95_s",
    "queued_p95_s", "processing_p95_s", "jobs_accepted", "jobs_lost", "jobs_failed", "job_errors",
    "http_5xx", "connection_errors", "api_cpu_pct", "api_peak_rss_mb", "workers_cpu_pct",
    "workers_peak_rss_mb", "limit_hit_first",
]  # fmt: skip


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _seconds(job: dict[str, Any]) -> tuple[float, float]:
    """(submit to final, processing) of a final job, in seconds."""
    created, updated = (
        datetime.fromisoformat(job[k].replace("Z", "+00:00")) for k in ("createdAt", "updatedAt")
    )
    processing = sum(stage.get("ms", 0) for stage in (job.get("stages") or {}).values()) / 1000
    return (updated - created).total_seconds(), processing


def _pct(values: Iterable[float], q: float, digits: int = 1) -> float | None:
    values = list(values)
    return round(float(np.percentile(values, q)), digits) if values else None


def figures(records: list[dict[str, Any]], jobs: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """The figures of one variant (or of all): ``jobs`` maps each accepted job id to its last state.
    ``submit`` is the whole submit as the client lives it (for a direct upload: slots, PUTs and the
    submit by reference), ``submit_call`` the submit request alone (none when an earlier step failed)."""
    accepted = [r["jobId"] for r in records if r["status"] == 202]
    final = [jobs[j] for j in accepted if jobs.get(j) and jobs[j]["status"] in FINAL]  # type: ignore[index]
    failed = [job for job in final if job["status"] == "failed"]
    timings = [_seconds(job) for job in final if job["status"] == "succeeded"]
    calls = [r["submit_ms"] for r in records if r.get("submit_ms") is not None]
    return {
        "submits": len(records),
        "success_rate": round(len(accepted) / len(records), 4) if records else None,
        "submit_p50_ms": _pct((r["ms"] for r in records), 50),
        "submit_p95_ms": _pct((r["ms"] for r in records), 95),
        "submit_p99_ms": _pct((r["ms"] for r in records), 99),
        "submit_call_p50_ms": _pct(calls, 50),
        "submit_call_p95_ms": _pct(calls, 95),
        "final_p50_s": _pct((_seconds(job)[0] for job in final), 50, 2),
        "final_p95_s": _pct((_seconds(job)[0] for job in final), 95, 2),
        "queued_p95_s": _pct((t - p for t, p in timings), 95, 2),
        "processing_p95_s": _pct((p for _, p in timings), 95, 2),
        "jobs_accepted": len(accepted),
        "jobs_lost": len(accepted) - len(final),
        "jobs_failed": len(failed),
        "job_errors": " ".join(
            sorted({str((job.get("error") or {}).get("type", "")).rsplit(":")[-1] for job in failed})
        ),
        "http_5xx": sum(r["status"] >= 500 for r in records),
        "connection_errors": sum(r["status"] == 0 for r in records),
    }


def limit_hit_first(row: dict[str, Any], cores: int) -> str:
    """Which limit this run reached first, from its figures (a rule of thumb, stated in the README):
    refusals; failed jobs (e.g. the job time limit); jobs queued longer than they took to process
    (worker capacity); a slow submit that is mostly the PUTs of a direct upload (their round trips),
    or else with a busy API (its CPU) or an idle one (the upload path: blob writes and ledger)."""
    if not row["submits"]:
        return "no submit recorded (see locust.log)"
    if row["http_5xx"] or row["connection_errors"] or row["success_rate"] < 1:
        return "API refused or failed submits"
    if row["jobs_failed"]:
        return f"jobs failed: {row['job_errors']}"
    if (row["queued_p95_s"] or 0) > max(1.0, row["processing_p95_s"] or 0):
        busy = "" if row["workers_cpu_pct"] >= 50 * cores else " (CPU shared with the API and other load)"
        return f"worker capacity: jobs wait in the queue{busy}"
    if (row["submit_p95_ms"] or 0) > 1000:
        if (row.get("submit_call_p95_ms") or row["submit_p95_ms"]) < row["submit_p95_ms"] / 2:
            return "direct-upload PUTs: one round trip per photo before the submit"
        return "API CPU (upload parsing)" if row["api_cpu_pct"] >= 80 else "upload path (blob write, ledger)"
    return "none at this load"


def write(
    folder: Path, rows: list[dict[str, Any]], records: list[dict[str, Any]], jobs: dict[str, Any]
) -> None:
    """``summary.csv``, ``jobs.csv``, ``latency.png`` and ``summary.html`` in ``folder``."""
    write_table(folder / "summary.csv", rows)
    with (folder / "jobs.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["job_id", "variant", "status", "submit_to_final_s", "processing_s"])
        for record in records:
            job = jobs.get(record["jobId"]) if record["jobId"] else None
            timing = _seconds(job) if job and job["status"] in FINAL else (None, None)
            writer.writerow([record["jobId"], record["variant"], job and job["status"], *timing])
    plot(folder / "latency.png", records, jobs)
    (folder / "summary.html").write_text(_html(rows))


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def plot(path: Path, records: list[dict[str, Any]], jobs: dict[str, Any]) -> None:
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    start = min((r["t"] for r in records), default=0)
    for variant in dict.fromkeys(r["variant"] for r in records):
        mine = [r for r in records if r["variant"] == variant]
        top.scatter([r["t"] - start for r in mine], [r["ms"] for r in mine], s=8, label=variant)
        done = [(r["t"] - start, _seconds(jobs[r["jobId"]])[0]) for r in mine if _is_final(jobs, r["jobId"])]
        bottom.scatter([t for t, _ in done], [s for _, s in done], s=8, label=variant)
    top.set_ylabel("submit latency (ms)")
    bottom.set_ylabel("submit to final (s)")
    bottom.set_xlabel("time of submit since the first (s)")
    if records:
        top.legend(fontsize="small")
    top.set_title(path.parent.parent.name + " / " + path.parent.name)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _is_final(jobs: dict[str, Any], job_id: str | None) -> bool:
    return bool(job_id and jobs.get(job_id) and jobs[job_id]["status"] in FINAL)


def _html(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in COLUMNS) + "</tr>"
        for row in rows
    )
    return (
        "<!doctype html><meta charset=utf-8><title>bg-remover load test</title>"
        "<style>td,th{border:1px solid #ccc;padding:2px 6px;font:13px sans-serif}</style>"
        f"<table><tr>{head}</tr>{body}</table>"
        '<p><img src="latency.png" alt="latency over time"></p>'
        '<p><a href="locust.html">Locust report</a> · <a href="summary.csv">summary.csv</a> · '
        '<a href="jobs.csv">jobs.csv</a></p>'
    )
