"""The one code path that obtains models: ``bg-remover models fetch`` and the tests' fixture call it.

Each model is written to a temporary file in the model dir, checked, optionally converted, and only
then moved into place with ``os.replace``, so a crash never leaves a half-written model under its
real name. A present file whose checksum is wrong is fetched again. A lock file serialises
concurrent fetches into the same dir (parallel test sessions, ``make serve`` beside ``make test``)."""

from __future__ import annotations

import fcntl
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bgremover.models import manifest
from bgremover.models.registry import DEFAULT_MODELS, ModelSpec, get_model, list_models, resolve_model_dir

FetchStatus = Literal["present", "fetched", "refetched"]


class ChecksumMismatchError(RuntimeError):
    """The bytes a source delivered are not the ones the registry expects."""


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    status: FetchStatus
    sha256: str


@dataclass(frozen=True)
class VerifyResult:
    name: str
    path: Path
    ok: bool
    reason: str


def _converter(convert: str | Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    """``"package.module:function"`` is imported only when a conversion actually runs."""
    if callable(convert):
        return convert
    module, _, attr = convert.partition(":")
    return getattr(importlib.import_module(module), attr)


def expected_sha256(spec: ModelSpec, model_dir: Path) -> str | None:
    """The stored file's checksum: the registry's for plain models, the manifest's for converted ones."""
    if spec.convert is None:
        return spec.sha256
    return manifest.read_manifest(model_dir).get(spec.name, {}).get("sha256")


def verify_model(spec: ModelSpec, model_dir: str | os.PathLike[str] | None = None) -> VerifyResult:
    """Whether the stored file is present and intact."""
    root = resolve_model_dir(model_dir)
    path = root / spec.filename
    if not path.is_file():
        return VerifyResult(spec.name, path, False, "missing")
    expected = expected_sha256(spec, root)
    if expected is None:
        return VerifyResult(spec.name, path, False, "not in manifest (fetched by another tool?)")
    actual = manifest.sha256_of(path)
    if actual != expected:
        return VerifyResult(spec.name, path, False, f"sha256 {actual[:12]}… expected {expected[:12]}…")
    return VerifyResult(spec.name, path, True, "ok")


@contextmanager
def _dir_lock(model_dir: Path) -> Iterator[None]:
    with (model_dir / ".fetch.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download_checked(spec: ModelSpec, raw: Path) -> None:
    spec.source.materialise(raw)
    actual = manifest.sha256_of(raw)
    size = raw.stat().st_size
    if actual != spec.sha256 or (spec.size is not None and size != spec.size):
        raise ChecksumMismatchError(
            f"{spec.name} from {spec.source.describe()}: sha256 {actual} ({size} bytes), "
            f"expected {spec.sha256} ({spec.size} bytes)"
        )


def _fetch_one(spec: ModelSpec, root: Path) -> FetchResult:
    existing = verify_model(spec, root)
    if existing.ok:
        return FetchResult(spec.name, existing.path, "present", expected_sha256(spec, root) or "")
    tag = f".{spec.filename}.{os.getpid()}"
    raw, converted = root / f"{tag}.download", root / f"{tag}.converted"
    try:
        _download_checked(spec, raw)
        final = raw
        if spec.convert is not None:
            _converter(spec.convert)(raw, converted)
            final = converted
        sha = manifest.sha256_of(final)
        final.replace(existing.path)
    finally:
        raw.unlink(missing_ok=True)
        converted.unlink(missing_ok=True)
    entry = {"filename": spec.filename, "sha256": sha, "source": spec.source.describe()}
    manifest.record(root, spec.name, {**entry, "source_sha256": spec.sha256})
    status: FetchStatus = "fetched" if existing.reason == "missing" else "refetched"
    return FetchResult(spec.name, existing.path, status, sha)


def default_model_names(model_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The built-in defaults plus every user-registered model."""
    user = [spec.name for spec in list_models(model_dir) if not spec.builtin]
    return [*DEFAULT_MODELS, *user]


def fetch_models(
    names: Iterable[str] | None = None, model_dir: str | os.PathLike[str] | None = None
) -> list[FetchResult]:
    """Obtain, check and store the named models (default: :func:`default_model_names`). Idempotent."""
    root = resolve_model_dir(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    specs = [get_model(name, root) for name in (names or default_model_names(root))]
    with _dir_lock(root):
        return [_fetch_one(spec, root) for spec in specs]


def model_path(name: str, model_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of a fetched, intact model; raises ``FileNotFoundError`` telling the user what to run."""
    spec = get_model(name, model_dir)
    result = verify_model(spec, model_dir)
    if not result.ok:
        raise FileNotFoundError(
            f"model {name!r} at {result.path} is {result.reason}: run `bg-remover models fetch`"
        )
    return result.path
