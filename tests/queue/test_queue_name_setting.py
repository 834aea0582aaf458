"""``BGR_QUEUE_NAME``: deployments that share one Redis keep their jobs apart; the default is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from backends import REDIS_URL, redis_available, redis_namespace
from bgremover.settings import Settings
from bgremover.wiring import build_services
from bgremover.worker.consumer import build_consumer


def deployment(tmp_path: Path, name: str, queue_name: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / name / 'ledger.db'}",
        storage_url=f"file://{tmp_path / name / 'blobs'}",
        queue_url=REDIS_URL,
        queue_name=queue_name,
    )


def test_the_queue_name_is_a_setting_with_the_old_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BGR_QUEUE_NAME", raising=False)
    assert Settings().queue_name == "bgremover"
    monkeypatch.setenv("BGR_QUEUE_NAME", "shop-eu.prod")
    assert Settings().queue_name == "shop-eu.prod"
    with pytest.raises(ValidationError):
        Settings(queue_name="two words")


def test_two_deployments_on_one_redis_do_not_take_each_others_jobs(tmp_path: Path) -> None:
    reason = redis_available()
    if reason:
        pytest.skip(reason)
    with redis_namespace() as namespace:
        blue = build_services(deployment(tmp_path, "blue", f"{namespace}-blue"), migrate=True)
        seen: list[str] = []
        green = build_services(deployment(tmp_path, "green", f"{namespace}-green"), handler=seen.append)
        try:
            blue.dispatcher.enqueue("blue-job", timeout=5)
            assert green.dispatcher.depth() == 0 and green.dispatcher.next_task() is None
            assert blue.dispatcher.depth() == 1
            green.dispatcher.enqueue("green-job", timeout=5)
            task = green.dispatcher.next_task()
            assert task is not None
            green.dispatcher.execute(task)
            assert seen == ["green-job"] and blue.dispatcher.depth() == 1
        finally:
            blue.close()
            green.close()


def test_workers_consume_the_configured_queue(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        queue_name="green",
    )
    assert build_consumer(settings, workers=1).huey.name == "green"
