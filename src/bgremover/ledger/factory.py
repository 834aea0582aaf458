"""The one place that turns ``BGR_DATABASE_URL`` into a ledger (and its stored API keys).

``sqlite:///PATH`` and ``postgresql://...`` -> ``SqlJobLedger``; ``dynamodb://TABLE`` ->
``DynamoDbJobLedger`` (boto3 takes the endpoint and region from its own configuration). The
adapters are imported on demand, so a process on one backend never loads the other's client library.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bgremover.ledger.base import ApiKeyStore, JobLedger, utcnow

DYNAMODB_SCHEME = "dynamodb://"


def ledger_from_url(url: str, *, migrate: bool = True, clock: Callable[[], datetime] = utcnow) -> JobLedger:
    """The ledger on ``url``; ``migrate`` creates or upgrades its schema first (idempotent). Each call
    opens its own connections (an engine, a boto3 client), as a separate process would."""
    if url.startswith(DYNAMODB_SCHEME):
        from bgremover.ledger.dynamodb import DynamoDbJobLedger

        return DynamoDbJobLedger.from_url(url, migrate=migrate, clock=clock)
    from bgremover.ledger.sql import SqlJobLedger

    return SqlJobLedger.from_url(url, migrate=migrate, clock=clock)


def key_store_from_url(url: str, *, migrate: bool = False) -> ApiKeyStore:
    """Stored API keys on ``url`` for a process that has no ledger open (the CLI, a bare API); the
    store owns its connections and closes them."""
    if url.startswith(DYNAMODB_SCHEME):
        return ledger_from_url(url, migrate=migrate).key_store()  # boto3 clients hold nothing to close
    from bgremover.ledger.sql_keys import SqlApiKeyStore

    return SqlApiKeyStore.from_url(url, migrate=migrate)
