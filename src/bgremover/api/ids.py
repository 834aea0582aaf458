"""Job and image ids as they arrive in URL paths. The service issues ids of a small alphabet (uuid hex,
``img-0001``), so anything else names nothing and is ``404`` before any ledger query: a NUL byte, for
one, cannot even be sent to PostgreSQL (the driver raises), and a 10 KB id is not worth an index look."""

from __future__ import annotations

import re

from bgremover.api.problems import ProblemError

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "not-found", f"no such {what}")


def image_id(position: int) -> str:
    """The id of the ``position``-th photo of a submission, counted from 1."""
    return f"img-{position:04d}"


def checked_id(value: str, what: str) -> str:
    """``value`` when it could be an id the service issued, else the ``404`` for an unknown ``what``."""
    if not _ID.fullmatch(value):
        raise not_found(what)
    return value
