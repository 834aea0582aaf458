"""The background refresher: loads at start, reloads on a period, early reloads rate-limited."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import REGISTRY

from bgremover.tenancy.refresher import BackgroundRefresher


class Counter:
    """A refresh function that counts its calls, fails on demand and signals each call."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.called = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.called.set()
        if self.fail:
            raise OSError("source unreachable")


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_start_loads_synchronously_and_raises_when_the_first_load_fails() -> None:
    counter = Counter()
    counter.fail = True
    refresher = BackgroundRefresher("t", counter, interval_s=60)
    with pytest.raises(OSError):
        refresher.start()
    assert counter.calls == 1


def test_periodic_reloads_continue_after_a_failure() -> None:
    counter = Counter()
    refresher = BackgroundRefresher("t", counter, interval_s=0.05)
    refresher.start()
    try:
        counter.fail = True
        wait_for(lambda: refresher.failures >= 2)
        counter.fail = False
        calls = counter.calls
        wait_for(lambda: counter.calls > calls + 1)
    finally:
        refresher.stop()
    stopped_at = counter.calls
    time.sleep(0.2)
    assert counter.calls == stopped_at  # stop ends the thread


def test_early_reloads_are_rate_limited_to_one_per_min_interval() -> None:
    now = [1000.0]
    counter = Counter()
    refresher = BackgroundRefresher("t", counter, interval_s=3600, min_interval_s=30, clock=lambda: now[0])
    refresher.start()  # attempt at t=1000
    try:
        assert refresher.request() is False  # too soon after the start's load
        now[0] += 31
        counter.called.clear()
        granted = [refresher.request() for _ in range(100)]
        assert granted.count(True) == 1
        assert counter.called.wait(5)
        wait_for(lambda: refresher.request() is False and counter.calls == 2)
        now[0] += 10
        assert [refresher.request() for _ in range(10)].count(True) == 0
        assert counter.calls == 2
    finally:
        refresher.stop()


def test_request_before_start_does_nothing() -> None:
    counter = Counter()
    assert BackgroundRefresher("t", counter, interval_s=1).request() is False
    assert counter.calls == 0


def test_failures_are_counted_and_the_last_good_reload_is_timestamped() -> None:
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"source": "metrics-test"}) or 0.0

    counter = Counter()
    refresher = BackgroundRefresher("metrics-test", counter, interval_s=0.05)
    before = time.time()
    refresher.start()
    try:
        assert sample("bgr_credential_last_refresh_timestamp_seconds") >= before
        counter.fail = True
        wait_for(lambda: sample("bgr_credential_refresh_failures_total") >= 2)
        stale = sample("bgr_credential_last_refresh_timestamp_seconds")
        time.sleep(0.1)
        assert sample("bgr_credential_last_refresh_timestamp_seconds") == stale  # failures leave it
        counter.fail = False
        wait_for(lambda: sample("bgr_credential_last_refresh_timestamp_seconds") > stale)
    finally:
        refresher.stop()
