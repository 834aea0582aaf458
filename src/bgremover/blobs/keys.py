"""Where a job's blobs live: every blob of a job under one prefix (deleting the prefix removes the job's
files), each image's original and outputs side by side as ``<imageId>.<kind>``.

The layout is flat on purpose. On the local disk every new folder is one more inode created on the
request path, and creating an inode is the dearest file-system call a submit makes: per-image folders
(``images/img-0001/original``) cost a 20-photo submit 21 extra ``mkdir`` calls, which measured as much
system time as the 20 files themselves. On S3 the prefix costs nothing either way."""

from __future__ import annotations

ORIGINAL = "original"
UPLOAD = "upload"
DIRECT_UPLOADS = "uploads"


def job_prefix(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/jobs/{job_id}/"


def upload_key(tenant_id: str, job_id: str) -> str:
    """Every photo of a submit, one after another in position order, as one blob: the request path
    creates one file (one PUT on S3) instead of one per photo, the dearest call a submit made. The
    worker unpacks it into the per-image originals (``original_key``) before it reads any image. No
    other key of a job starts with this one (images are ``img-*``), so it names exactly one blob."""
    return f"{job_prefix(tenant_id, job_id)}{UPLOAD}"


def original_key(tenant_id: str, job_id: str, image_id: str) -> str:
    return f"{job_prefix(tenant_id, job_id)}{image_id}.{ORIGINAL}"


def output_key(original: str, kind: str) -> str:
    """The key of ``kind`` (thumbnail, cutout, mask) beside ``original``. Jobs stored before the flat
    layout (``.../images/<imageId>/original``) keep their outputs in the image's folder."""
    folder, _, name = original.rpartition("/")
    if name == ORIGINAL:
        return f"{folder}/{kind}"
    return f"{folder}/{name.removesuffix(f'.{ORIGINAL}')}.{kind}"


def direct_upload_key(tenant_id: str, upload_id: str, image_id: str) -> str:
    """Where a client's direct upload puts one photo (``api.direct_uploads``): the job submitted by
    reference records it as the image's original, so the worker reads it in place and writes the
    outputs beside it (``output_key``); nothing is copied or unpacked."""
    return f"{tenant_id}/{DIRECT_UPLOADS}/{upload_id}/{image_id}.{ORIGINAL}"
