"""Grouping of product photos: the subject's embedding and colour, clustered by cosine distance."""

from bgremover.grouping.cluster import Group, cluster
from bgremover.grouping.engine import GroupingConfig, GroupingEngine
from bgremover.grouping.subject import SubjectView, subject_view
from bgremover.grouping.threshold import DEFAULT_THRESHOLD

__all__ = [
    "DEFAULT_THRESHOLD",
    "Group",
    "GroupingConfig",
    "GroupingEngine",
    "SubjectView",
    "cluster",
    "subject_view",
]
