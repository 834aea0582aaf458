"""A tenant's webhook configuration (parameter store JSON): validated when loaded, so a typo is
reported by the worker (which keeps the last good value) instead of silently sending nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bgremover.params.config import TenantConfig
from bgremover.webhooks import WebhookEvent, generate_secret

SECRET = generate_secret()


def test_defaults_send_every_event_and_hide_the_secret() -> None:
    config = TenantConfig.model_validate(
        {"webhook": {"url": "https://hooks.example.com/bgr", "secret": SECRET}}
    )
    assert config.webhook is not None and config.webhook.events == frozenset(WebhookEvent)
    assert all(config.wants_webhook(s) for s in ("succeeded", "failed", "canceled"))
    assert SECRET not in repr(config) and SECRET not in config.model_dump_json()
    assert not TenantConfig().wants_webhook("succeeded")


def test_events_can_be_chosen() -> None:
    config = TenantConfig.model_validate(
        {"webhook": {"url": "https://h.example.com", "secret": SECRET, "events": ["job.failed"]}}
    )
    assert config.wants_webhook("failed") and not config.wants_webhook("succeeded")


@pytest.mark.parametrize(
    "webhook",
    [
        {"url": "ftp://h.example.com", "secret": SECRET},  # not http(s)
        {"url": "not a url", "secret": SECRET},
        {"url": "https://h.example.com", "secret": "whsec_***"},  # not base64
        {"url": "https://h.example.com", "secret": "whsec_c2hvcnQ="},  # 5 bytes: too short
        {"url": "https://h.example.com", "secret": SECRET, "events": ["job.done"]},
        {"url": "https://h.example.com", "secret": SECRET, "events": []},
        {"url": "https://h.example.com", "secret": SECRET, "header": "x"},  # unknown key
    ],
)
def test_invalid_webhooks_are_refused(webhook: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TenantConfig.model_validate({"webhook": webhook})
