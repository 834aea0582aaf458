"""Signed webhooks: a job's final state is announced to the URL its tenant configured.

The ledger writes an outbox row in the same transaction as the job's final state
(``bgremover.ledger.outbox`` on SQL, ``bgremover.ledger.dynamodb_outbox`` on DynamoDB); a delivery loop
in every worker process sends it (``bgremover.webhooks.delivery``), signed the Standard Webhooks way
(``bgremover.webhooks.signing``).
Receivers verify with ``bgremover.webhooks.verify``. The event names and payload are outbox records,
defined beside the ledger port (``bgremover.ledger.announcement``) and re-exported here.
"""

from bgremover.webhooks.events import WebhookEvent, event_for_status, event_payload, render_body
from bgremover.webhooks.signing import (
    WebhookVerificationError,
    generate_secret,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "WebhookEvent",
    "WebhookVerificationError",
    "event_for_status",
    "event_payload",
    "generate_secret",
    "render_body",
    "sign",
    "signed_headers",
    "verify",
]
