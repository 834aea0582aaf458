"""The API's start-up objects kept out of the garbage collector's way.

A started API holds about 240,000 long-lived objects (FastAPI, Pydantic, SQLAlchemy, the routes and
models). Every full collection walks all of them, and one comes every 15-20 s under a steady load of
submits (each leaves a few objects behind, and a full collection runs once those reach a quarter of
the long-lived ones). On the 2-core VMs of the submit benchmark each took 120-135 ms with the GIL held:
every request in flight stalled for that long, which was the whole tail of the submit latency.
``gc.freeze`` moves what is alive once the API has started into a generation the collector never
scans, so a full collection walks only what requests left behind since. It is undone at shutdown, so
that processes building many apps (the tests) do not keep their garbage for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    gc.collect()  # garbage made while starting is freed, not frozen
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
