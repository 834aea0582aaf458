"""The shared poller behind event streams, on the real SQLite ledger: many followers, one read a tick,
nothing left running when the last follower goes, and no stream of a later event loop left waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bgremover.api.job_watch import JobWatcher
from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.sql import SqlJobLedger

TENANT = "acme"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqlJobLedger]:
    ledger = SqlJobLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


def _job(ledger: SqlJobLedger) -> str:
    job_id = uuid.uuid4().hex
    image = NewImage("img-0001", "a.png", f"{TENANT}/{job_id}/a", "image/png", 1)
    ledger.create_job(NewJob(job_id, TENANT, JobType.GROUP_IMAGES, [image]))
    return job_id


async def _states(watcher: JobWatcher, ledger: SqlJobLedger, job_id: str, out: list[str]) -> None:
    job = ledger.get_job(TENANT, job_id)
    async for state in watcher.follow(TENANT, job):
        out.append(f"{state.status.value}:{state.stage}")


def test_followers_see_each_change_and_the_poller_stops_after_the_last(ledger: SqlJobLedger) -> None:
    job_id = _job(ledger)
    watcher = JobWatcher(ledger, interval_s=0.02)

    async def scenario() -> tuple[list[str], list[str]]:
        first: list[str] = []
        second: list[str] = []
        followers = [asyncio.create_task(_states(watcher, ledger, job_id, out)) for out in (first, second)]
        await asyncio.sleep(0.1)
        ledger.claim(job_id, "w", 30)
        await asyncio.sleep(0.1)
        ledger.start_stage(job_id, "w", "cutouts")
        await asyncio.sleep(0.1)
        ledger.succeed(job_id, "w", {"groups": []})
        await asyncio.wait_for(asyncio.gather(*followers), timeout=5)
        await asyncio.sleep(0.1)
        assert watcher._poller is not None and watcher._poller.done()  # nothing to follow: it ended
        assert watcher._watched == {}
        return first, second

    first, second = asyncio.run(scenario())
    assert first == second == ["queued:None", "running:None", "running:cutouts", "succeeded:None"]


def test_a_late_follower_with_an_older_read_does_not_turn_the_job_back(ledger: SqlJobLedger) -> None:
    job_id = _job(ledger)
    stale = ledger.get_job(TENANT, job_id)
    ledger.claim(job_id, "w", 30)
    watcher = JobWatcher(ledger, interval_s=0.02)

    async def scenario() -> list[str]:
        seen: list[str] = []
        follower = asyncio.create_task(_states(watcher, ledger, job_id, seen))
        await asyncio.sleep(0.1)
        older = dataclasses.replace(stale, updated_at=stale.updated_at - timedelta(seconds=1))
        late = watcher.follow(TENANT, older)
        assert (await anext(late)).status.value == "running"  # the watch's newer state, not the old read
        await late.aclose()
        ledger.succeed(job_id, "w", {"groups": []})
        await asyncio.wait_for(follower, timeout=5)
        return seen

    assert asyncio.run(scenario()) == ["running:None", "succeeded:None"]


def test_a_watcher_serves_event_loops_one_after_another(ledger: SqlJobLedger) -> None:
    """A test client may run each request on a loop of its own: the poller follows to the new loop."""
    watcher = JobWatcher(ledger, interval_s=0.02)
    for _ in range(2):
        job_id = _job(ledger)

        async def scenario(job_id: str = job_id) -> list[str]:
            seen: list[str] = []
            follower = asyncio.create_task(_states(watcher, ledger, job_id, seen))
            await asyncio.sleep(0.05)
            ledger.claim(job_id, "w", 30)
            ledger.succeed(job_id, "w", {"groups": []})
            await asyncio.wait_for(follower, timeout=5)
            return seen

        assert asyncio.run(scenario())[-1] == "succeeded:None"
