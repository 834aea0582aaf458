"""Packages that re-export names from their heavy modules without importing those modules up front,
so that importing one light submodule (``bgremover.cutout.options``, ``bgremover.grouping.threshold``)
does not load ONNX Runtime, OpenCV or scikit-learn through the package's ``__init__``."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports ``exports[name]`` on first use."""

    def attribute(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name]), name)

    return attribute
