from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bgremover.cli import app

runner = CliRunner()


def test_list_and_verify_show_the_fetched_model(model_dir: Path) -> None:
    listed = runner.invoke(app, ["models", "list", "--model-dir", str(model_dir)], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "u2netp" in listed.output and "ok" in listed.output
    verified = runner.invoke(app, ["models", "verify", "--model-dir", str(model_dir)])
    assert verified.exit_code == 0, verified.output


def test_verify_fails_on_an_empty_model_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "verify", "--model-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "missing" in result.output and "models fetch" in result.output


def test_register_then_fetch_a_local_model(model_dir: Path, tmp_path: Path) -> None:
    sha = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
    src = str(model_dir / "u2netp.onnx")
    reg = runner.invoke(
        app, ["models", "register", "copy", src, "--sha256", sha, "--model-dir", str(tmp_path)]
    )
    assert reg.exit_code == 0, reg.output
    fetched = runner.invoke(app, ["models", "fetch", "copy", "--model-dir", str(tmp_path)])
    assert fetched.exit_code == 0, fetched.output
    assert "fetched" in fetched.output
    assert (tmp_path / "copy.onnx").stat().st_size == 4_574_861
