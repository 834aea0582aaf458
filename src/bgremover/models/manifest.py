"""``manifest.json`` in the model dir: what ``models fetch`` stored, with the stored file's checksum.

For plain models the checksum is known in advance; for converted ones (ONNX built at fetch time) the
manifest is the only record of it, which is what lets ``verify`` catch a corrupt converted file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"


def sha256_of(path: Path) -> str:
    """Streamed SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries by model name (empty when nothing was fetched yet)."""
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def record(model_dir: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace one entry, atomically (temp file + ``os.replace``)."""
    data = read_manifest(model_dir)
    data[name] = entry
    write_json_atomic(model_dir / MANIFEST_FILE, data)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)
