"""What a tenant may configure. Unknown keys are rejected so that a typo in the store is reported
(the worker logs it and keeps the last good value) instead of being silently ignored. Request options
win over these: they apply where a request leaves a choice open."""

from __future__ import annotations

import base64
import binascii

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

from bgremover.ledger.announcement import WebhookEvent, event_for_status

SECRET_PREFIX = "whsec_"  # Standard Webhooks' secret format; bgremover.webhooks.signing signs with it


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional); ``ValueError`` if bad."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret must be whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


class WebhookConfig(BaseModel):
    """Where a tenant's final job states are announced. Set by the operator in the parameter store,
    never taken from a request body, so a client cannot make workers call arbitrary URLs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: AnyHttpUrl = Field(description="The receiver; https in production.")
    secret: SecretStr = Field(description="whsec_<base64>, shared with the receiver, signs every message.")
    events: frozenset[WebhookEvent] = Field(
        default=frozenset(WebhookEvent), min_length=1, description="Events to send; default: all."
    )

    @field_validator("secret")
    @classmethod
    def _secret_is_a_key(cls, value: SecretStr) -> SecretStr:
        key = secret_key(value.get_secret_value())
        if len(key) < 16:
            raise ValueError("a webhook secret must hold at least 16 random bytes")
        return value

    def wants(self, event: str) -> bool:
        return event in self.events


class TenantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    grouping_threshold: float | None = Field(
        default=None, gt=0, lt=2, description="Cosine distance splitting groups; None: the engine's default."
    )
    thumbnail_size: int = Field(default=256, ge=16, le=2048, description="Longest side of thumbnails.")
    cutout_model: str | None = Field(default=None, description="A fetched cut-out model; None: the default.")
    job_time_limit_s: float | None = Field(
        default=None, gt=0, description="Per-job limit for this tenant; None: the deployment's."
    )
    webhook: WebhookConfig | None = Field(default=None, description="Signed webhooks; None: none sent.")

    def wants_webhook(self, status: str) -> bool:
        """Whether a job ending in ``status`` (succeeded, failed, canceled) is announced to the tenant."""
        return self.webhook is not None and self.webhook.wants(event_for_status(status))
