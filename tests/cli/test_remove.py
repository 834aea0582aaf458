"""`bg-remover remove` end to end on real files: outputs, options, bad files and the exit code."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bgremover.cli import app
from bgremover.cutout import engine as engine_module
from bgremover.models import sessions as session_cache

runner = CliRunner()


@pytest.fixture
def inputs(shared_data: Path, tmp_path: Path) -> Path:
    """Two good photos (one in a sub-folder, same stem as a third), a truncated JPEG and a text file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    formats = shared_data / "formats"
    shutil.copyfile(formats / "rocket.jpg", root / "rocket.jpg")
    shutil.copyfile(formats / "horse.png", root / "sub" / "horse.png")
    shutil.copyfile(formats / "coffee.png", root / "sub" / "rocket.png")
    shutil.copyfile(formats / "truncated.jpg", root / "broken.jpg")
    (root / "notes.txt").write_text("not an image, and not picked from a folder")
    return root


def _run(*args: str, model_dir: Path):
    return runner.invoke(app, ["remove", *args, "--model-dir", str(model_dir)])


def test_folder_batch_reports_and_skips_a_bad_file(inputs: Path, tmp_path: Path, model_dir: Path) -> None:
    out = tmp_path / "out"
    result = _run(str(inputs), "-o", str(out), model_dir=model_dir)
    assert result.exit_code == 1, result.output
    assert "broken.jpg" in result.output and "truncated" in result.output
    assert "3 written, 1 failed, 4 total" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["horse.png", "rocket-2.png", "rocket.png"]
    cutout = Image.open(out / "rocket.png")
    assert (cutout.mode, cutout.size) == ("RGBA", (640, 427))


def test_all_good_files_exit_zero(inputs: Path, tmp_path: Path, model_dir: Path) -> None:
    out = tmp_path / "out"
    result = _run(
        str(inputs / "rocket.jpg"),
        str(inputs / "sub"),
        "-o",
        str(out),
        "--refine",
        "--second-pass",
        model_dir=model_dir,
    )
    assert result.exit_code == 0, result.output
    assert "3 written, 0 failed" in result.output


def test_mask_option_writes_the_8_bit_mask_at_input_size(
    inputs: Path, tmp_path: Path, model_dir: Path
) -> None:
    out = tmp_path / "out"
    result = _run(str(inputs / "rocket.jpg"), "-o", str(out), "--mask", model_dir=model_dir)
    assert result.exit_code == 0, result.output
    mask = Image.open(out / "rocket.png")
    assert (mask.mode, mask.size) == ("L", (640, 427))
    values = np.asarray(mask)
    assert values.min() == 0 and values.max() == 255


def test_jpg_crop_and_colour_options(inputs: Path, tmp_path: Path, model_dir: Path) -> None:
    out = tmp_path / "out"
    args = ["--format", "jpg", "--crop", "--margin", "4", "--bg-color", "#00ff00", "--max-size", "100"]
    result = _run(str(inputs / "sub" / "horse.png"), "-o", str(out), *args, model_dir=model_dir)
    assert result.exit_code == 0, result.output
    image = Image.open(out / "horse.jpg")
    assert (image.format, image.mode) == ("JPEG", "RGB")
    assert max(image.size) == 100


def test_bad_option_is_a_usage_error(inputs: Path, tmp_path: Path, model_dir: Path) -> None:
    result = _run(str(inputs), "-o", str(tmp_path / "out"), "--bg-color", "red", model_dir=model_dir)
    assert result.exit_code == 2
    assert "bg_color" in result.output
    assert not (tmp_path / "out").exists()


def test_no_images_found_is_a_usage_error(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _run(str(tmp_path / "empty"), "-o", str(tmp_path / "out"), model_dir=model_dir)
    assert result.exit_code == 2
    assert "no image files" in result.output


@pytest.fixture
def fresh_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """An empty session cache, and no cached engine holding a session opened earlier in the run."""
    sessions: dict = {}
    monkeypatch.setattr(session_cache, "_SESSIONS", sessions)
    engine_module._engine.cache_clear()
    yield sessions
    engine_module._engine.cache_clear()  # its engines' sessions are not in the restored cache


def test_lanes_open_only_the_session_they_use(
    inputs: Path, tmp_path: Path, model_dir: Path, fresh_sessions: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two lanes on two cores infer on single-threaded sessions; no two-threaded one is opened too."""
    monkeypatch.setenv("BGR_ORT_THREADS", "2")
    result = _run(
        str(inputs / "rocket.jpg"), "-o", str(tmp_path / "out"), "--lanes", "2", model_dir=model_dir
    )
    assert result.exit_code == 0, result.output
    assert [threads for _, threads in fresh_sessions] == [1]
