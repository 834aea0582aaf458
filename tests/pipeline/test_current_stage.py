"""The job's ``stage`` follows what the worker does, image by image, without a ledger write per change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pipeline_support import Bench, product

from bgremover.ledger import JobStatus, JobType
from bgremover.pipeline import current_stage
from bgremover.pipeline.current_stage import CurrentStage


class RecordingStageWriter:
    """Test double of the ledger's ``start_stage``: remembers what was written, and when."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def start_stage(self, job_id: str, owner: str, stage: str) -> None:
        self.written.append(stage)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_per_image_changes_are_written_at_most_once_per_interval() -> None:
    ledger, clock = RecordingStageWriter(), ManualClock()
    stage = CurrentStage(ledger, "job", "owner", min_interval_s=60, clock=clock)
    for name in ("decode", "thumbnails", "cutouts"):
        stage(name)
    assert ledger.written == ["decode"] and stage.current == "cutouts"
    clock.now += 61
    stage("embeddings")
    assert ledger.written == ["decode", "embeddings"]
    stage("grouping")  # a whole-job stage is written at once
    stage("store")
    assert ledger.written == ["decode", "embeddings", "grouping", "store"]
    stage.close()


def test_a_held_back_stage_is_written_when_the_interval_ends() -> None:
    ledger = RecordingStageWriter()
    stage = CurrentStage(ledger, "job", "owner", min_interval_s=0.2)
    stage("decode")
    stage("thumbnails")
    stage("cutouts")  # a long cut-out: the poller must not see "decode" until it ends
    assert ledger.written == ["decode"]
    deadline = time.monotonic() + 5
    while ledger.written == ["decode"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ledger.written == ["decode", "cutouts"]
    stage.close()


def test_close_drops_a_pending_write() -> None:
    ledger = RecordingStageWriter()
    stage = CurrentStage(ledger, "job", "owner", min_interval_s=0.1)
    stage("decode")
    stage("cutouts")
    stage.close()
    time.sleep(0.3)
    stage("embeddings")
    assert ledger.written == ["decode"]


def _recorded_stages(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    start_stage = bench.ledger.start_stage

    def recording(job_id: str, owner: str, stage: str) -> None:
        start_stage(job_id, owner, stage)
        job = bench.ledger.get_job_for_worker(job_id)
        assert job is not None
        written.append(job.stage or "")  # what a poller reads now

    monkeypatch.setattr(bench.ledger, "start_stage", recording)
    return written


def test_the_job_shows_each_stage_of_each_image_as_it_runs(
    bench: Bench, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(current_stage, "DEFAULT_MIN_INTERVAL_S", 0.0)
    written = _recorded_stages(bench, monkeypatch)
    job_id = bench.submit(JobType.GROUP_IMAGES, [(f"{n}.jpg", product(shared_data, n)) for n in (0, 4)])
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.stage is None
    per_image = ["decode", "thumbnails", "cutouts", "embeddings"]
    assert written == [*per_image, *per_image, "grouping", "store"]


def test_by_default_a_fast_job_writes_few_stage_changes(
    bench: Bench, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(current_stage, "DEFAULT_MIN_INTERVAL_S", 3600.0)
    written = _recorded_stages(bench, monkeypatch)
    job_id = bench.submit(
        JobType.REMOVE_BACKGROUND, [(f"{n}.jpg", product(shared_data, n)) for n in range(4)]
    )
    bench.runner()(job_id)
    assert written == ["decode", "store"]
