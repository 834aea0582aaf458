"""Helpers for the API tests: real encoded images and checks of problem responses."""

from __future__ import annotations

import io
import os

import httpx
from PIL import Image

from bgremover.ledger.base import JobStatus
from bgremover.wiring import Services


def png_bytes(size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress: its size is about 3 bytes per pixel."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def images_part(*blobs: bytes, name: str = "photo.png") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"{i}-{name}", blob, "application/octet-stream")) for i, blob in enumerate(blobs)]


def count_jobs(services: Services) -> int:
    return sum(services.ledger.count_by_status().get(status, 0) for status in JobStatus)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:bgremover:problem:{slug}"
    assert body["title"] and body["detail"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def assert_nothing_created(services: Services) -> None:
    """A refused request leaves no job, no blob and no queue message."""
    assert count_jobs(services) == 0
    assert list(services.blobs.list("")) == []
    assert services.dispatcher.depth() == 0
