"""Trace spans around the pipeline's stages, for whichever tracer a deployment installs.

The pipeline knows no tracing backend: ``StageTimer`` opens ``stage_span(name)`` around each timed
block, which does nothing until a process installs a span factory (the Lambda worker installs X-Ray
subsegments through Powertools Tracer, ``bgremover.aws.worker``). Per-image stages are spans of one
image each, so a trace shows where a slow job spent its time image by image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

SpanFactory = Callable[[str], AbstractContextManager[object]]

_factory: SpanFactory | None = None


def install_stage_spans(factory: SpanFactory | None) -> None:
    """Open a span from ``factory`` around every stage from now on in this process (None: none)."""
    global _factory
    _factory = factory


@contextmanager
def stage_span(name: str) -> Iterator[None]:
    with _factory(name) if _factory is not None else nullcontext():
        yield
