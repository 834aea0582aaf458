from __future__ import annotations

from pathlib import Path

from bgremover.models.sessions import default_threads, get_session


def test_one_session_per_model_per_process(model_dir: Path) -> None:
    first = get_session(model_dir / "u2netp.onnx")
    assert get_session(str(model_dir / "." / "u2netp.onnx")) is first
    assert [i.shape for i in first.get_inputs()] == [[1, 3, 320, 320]]


def test_threads_follow_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("BGR_ORT_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("BGR_ORT_THREADS")
    assert default_threads() >= 1


def test_one_session_per_thread_count(model_dir: Path) -> None:
    single = get_session(model_dir / "u2netp.onnx", threads=1)
    assert get_session(model_dir / "u2netp.onnx", 1) is single
    assert single is not get_session(model_dir / "u2netp.onnx", threads=default_threads() + 1)
    assert single.get_session_options().intra_op_num_threads == 1


def test_sessions_plan_no_activation_block(model_dir: Path) -> None:
    """Peak memory: the arena reuses buffers rather than reserving the whole planned block per run."""
    assert not get_session(model_dir / "u2netp.onnx").get_session_options().enable_mem_pattern
