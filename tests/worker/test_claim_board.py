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
        [Claim(p.pid, f"job-{n}", f"host:{p.pid}:1")] for n, p in enumerate(killed)
    ]
    assert board.take(finished.pid) == [], "a worker that freed its claim left nothing behind"
    assert board.take(killed[0].pid) == [], "a claim is handed on once"
    board.close()


def _chunk_then_hang(board: ClaimBoard, job_id: str, chunks: list[int], free_last: bool) -> None:
    owner = f"host:{os.getpid()}:1"
    board.post_claim(job_id, owner)
    for index in chunks:
        board.post_chunk(job_id, index, owner)
        board.post_chunk_free()
    if not free_last:
        board.post_chunk(job_id, 99, owner)
    time.sleep(60)


def test_the_supervisor_learns_which_chunk_a_killed_worker_held_besides_its_job() -> None:
    board = ClaimBoard()
    mid_chunk = FORK.Process(target=_chunk_then_hang, args=(board, "job-a", [0, 1], False))
    between = FORK.Process(target=_chunk_then_hang, args=(board, "job-b", [2], True))
    for process in (mid_chunk, between):
        process.start()
    time.sleep(0.5)
    for process in (mid_chunk, between):
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)

    board.drain()
    owner = f"host:{mid_chunk.pid}:1"
    assert board.take(mid_chunk.pid) == [
        Claim(mid_chunk.pid, "job-a", owner, chunk=99),
        Claim(mid_chunk.pid, "job-a", owner),
    ]
    assert board.take(between.pid) == [Claim(between.pid, "job-b", f"host:{between.pid}:1")], (
        "freed chunks are gone"
    )
    board.close()


def test_freeing_the_job_frees_its_chunk_too() -> None:
    board = ClaimBoard()
    board.post_claim("job-1", "owner")
    board.post_chunk("job-1", 3, "owner")
    board.post_free()
    board.drain()
    assert board.take(os.getpid()) == []
    board.close()


def test_drain_never_blocks_and_keeps_a_partial_line() -> None:
    board = ClaimBoard()
    board.drain()  # nothing written yet
    os.write(board._write_fd, b"claim 7 job-7 ow")
    board.drain()
    assert board.take(7) == []
    os.write(board._write_fd, b"ner\n")
    board.drain()
    assert board.take(7) == [Claim(7, "job-7", "owner")]
    board.close()


def test_ids_that_would_break_a_line_are_refused() -> None:
    board = ClaimBoard()
    with pytest.raises(ValueError):
        board.post_claim("job 1", "owner")
    with pytest.raises(ValueError):
        board.post_claim("job-1", "x" * 5000)
    with pytest.raises(ValueError):
        board.post_chunk("job-1", 0, "an owner")
    board.close()
