"""Fetching, verifying and refetching models; the network is used only by the session fixture."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import onnx
import pytest

from bgremover.models import manifest
from bgremover.models.fetch import ChecksumMismatchError, fetch_models, verify_model
from bgremover.models.registry import BUILTIN_MODELS, get_model, register_model
from bgremover.models.sources import LocalFile

U2NETP_SHA = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".fetch.lock")


def test_default_model_is_fetched_intact(model_dir: Path) -> None:
    spec = get_model("u2netp")
    result = verify_model(spec, model_dir)
    assert result.ok, result.reason
    assert _sha(result.path) == U2NETP_SHA
    assert result.path.stat().st_size == 4_574_861


def test_fetch_is_idempotent(model_dir: Path) -> None:
    before = (model_dir / "u2netp.onnx").stat().st_mtime_ns
    [result] = fetch_models(["u2netp"], model_dir)
    assert result.status == "present"
    assert (model_dir / "u2netp.onnx").stat().st_mtime_ns == before


def test_user_model_from_path_is_fetched_verified_and_refetched_when_corrupt(
    model_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    register_model("mine", str(model_dir / "u2netp.onnx"), U2NETP_SHA.upper(), model_dir=root)
    assert not verify_model(get_model("mine", root), root).ok

    assert [r.status for r in fetch_models(["mine"], root)] == ["fetched"]
    stored = root / "mine.onnx"
    assert _sha(stored) == U2NETP_SHA

    with stored.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    result = verify_model(get_model("mine", root), root)
    assert not result.ok and "sha256" in result.reason
    assert [r.status for r in fetch_models(["mine"], root)] == ["refetched"]
    assert verify_model(get_model("mine", root), root).ok
    assert _leftovers(root) == []


def test_wrong_checksum_is_refused_and_leaves_nothing(model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    register_model("wrong", str(model_dir / "u2netp.onnx"), "0" * 64, model_dir=root)
    with pytest.raises(ChecksumMismatchError, match="expected 0000"):
        fetch_models(["wrong"], root)
    assert not (root / "wrong.onnx").exists()
    assert _leftovers(root) == []


@dataclasses.dataclass(frozen=True)
class HalfWrittenSource:
    """Test double of a source whose download dies half-way (network drop, killed process)."""

    real: Path

    def materialise(self, dest: Path) -> None:
        dest.write_bytes(self.real.read_bytes()[:1000])
        raise ConnectionError("connection reset")

    def describe(self) -> str:
        return "half-written"


def test_interrupted_download_never_leaves_a_partial_model(model_dir: Path, tmp_path: Path) -> None:
    from bgremover.models.fetch import _fetch_one

    root = tmp_path / "models"
    root.mkdir()
    spec = dataclasses.replace(get_model("u2netp"), source=HalfWrittenSource(model_dir / "u2netp.onnx"))
    with pytest.raises(ConnectionError):
        _fetch_one(spec, root)
    assert list(root.iterdir()) == []


def _rename_graph(src: Path, dst: Path) -> None:
    """A real conversion whose output bytes depend on the installed onnx version (as a PyTorch->ONNX
    conversion's do): parse the model and write it back with a different graph name."""
    model = onnx.load(str(src))
    model.graph.name = "converted"
    onnx.save(model, str(dst))


def test_converted_model_checksum_is_recorded_and_verified(model_dir: Path, tmp_path: Path) -> None:
    from bgremover.models.fetch import _fetch_one

    root = tmp_path / "models"
    root.mkdir()
    spec = dataclasses.replace(
        get_model("u2netp"),
        name="converted",
        filename="converted.onnx",
        source=LocalFile(model_dir / "u2netp.onnx"),
        convert=_rename_graph,
    )
    result = _fetch_one(spec, root)
    assert result.status == "fetched"
    assert result.sha256 != U2NETP_SHA
    assert manifest.read_manifest(root)["converted"]["sha256"] == _sha(root / "converted.onnx")
    assert manifest.read_manifest(root)["converted"]["source_sha256"] == U2NETP_SHA
    assert onnx.load(str(root / "converted.onnx")).graph.name == "converted"
    assert verify_model(spec, root).ok

    shutil.copyfile(model_dir / "u2netp.onnx", root / "converted.onnx")
    assert not verify_model(spec, root).ok
    assert _fetch_one(spec, root).status == "refetched"
    assert verify_model(spec, root).ok


@pytest.mark.parametrize(
    ("name", "sha", "message"),
    [
        ("Bad Name", "a" * 64, "model name"),
        ("u2netp", "a" * 64, "built-in"),
        ("ok-name", "xyz", "64 hexadecimal"),
    ],
)
def test_register_rejects_bad_input(tmp_path: Path, name: str, sha: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_model(name, "/nowhere.onnx", sha, model_dir=tmp_path)


def test_registration_is_persisted_and_url_is_not_downloaded(tmp_path: Path) -> None:
    register_model(
        "remote", "https://example.invalid/m.onnx", "b" * 64, model_dir=tmp_path, input_size=(1024, 1024)
    )
    spec = get_model("remote", tmp_path)
    assert spec.source.describe() == "https://example.invalid/m.onnx"
    assert spec.input_size == (1024, 1024)
    assert not (tmp_path / "remote.onnx").exists()
    assert "remote" not in BUILTIN_MODELS
