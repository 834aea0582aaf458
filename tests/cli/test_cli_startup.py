"""Start-up of the ``bg-remover`` command: loading it, and running ``remove``, must not import the
libraries only other commands need (scikit-learn took half of a 1.4 s start-up). Checked in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SERVICE_AND_GROUPING = ["sklearn", "scipy", "fastapi", "starlette", "uvicorn", "sqlalchemy", "jwt"]
INFERENCE = ["onnxruntime", "cv2", "numpy", "httpx"]  # httpx: the model registry's sources


def _imported_after(code: str) -> list[str]:
    """Which of the watched modules are loaded once ``code`` has run in a new interpreter."""
    watched = SERVICE_AND_GROUPING + INFERENCE
    script = (
        f"import sys\n{code}\nprint(__import__('json').dumps([m for m in {watched!r} if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_loading_the_command_imports_no_heavy_library() -> None:
    assert _imported_after("import bgremover.cli") == []


def test_remove_imports_neither_grouping_nor_the_service(
    shared_data: Path, model_dir: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "rocket.jpg"
    shutil.copyfile(shared_data / "formats" / "rocket.jpg", photo)
    argv = ["bg-remover", "remove", str(photo), "-o", str(tmp_path / "out"), "--model-dir", str(model_dir)]
    code = (
        f"sys.argv = {argv!r}\nfrom bgremover.cli import app\n"
        "try:\n    app(standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    imported = _imported_after(code)
    assert (tmp_path / "out" / "rocket.png").is_file()
    assert set(imported) == set(INFERENCE)  # what a cut-out needs, and nothing more
