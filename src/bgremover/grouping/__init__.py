"""Grouping of product photos: the subject's embedding and colour, clustered by cosine distance.

Re-exports are lazy so that ``bgremover.grouping.threshold`` (the CLI's defaults) can be imported
without scikit-learn, SciPy and ONNX Runtime, which took most of ``bg-remover``'s start-up. The
``cluster`` function is not re-exported: lazily, the name would be the ``cluster`` submodule as soon as
anything imported it; take it from :mod:`bgremover.grouping.cluster`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgremover.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from bgremover.grouping.cluster import Group
    from bgremover.grouping.engine import GroupingConfig, GroupingEngine
    from bgremover.grouping.subject import SubjectView, subject_view
    from bgremover.grouping.threshold import DEFAULT_THRESHOLD

_EXPORTS = {
    "DEFAULT_THRESHOLD": "bgremover.grouping.threshold",
    "Group": "bgremover.grouping.cluster",
    "GroupingConfig": "bgremover.grouping.engine",
    "GroupingEngine": "bgremover.grouping.engine",
    "SubjectView": "bgremover.grouping.subject",
    "subject_view": "bgremover.grouping.subject",
}
__all__ = [
    "DEFAULT_THRESHOLD",
    "Group",
    "GroupingConfig",
    "GroupingEngine",
    "SubjectView",
    "subject_view",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)
