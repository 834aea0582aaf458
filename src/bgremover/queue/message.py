"""What a queue message says on AWS: one job id, as the JSON object ``{"jobId": "..."}``.

The same body is an SQS message and the payload of a Lambda ``Event`` invocation, so the Lambda worker
reads both alike. JSON, not Huey's pickle: a message that anyone with ``sqs:SendMessage`` can write
must never be unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

JOB_ID = "jobId"


def job_message(job_id: str) -> str:
    return json.dumps({JOB_ID: job_id}, separators=(",", ":"))


def job_id_of(message: str | bytes | Mapping[str, Any]) -> str:
    """The job id of a body or an already parsed event; ``ValueError`` when it names no job."""
    try:
        parsed = message if isinstance(message, Mapping) else json.loads(message)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a job message is JSON: {exc}") from exc
    job_id = parsed.get(JOB_ID) if isinstance(parsed, Mapping) else None
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f'a job message is {{"{JOB_ID}": "<id>"}}')
    return job_id
