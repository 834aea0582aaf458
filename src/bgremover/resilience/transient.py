"""Which exceptions mean "a backend is briefly unreachable" (PostgreSQL, Redis, the blob store), as
opposed to a bug or bad input. The API answers them with 503 and a worker hands the job back for a
retry instead of failing it: a blip in the database must never fail a customer's job."""

from __future__ import annotations

import redis
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import ReadTimeoutError as BotoReadTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

LEDGER_OUTAGE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
QUEUE_OUTAGE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
STORAGE_OUTAGE: tuple[type[Exception], ...] = (BotoConnectionError, BotoReadTimeoutError)
BACKEND_OUTAGE = LEDGER_OUTAGE + QUEUE_OUTAGE + STORAGE_OUTAGE
