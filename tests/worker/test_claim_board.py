"""The claim board between worker processes and their supervisor, with real forked processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from bgremover.resilience.claims import Claim, ClaimBoard

FORK = multiprocessing.get_context("fork")


def _claim_then_hang(board: ClaimBoard, job_id: str) -> None:
    board.post_claim(job_id, f"host:{os.getpid()}:1")
    time.sleep(60)


def _claim_then_free(board: ClaimBoard, job_id: str) -> None:
    board.post_claim(job_id, f"host:{os.getpid()}:1")
    board.post_free()


def test_the_supervisor_learns_which_job_a_killed_worker_held() -> None:
    board = ClaimBoard()
    killed = [FORK.Process(target=_claim_then_hang, args=(board, f"job-{n}")) for n in range(3)]
    finished = FORK.Process(target=_claim_then_free, args=(board, "job-done"))
    for process in [*killed, finished]:
        process.start()
    finished.join(10)
    time.sleep(0.5)  # the hanging workers have posted their claims
    for process in killed:
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)

    board.drain()
    assert [board.take(p.pid) for p in killed] == [
        Claim(p.pid, f"job-{n}", f"host:{p.pid}:1") for n, p in enumerate(killed)
    ]
    assert board.take(finished.pid) is None, "a worker that freed its claim left nothing behind"
    assert board.take(killed[0].pid) is None, "a claim is handed on once"
    board.close()


def test_drain_never_blocks_and_keeps_a_partial_line() -> None:
    board = ClaimBoard()
    board.drain()  # nothing written yet
    os.write(board._write_fd, b"claim 7 job-7 ow")
    board.drain()
    assert board.take(7) is None
    os.write(board._write_fd, b"ner\n")
    board.drain()
    assert board.take(7) == Claim(7, "job-7", "owner")
    board.close()


def test_ids_that_would_break_a_line_are_refused() -> None:
    board = ClaimBoard()
    with pytest.raises(ValueError):
        board.post_claim("job 1", "owner")
    with pytest.raises(ValueError):
        board.post_claim("job-1", "x" * 5000)
    board.close()
