"""Which job (and which chunk of a big job) each worker process of this machine is running, known to
the process that supervises them, so that a worker's death (SIGKILL, the OOM killer, a segfault in
native code, the watchdog) hands its work on within a second instead of after its lease.

A worker writes one line to a pipe that its supervisor created before forking it: ``claim <pid>
<job id> <owner>`` when it starts on a job, ``chunk <pid> <job id> <index> <owner>`` when it claims
a chunk of one (``chunk-free <pid>`` once that is done), ``free <pid>`` when it is done with the job
(and any chunk with it). A write of under
``PIPE_BUF`` bytes to a pipe is atomic, so the lines of several workers never interleave, and no lock
is shared with a process that may die holding it. The supervisor reads the pipe at each health check,
before it looks for dead workers, so a claim written just before a death is never missed.

The board only says what a worker was doing; what to do about it is the ledger's business, through
a conditional write that names the lease owner: a job that finished, was given back or was taken
over meanwhile is left alone.
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey

_MAX_LINE = select.PIPE_BUF  # atomic write bound (4096 on Linux); ids and owners are far shorter


@dataclass(frozen=True, slots=True)
class Claim:
    pid: int
    job_id: str
    owner: str
    chunk: int | None = None  # a chunk's index: the claim is on that chunk, not on the job


class ClaimBoard:
    """Create before forking the workers; ``post_claim`` / ``post_free`` in the workers, ``drain`` and
    ``take`` in the supervisor."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._held: dict[int, Claim] = {}
        self._chunks: dict[int, Claim] = {}
        self._partial = b""

    # --- the worker side ------------------------------------------------------------------------
    def post_claim(self, job_id: str, owner: str) -> None:
        _check_words(job_id, owner)
        self._post(f"claim {os.getpid()} {job_id} {owner}")

    def post_free(self) -> None:
        self._post(f"free {os.getpid()}")

    def post_chunk(self, job_id: str, index: int, owner: str) -> None:
        _check_words(job_id, owner)
        self._post(f"chunk {os.getpid()} {job_id} {int(index)} {owner}")

    def post_chunk_free(self) -> None:
        self._post(f"chunk-free {os.getpid()}")

    def _post(self, line: str) -> None:
        data = f"{line}\n".encode()
        if len(data) > _MAX_LINE:
            raise ValueError(f"a claim line longer than an atomic pipe write: {line[:80]!r}...")
        os.write(self._write_fd, data)

    # --- the supervisor side --------------------------------------------------------------------
    def drain(self) -> None:
        """Read every line written so far (never blocks)."""
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._partial += chunk
        *lines, self._partial = self._partial.split(b"\n")
        for line in lines:
            self._apply(line.decode())

    def _apply(self, line: str) -> None:
        kind, pid, *rest = line.split(" ")
        if kind == "claim":
            job_id, owner = rest
            self._held[int(pid)] = Claim(int(pid), job_id, owner)
        elif kind == "chunk":
            job_id, index, owner = rest
            self._chunks[int(pid)] = Claim(int(pid), job_id, owner, chunk=int(index))
        elif kind == "chunk-free":
            self._chunks.pop(int(pid), None)
        else:
            self._held.pop(int(pid), None)
            self._chunks.pop(int(pid), None)

    def take(self, pid: int) -> list[Claim]:
        """What process ``pid`` held when it stopped (its chunk first, then its job), forgotten from
        now on."""
        return [claim for held in (self._chunks, self._held) if (claim := held.pop(pid, None)) is not None]

    def close(self) -> None:
        os.close(self._read_fd)
        os.close(self._write_fd)


def _check_words(job_id: str, owner: str) -> None:
    if len(f"{job_id} {owner}".split()) != 2:
        raise ValueError(f"a job id and an owner without spaces, not {job_id!r} and {owner!r}")


def install_claim_board(huey: Huey, board: ClaimBoard, task_name: str, owner: Callable[[], str]) -> None:
    """Post a claim before each ``task_name`` task runs (its first argument is the job id) and free it
    after, in every worker process of ``huey``. ``owner`` names this process's lease owner."""

    @huey.pre_execute(name="bgr-claim-post")
    def _claim(task: Any) -> None:
        if task.name == task_name:
            board.post_claim(str(task.args[0]), owner())

    @huey.post_execute(name="bgr-claim-free")
    def _free(task: Any, task_value: Any, exc: BaseException | None) -> None:
        if task.name == task_name:
            board.post_free()
