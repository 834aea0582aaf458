"""The parameter store as a file tree, the embedded default (``BGR_PARAM_STORE_URL=file://./var/params``).

The key ``/tf/dev/acme/services/bg-remover/config`` is the file
``<root>/tf/dev/acme/services/bg-remover/config`` holding JSON, so an operator edits a tenant's
settings with any editor."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bgremover.params.base import InvalidParameterError, ParameterNotFoundError, ParameterStoreError


class LocalParameterStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @classmethod
    def from_url(cls, url: str) -> LocalParameterStore:
        if not url.startswith("file://") or url == "file://":
            raise ValueError(f"unsupported parameter store URL (expected file://PATH): {url!r}")
        return cls(Path(url.removeprefix("file://")))

    def _path(self, key: str) -> Path:
        parts = key.strip("/").split("/")
        if not key.startswith("/") or any(part in {"", ".", ".."} for part in parts):
            raise ValueError(f"invalid parameter key {key!r}")
        return self.root.joinpath(*parts)

    def get(self, key: str) -> Any:
        path = self._path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            raise ParameterNotFoundError(key) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterStoreError(f"cannot read parameter {key}: {exc}") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"parameter {key} is not JSON: {exc}") from exc

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                key = "/" + Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key
