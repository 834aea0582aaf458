"""The delivery loop against a real HTTP receiver (``http.server`` on localhost), a real SQLite ledger
and the real per-tenant configuration cache on a file-tree parameter store. Backoff is a few
milliseconds so that retries happen within the test."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url

from backends import TcpProxy, free_port
from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.base import DeliveryStatus, WebhookDelivery
from bgremover.ledger.sql import SqlJobLedger
from bgremover.params import TenantConfigCache, config_key
from bgremover.params.local import LocalParameterStore
from bgremover.webhooks import generate_secret, verify
from bgremover.webhooks.delivery import DeliveryLoop, DeliveryOptions
from bgremover.webhooks.schedule import RetrySchedule
from bgremover.webhooks.sender import WebhookSender
from webhook_receiver import webhook_receiver

BASE_URL = "https://bgr.example.com"


class World:
    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.params = root / "params"
        self.ledger = SqlJobLedger.from_url(database_url or f"sqlite:///{root / 'ledger.db'}")
        self.configs = TenantConfigCache(LocalParameterStore(self.params), stage="dev", max_age_s=0)

    def configure(self, tenant: str, config: dict[str, object]) -> None:
        path = self.params / config_key("dev", tenant).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))

    def finish_job(self, tenant: str, *, fail: bool = False) -> str:
        """A job taken through the ledger's worker calls to a final state, its webhook queued."""
        job_id = uuid.uuid4().hex
        image = NewImage("img-0001", "a.jpg", f"{tenant}/{job_id}/a", "image/jpeg", 1)
        self.ledger.create_job(NewJob(job_id, tenant, JobType.REMOVE_BACKGROUND, [image]))
        assert self.ledger.claim(job_id, "worker", 60) is not None
        if fail:
            self.ledger.fail_claimed(job_id, "worker", {"title": "broken"}, notify=True)
        else:
            self.ledger.succeed(job_id, "worker", {"images": []}, notify=True)
        return job_id

    def loop(self, max_attempts: int = 3, poll_s: float = 0.02) -> DeliveryLoop:
        return DeliveryLoop(
            self.ledger,
            self.configs,
            WebhookSender(connect_timeout_s=2, timeout_s=2),
            RetrySchedule(max_attempts=max_attempts, base_s=0.01, max_s=0.05),
            owner=f"test-{uuid.uuid4().hex[:6]}",
            options=DeliveryOptions(public_base_url=BASE_URL, poll_s=poll_s, lease_s=30),
        )

    def status(self, job_id: str) -> DeliveryStatus | None:
        delivery = self.delivery(job_id)
        return None if delivery is None else delivery.status

    def delivery(self, job_id: str) -> WebhookDelivery | None:
        deliveries = self.ledger.webhook_deliveries_of(job_id)
        assert len(deliveries) <= 1
        return deliveries[0] if deliveries else None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.ledger.close()


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("bgr_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_flaky_receiver_gets_three_attempts_of_one_message_and_it_ends_delivered(world: World) -> None:
    secret = generate_secret()
    before = {o: counted(o) for o in ("retry", "delivered")}
    with webhook_receiver([500, 500, 200]) as receiver:
        world.configure("acme", {"webhook": {"url": receiver.url, "secret": secret}})
        job_id = world.finish_job("acme")
        loop = world.loop(max_attempts=5)
        loop.start()
        try:
            wait_until(lambda: world.status(job_id) is DeliveryStatus.DELIVERED)
        finally:
            loop.stop()
        received = receiver.snapshot()
    delivery = world.delivery(job_id)
    assert delivery is not None and (delivery.attempts, delivery.last_error) == (3, None)
    assert len(received) == 3
    assert {o: counted(o) - before[o] for o in before} == {"retry": 2, "delivered": 1}
    assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, retried
    assert received[0].headers["webhook-id"] == delivery.delivery_id
    for request in received:  # every attempt is signed afresh and verifies
        assert request.path == "/hooks" and request.headers["content-type"] == "application/json"
        body = verify(secret, request.body, request.headers)
    assert body == {
        "type": "job.succeeded",
        "timestamp": delivery.payload["timestamp"],
        "data": {
            "jobId": job_id,
            "tenantId": "acme",
            "status": "succeeded",
            "statusUrl": f"{BASE_URL}/v1/jobs/{job_id}",
        },
    }


def test_a_receiver_that_is_down_ends_failed_after_max_attempts(world: World) -> None:
    world.configure(
        "acme", {"webhook": {"url": f"http://127.0.0.1:{free_port()}/x", "secret": generate_secret()}}
    )
    job_id = world.finish_job("acme", fail=True)
    loop = world.loop(max_attempts=3)
    wait_until(lambda: loop.run_once() == 0 and world.status(job_id) is DeliveryStatus.FAILED)
    delivery = world.delivery(job_id)
    assert delivery is not None and delivery.event == "job.failed"
    assert delivery.attempts == 3 and delivery.last_error is not None
    assert delivery.last_error.startswith("ConnectError")
    time.sleep(0.1)
    assert loop.run_once() == 0  # given up: never tried again


def test_non_2xx_answers_and_redirects_are_failures_with_their_status(world: World) -> None:
    with webhook_receiver([302, 404]) as receiver:
        world.configure("acme", {"webhook": {"url": receiver.url, "secret": generate_secret()}})
        job_id = world.finish_job("acme")
        loop = world.loop(max_attempts=2)
        wait_until(lambda: loop.run_once() == 0 and world.status(job_id) is DeliveryStatus.FAILED)
        assert len(receiver.snapshot()) == 2
    delivery = world.delivery(job_id)
    assert delivery is not None and delivery.last_error == "HTTP 404"


def test_tenants_without_a_webhook_for_the_event_get_nothing(world: World) -> None:
    with webhook_receiver([200]) as receiver:
        world.configure(
            "picky",
            {"webhook": {"url": receiver.url, "secret": generate_secret(), "events": ["job.failed"]}},
        )
        silent = world.finish_job("nobody-configured")
        unwanted = world.finish_job("picky")
        wanted = world.finish_job("picky", fail=True)
        assert world.loop().run_once() == 3
        received = receiver.snapshot()
    assert world.delivery(silent) is None and world.delivery(unwanted) is None  # dropped, not sent
    assert [json.loads(r.body)["data"]["jobId"] for r in received] == [wanted]


def test_stop_returns_promptly_while_idle(world: World) -> None:
    loop = world.loop(poll_s=30)
    loop.start()
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 2


def test_the_loop_outlives_a_ledger_outage(tmp_path: Path, postgres_url: str) -> None:
    """PostgreSQL cut off under a running loop (connections reset, new ones refused): passes fail and
    are logged, the thread lives on, and a webhook queued after the outage is delivered."""
    proxy = TcpProxy(5432)
    world = World(
        tmp_path, make_url(postgres_url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    )
    secret = generate_secret()
    try:
        with webhook_receiver([200]) as receiver:
            world.configure("acme", {"webhook": {"url": receiver.url, "secret": secret}})
            loop = world.loop()
            loop.start()
            try:
                world.finish_job("acme")
                wait_until(lambda: len(receiver.snapshot()) == 1)
                proxy.cut()
                time.sleep(0.5)  # some passes fail meanwhile
                proxy.restore()
                job_id = wait_for(lambda: world.finish_job("acme"))
                wait_until(lambda: world.status(job_id) is DeliveryStatus.DELIVERED)
            finally:
                loop.stop()
            assert len(receiver.snapshot()) == 2
    finally:
        world.ledger.close()
        proxy.close()


def wait_for(action: Callable[[], str], timeout: float = 10.0) -> str:
    """``action``'s result once it stops failing on a connection the outage left broken."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
