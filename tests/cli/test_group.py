"""``bg-remover group``: every input exactly once, unreadable files reported, JSON as PRODUCT.md says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from bgremover.cli import app

JUICE = "grocery_val/val/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_00{}.jpg"
APPLE = "grocery_val/val/Fruit/Apple/Golden-Delicious/Golden-Delicious_00{}.jpg"


def _shoot(shared_data: Path, folder: Path) -> None:
    folder.mkdir()
    for n in (1, 2, 3):
        shutil.copy(shared_data / JUICE.format(n), folder / f"juice-{n}.jpg")
        shutil.copy(shared_data / APPLE.format(n), folder / f"apple-{n}.jpg")
    shutil.copy(shared_data / JUICE.format(1), folder / "juice-1-copy.jpg")
    shutil.copy(shared_data / "formats" / "truncated.jpg", folder / "truncated.jpg")
    (folder / "notes.txt").write_text("not a photo, and not an image suffix: skipped inside a folder")
    (folder / "empty.png").write_bytes(b"")


def test_every_file_once_and_bad_ones_reported(shared_data: Path, model_dir: Path, tmp_path: Path):
    shoot = tmp_path / "shoot"
    _shoot(shared_data, shoot)
    stray = tmp_path / "stray.jpg"
    stray.write_text("a text file with a photo's name")
    out = tmp_path / "groups.json"
    args = ["group", str(shoot), str(stray), str(shoot / "apple-1.jpg"), "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--model-dir", str(model_dir)])

    assert result.exit_code == 1, result.output  # some inputs were unusable
    report = json.loads(out.read_text())
    grouped = [f for g in report["groups"] for f in g["files"]]
    readable = {str(shoot / f"{kind}-{n}.jpg") for kind in ("juice", "apple") for n in (1, 2, 3)}
    assert sorted(grouped) == sorted(readable | {str(shoot / "juice-1-copy.jpg")})
    errors = {Path(e["file"]).name: e["code"] for e in report["errors"]}
    assert errors == {"truncated.jpg": "truncated", "empty.png": "empty", "stray.jpg": "not-an-image"}
    assert all(e["error"] for e in report["errors"])
    for group in report["groups"]:
        assert group["groupId"] and group["representative"] in group["files"]
    by_file = {f: g["groupId"] for g in report["groups"] for f in g["files"]}
    assert by_file[str(shoot / "juice-1.jpg")] == by_file[str(shoot / "juice-1-copy.jpg")]
    assert by_file[str(shoot / "juice-1.jpg")] != by_file[str(shoot / "apple-1.jpg")]
    assert "truncated.jpg" in result.output and "7 photos in" in result.output


def test_threshold_zero_keeps_only_exact_copies_together(shared_data: Path, model_dir: Path, tmp_path: Path):
    shoot = tmp_path / "shoot"
    _shoot(shared_data, shoot)
    photos = sorted(shoot.glob("*-*.jpg"))
    out = tmp_path / "groups.json"
    args = ["group", *map(str, photos), "--json", str(out), "--threshold", "0"]
    result = CliRunner().invoke(app, [*args, "--model-dir", str(model_dir)])
    assert result.exit_code == 0, result.output
    sizes = sorted(len(g["files"]) for g in json.loads(out.read_text())["groups"])
    assert sizes == [1, 1, 1, 1, 1, 2]


def test_missing_models_are_a_clear_error(tmp_path: Path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"")
    result = CliRunner().invoke(app, ["group", str(photo), "--model-dir", str(tmp_path / "no-models")])
    assert result.exit_code == 2
    assert "models fetch" in result.output
