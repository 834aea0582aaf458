"""EfficientNet-Lite0: the safe checkpoint reader and the converted ONNX model fetched by ``models fetch``."""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgremover.models.efficientnet import FEATURE_DIM, LEGACY_MAGIC, CheckpointError, read_state_dict
from bgremover.models.fetch import model_path
from bgremover.models.sessions import get_session

# ImageNet class indices the sanity check accepts.
ESPRESSO, CUP, TABBY, EGYPTIAN_CAT = 967, 968, 281, 285
# Computed once by hand with torch 2.13 (torch.load + a functional re-implementation with TF "same"
# padding and unfolded batch norm) on the same 224x224 bilinear resizes; the ONNX model matched within 6e-6.
TORCH_REFERENCE = {
    "coffee": ([0.082481, 1.216625, 0.951467, 0.0, 0.0, 0.0], 216.94302),
    "chelsea": ([0.015052, 0.08199, 0.0, 0.218509, 1.838962, 0.364598], 178.99977),
}


def _pixels(shared_data: Path, name: str) -> np.ndarray:
    image = Image.open(shared_data / "formats" / f"{name}.png").convert("RGB")
    resized = image.resize((224, 224), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def session(model_dir: Path):
    return get_session(model_path("efficientnet-lite0", model_dir))


@pytest.mark.parametrize(
    ("name", "accepted"), [("coffee", {ESPRESSO, CUP}), ("chelsea", {TABBY, EGYPTIAN_CAT})]
)
def test_classifier_head_recognises_the_sample_photos(
    session, shared_data: Path, name: str, accepted: set
) -> None:
    logits = session.run(["logits"], {"image": _pixels(shared_data, name)[None]})[0][0]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    assert int(np.argmax(probs)) in accepted
    assert probs.max() > 0.5


@pytest.mark.parametrize("name", sorted(TORCH_REFERENCE))
def test_features_match_torch_reference(session, shared_data: Path, name: str) -> None:
    features = session.run(["features"], {"image": _pixels(shared_data, name)[None]})[0][0]
    head, total = TORCH_REFERENCE[name]
    assert features.shape == (FEATURE_DIM,)
    np.testing.assert_allclose(features[: len(head)], head, atol=2e-3)
    assert features.sum() == pytest.approx(total, rel=1e-3)


def test_batch_is_dynamic_and_rows_are_independent(session, shared_data: Path) -> None:
    coffee, chelsea = _pixels(shared_data, "coffee"), _pixels(shared_data, "chelsea")
    batch = session.run(["features"], {"image": np.stack([coffee, chelsea, coffee])})[0]
    single = session.run(["features"], {"image": chelsea[None]})[0][0]
    assert batch.shape == (3, FEATURE_DIM)
    np.testing.assert_allclose(batch[1], single, atol=1e-4)
    np.testing.assert_allclose(batch[0], batch[2], atol=1e-6)


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Just enough of torch's module names for pickle to write a legacy checkpoint as torch would."""
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError(args)

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch_mod.FloatStorage, utils_mod._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)
    return types.SimpleNamespace(FloatStorage=FloatStorage, rebuild=_rebuild_tensor_v2)


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    def __init__(self, rebuild, storage: _Storage, offset: int, shape: tuple, stride: tuple) -> None:
        self.args = (rebuild, (storage, offset, shape, stride, False, OrderedDict()))

    def __reduce__(self):
        return self.args


def _legacy_bytes(fake_torch, tree: dict, storages: list[_Storage]) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", fake_torch.FloatStorage, obj.key, "cpu", obj.data.size, None)
            return None

    def dump(obj) -> bytes:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(obj)
        return buf.getvalue()

    header = b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    body = dump(tree) + pickle.dumps([s.key for s in storages], protocol=2)
    data = b"".join(s.data.size.to_bytes(8, "little") + s.data.astype("<f4").tobytes() for s in storages)
    return header + body + data


def test_reader_round_trips_offsets_and_strides(fake_torch) -> None:
    values = np.arange(12, dtype=np.float32)
    storage = _Storage("0", values)
    tree = OrderedDict(
        w=_Tensor(fake_torch.rebuild, storage, 0, (3, 4), (4, 1)),
        t=_Tensor(fake_torch.rebuild, storage, 1, (2, 2), (1, 4)),  # transposed view at an offset
    )
    tensors = read_state_dict(_legacy_bytes(fake_torch, tree, [storage]))
    np.testing.assert_array_equal(tensors["w"], values.reshape(3, 4))
    np.testing.assert_array_equal(tensors["t"], [[1, 5], [2, 6]])


def test_reader_rejects_truncated_and_foreign_files(fake_torch) -> None:
    storage = _Storage("0", np.ones(8, np.float32))
    good = _legacy_bytes(
        fake_torch, OrderedDict(w=_Tensor(fake_torch.rebuild, storage, 0, (8,), (1,))), [storage]
    )
    with pytest.raises(CheckpointError, match="truncated"):
        read_state_dict(good[:-5])
    with pytest.raises(CheckpointError, match="magic"):
        read_state_dict(pickle.dumps(123, protocol=2) + good)
    with pytest.raises(CheckpointError):
        read_state_dict(b"PK\x03\x04 a zip-format checkpoint")


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.remove, (str(self.target),))


def test_reader_never_runs_code_from_the_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("still here")
    header = b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    payload = header + pickle.dumps({"w": _Exploit(victim)}, protocol=2)
    with pytest.raises(CheckpointError, match="remove"):
        read_state_dict(payload)
    assert victim.read_text() == "still here"
