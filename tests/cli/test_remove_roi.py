"""`bg-remover remove --roi` and `--subject` on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from bgremover.cli import app

runner = CliRunner()


def _remove(*args: str, model_dir: Path):
    return runner.invoke(app, ["remove", *args, "--model-dir", str(model_dir)])


def test_roi_keeps_the_foreground_inside_the_rectangle(
    shared_data: Path, tmp_path: Path, model_dir: Path
) -> None:
    rocket = shared_data / "formats" / "rocket.jpg"  # 640x427
    out = tmp_path / "out"
    args = [str(rocket), "-o", str(out), "--mask", "--roi", "200px 0% 75% 400px", "--subject", "largest"]
    result = _remove(*args, model_dir=model_dir)
    assert result.exit_code == 0, result.output
    mask = np.asarray(Image.open(out / "rocket.png"))
    assert mask.shape == (427, 640)
    inside = np.zeros_like(mask, bool)
    inside[0:400, 200:480] = True
    assert not mask[~inside].any()
    assert mask[inside].max() == 255


def test_an_invalid_roi_is_a_usage_error(shared_data: Path, tmp_path: Path, model_dir: Path) -> None:
    rocket = shared_data / "formats" / "rocket.jpg"
    result = _remove(str(rocket), "-o", str(tmp_path / "out"), "--roi", "0% 0% 100%", model_dir=model_dir)
    assert result.exit_code == 2
    assert "roi" in result.output and "four values" in result.output
    assert not (tmp_path / "out").exists()


def test_a_roi_outside_one_photo_fails_that_photo_only(
    shared_data: Path, tmp_path: Path, model_dir: Path
) -> None:
    small = shared_data / "formats" / "coffee.png"  # 600x400
    large = shared_data / "formats" / "rocket.jpg"  # 640x427
    out = tmp_path / "out"
    result = _remove(
        str(small), str(large), "-o", str(out), "--roi", "610px 0px 640px 100px", model_dir=model_dir
    )
    assert result.exit_code == 1, result.output
    assert "coffee.png" in result.output and "leaves no pixel" in result.output
    assert "1 written, 1 failed, 2 total" in result.output
    assert [p.name for p in out.iterdir()] == ["rocket.png"]
