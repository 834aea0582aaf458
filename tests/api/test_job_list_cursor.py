"""The job list's opaque cursor: what it encodes comes back, in UTC, and anything else is a 400."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bgremover.api.job_list import decode_cursor, encode_cursor
from bgremover.api.problems import ProblemError
from bgremover.ledger.base import Job, JobStatus, JobType

CREATED = datetime(2026, 12, 6, 22, 0, 0, 123456, tzinfo=UTC)


def _cursor(created_at: str, job_id: object = "j1") -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, job_id]).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_the_last_jobs_keyset() -> None:
    job = Job("j1", "t", JobType.GROUP_IMAGES, JobStatus.QUEUED, None, 0, 1, {}, {}, CREATED, CREATED)
    assert decode_cursor(encode_cursor(job)) == (CREATED, "j1")


def test_another_offset_is_read_as_the_same_instant_in_utc() -> None:
    local = CREATED.astimezone(timezone(timedelta(hours=2)))
    created_at, _ = decode_cursor(_cursor(local.isoformat()))
    assert created_at == CREATED and created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm9wZQ",
        _cursor("yesterday"),
        _cursor(CREATED.replace(tzinfo=None).isoformat()),
        _cursor(CREATED.isoformat(), 7),
    ],
    ids=["not-base64", "not-json", "not-a-time", "naive-time", "id-not-a-string"],
)
def test_anything_else_is_invalid(cursor: str) -> None:
    with pytest.raises(ProblemError) as refused:
        decode_cursor(cursor)
    assert (refused.value.status, refused.value.slug) == (400, "invalid-cursor")
