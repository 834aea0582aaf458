"""Direct uploads: photos go straight to blob storage, and the job is submitted by reference, so no
request carries more than a list of names (an AWS Lambda request body stops at about 6 MB).

1. ``POST /v1/uploads`` with the files' names and sizes: one slot per file, each a signed token
   (``api.slot_tokens``) and where to send the photo: on S3 a presigned PUT (exact size and type,
   ``If-None-Match: *``), elsewhere ``PUT /v1/uploads/{slot}`` on this API, which checks the token.
2. The client PUTs each photo to its URL (single-use: a second PUT is 409 here, 412 on S3).
3. ``POST /v1/group-images`` or ``/v1/remove-background`` with ``{"uploads": [slot, ...], ...options}``.
   Every photo is checked as a direct upload's photo is (count, bytes, type from its bytes, pixels
   from its header, ZIP polyglots) by reading only its head and tail, before any job exists.

A slot is bound to its tenant (another tenant's slot reads as not found), expires with its token and
serves one job: the submit is idempotent by its upload id, so submitting the same slots again
returns the first job, and other slots or options of the same upload are refused.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bgremover.api.context import ApiContext, api_context
from bgremover.api.ids import image_id
from bgremover.api.problems import ProblemError, documented_problems
from bgremover.api.ratelimit import submit_tenant
from bgremover.api.slot_tokens import SlotClaims, SlotSigner, SlotTokenError
from bgremover.api.uploads import (
    References,
    _bounded,
    _check_count,
    _safe_filename,
    _stage,
    _too_large,
    check_image_size,
)
from bgremover.blobs.base import BlobNotFoundError, BlobStore, DirectUploadBlobStore
from bgremover.blobs.keys import direct_upload_key
from bgremover.ledger.base import NewImage
from bgremover.observability.logging import bind_log_context, get_logger
from bgremover.observability.metrics import DIRECT_UPLOADS
from bgremover.settings import Settings

router = APIRouter()
_log = get_logger(__name__)
_SPOOL_BYTES = 1024 * 1024
_CHECK_THREADS = 16  # photos checked at once on S3: each check is a HEAD and one or two ranged GETs
_DEFAULT_TYPE = "application/octet-stream"

# Slots whose PUT is in progress in this process: a second PUT of one while the first still streams is
# refused at once, not raced (the blob appears only once its write completes). The local disk's store
# serves one API process (``serve``), so this and the check for an existing blob make a slot single-use.
_RECEIVING: set[str] = set()

Tenant = Annotated[str, Depends(submit_tenant)]
Context = Annotated[ApiContext, Depends(api_context)]


class DeclaredFile(BaseModel):
    """A photo the client is about to upload."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    filename: str = Field(max_length=1024)
    size: int = Field(ge=1, description="exact size in bytes; the upload must match it")
    content_type: str | None = Field(default=None, alias="contentType", pattern=r"^image/[a-z0-9.+-]{1,60}$")


class SlotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[DeclaredFile]


@dataclass(frozen=True, slots=True)
class ReferencedUpload:
    """A by-reference submit, checked: the job's images where the client stored them."""

    upload_id: str
    images: list[NewImage]

    @property
    def idempotency_key(self) -> str:
        """One job per upload: the ledger's idempotency makes a second submit of it a replay."""
        return f"upload:{self.upload_id}"

    def fingerprint(self, job_type: str, options: dict[str, Any]) -> str:
        images = [[image.image_id, image.filename, image.size_bytes] for image in self.images]
        canonical = json.dumps({"type": job_type, "options": options, "uploads": images}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def slot_signer(settings: Settings) -> SlotSigner:
    key = settings.upload_signing_key
    return SlotSigner(key.get_secret_value().encode() if key is not None else None)


def _check_declared(files: list[DeclaredFile], settings: Settings) -> None:
    """The limits of a direct upload, applied to what the client declares (checked again on the
    stored photos when the job is submitted)."""
    _check_count(len(files), settings)
    for position, declared in enumerate(files):
        check_image_size(_safe_filename(declared.filename, position), declared.size, settings)
    _check_total(sum(declared.size for declared in files), settings)


def _check_total(total: int, settings: Settings) -> None:
    if total > settings.max_request_bytes:
        raise _too_large(
            f"{total} bytes in all exceed the limit of {settings.max_request_bytes} per request",
            limit=settings.max_request_bytes,
        )


def _slot_target(
    request: Request, blobs: BlobStore, claims: SlotClaims, token: str, ttl: int
) -> tuple[str, dict[str, str]]:
    """Where the client sends the photo: the store itself when it presigns, else this API."""
    if isinstance(blobs, DirectUploadBlobStore):
        key = direct_upload_key(claims.tenant, claims.upload_id, claims.image_id)
        return blobs.presigned_put(key, size=claims.size, content_type=claims.content_type, expires_in=ttl)
    return str(request.url_for("put_upload_slot", slot=token)), {"Content-Type": claims.content_type}


@router.post(
    "/v1/uploads",
    status_code=201,
    name="create_upload_slots",
    responses=documented_problems(400, 401, 403, 413, 422, 429, 503),
)
def create_upload_slots(request: Request, body: SlotRequest, ctx: Context, tenant: Tenant) -> JSONResponse:
    """Upload slots for a direct upload: send each photo to its slot's URL with its headers, then
    submit the job with ``{"uploads": [slot, ...]}``."""
    settings = ctx.settings
    _check_declared(body.files, settings)
    upload_id, ttl = uuid.uuid4().hex, settings.upload_slot_ttl_s
    expires = int(time.time()) + ttl
    signer, slots = slot_signer(settings), []
    for position, declared in enumerate(body.files):
        claims = SlotClaims(
            tenant=tenant,
            upload_id=upload_id,
            image_id=image_id(position + 1),
            filename=_safe_filename(declared.filename, position),
            size=declared.size,
            content_type=declared.content_type or _DEFAULT_TYPE,
            expires=expires,
        )
        token = signer.sign(claims)
        url, headers = _slot_target(request, ctx.services.blobs, claims, token, ttl)
        slots.append(
            {"slot": token, "imageId": claims.image_id, "filename": claims.filename, "size": claims.size}
            | {"method": "PUT", "url": url, "headers": headers}
        )
    bind_log_context(upload_id=upload_id)
    DIRECT_UPLOADS.labels(step="slot_issued").inc(len(slots))
    _log.info("upload slots issued", slots=len(slots))
    expires_at = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
    return JSONResponse({"uploadId": upload_id, "expiresAt": expires_at, "slots": slots}, status_code=201)


def _verified(signer: SlotSigner, token: str) -> SlotClaims:
    try:
        return signer.verify(token)
    except SlotTokenError as exc:
        if exc.expired:
            raise ProblemError(410, "upload-slot-expired", str(exc)) from exc
        raise ProblemError(400, "invalid-upload-slot", str(exc)) from exc


@router.put(
    "/v1/uploads/{slot}",
    status_code=204,
    name="put_upload_slot",
    responses=documented_problems(400, 408, 409, 410, 413),
)
async def put_upload_slot(slot: str, request: Request, ctx: Context) -> Response:
    """One photo into its slot, for stores that do not take uploads themselves (the local disk). The
    signed slot is the credential, as a presigned URL is on S3: the tenant is the one it names."""
    claims = _verified(slot_signer(ctx.settings), slot)
    bind_log_context(tenant_id=claims.tenant, upload_id=claims.upload_id)
    key = direct_upload_key(claims.tenant, claims.upload_id, claims.image_id)
    used = ProblemError(409, "upload-slot-used", "a photo was already sent to this slot", slot=slot)
    if key in _RECEIVING:  # checked and claimed with no await between: one PUT per slot at a time
        raise used
    _RECEIVING.add(key)
    try:
        if await run_in_threadpool(ctx.services.blobs.exists, key):
            raise used
        await _receive(request, ctx, claims, key)
    finally:
        _RECEIVING.discard(key)
    DIRECT_UPLOADS.labels(step="received").inc()
    return Response(status_code=204)


async def _receive(request: Request, ctx: ApiContext, claims: SlotClaims, key: str) -> None:
    """The body, exactly the slot's size, spooled (1 MB in memory, then disk), then stored as one blob."""
    with tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as spool:
        received = 0
        async for chunk in _bounded(request, ctx.settings):
            received += len(chunk)
            if received > claims.size:
                raise _too_large(f"the slot takes {claims.size} bytes; more were sent", limit=claims.size)
            await run_in_threadpool(spool.write, chunk)
        if received != claims.size:
            raise ProblemError(
                400,
                "upload-size-mismatch",
                f"the slot takes {claims.size} bytes; {received} were sent",
                size=claims.size,
            )
        spool.seek(0)
        await run_in_threadpool(ctx.services.blobs.put_stream, key, spool, content_type=claims.content_type)


def _claims(signer: SlotSigner, tenant: str, slots: list[Any], settings: Settings) -> list[SlotClaims]:
    """Every slot verified, of this tenant and of one upload, each at most once."""
    if not isinstance(slots, list) or not all(isinstance(slot, str) for slot in slots):
        raise ProblemError(400, "malformed-json", 'expected {"uploads": ["<slot>", ...], ...options}')
    _check_count(len(slots), settings)
    claims = [_verified(signer, slot) for slot in slots]
    if any(claim.tenant != tenant for claim in claims):
        raise ProblemError(404, "upload-slot-not-found", "no such upload slot for this tenant")
    if len({claim.upload_id for claim in claims}) > 1:
        raise ProblemError(422, "mixed-uploads", "all slots of a job must come from one POST /v1/uploads")
    if len({claim.image_id for claim in claims}) < len(claims):
        raise ProblemError(422, "duplicate-upload-slot", "a slot is named more than once")
    return claims


def _open_stored(blobs: BlobStore, key: str) -> BinaryIO:
    """A seekable reader of a stored photo: ranged reads where the store is remote."""
    return blobs.open_ranged(key) if isinstance(blobs, DirectUploadBlobStore) else blobs.open(key)


def _checked_image(blobs: BlobStore, claim: SlotClaims, settings: Settings) -> NewImage:
    """The stored photo checked as a direct upload's photo is, from its head and tail only."""
    key = direct_upload_key(claim.tenant, claim.upload_id, claim.image_id)
    try:
        stream = _open_stored(blobs, key)
    except BlobNotFoundError:
        raise ProblemError(
            409,
            "upload-missing",
            f"no photo was sent to the slot of {claim.filename!r} ({claim.image_id}); PUT it first",
            filename=claim.filename,
        ) from None
    with stream:
        size = stream.seek(0, 2)
        if size != claim.size:
            raise ProblemError(
                422,
                "upload-size-mismatch",
                f"{claim.filename!r} was declared with {claim.size} bytes but {size} are stored",
                filename=claim.filename,
            )
        staged = _stage(claim.filename, stream, size, settings)
    return NewImage(claim.image_id, claim.filename, key, staged.content_type, size)


def _checked_images(blobs: BlobStore, claims: list[SlotClaims], settings: Settings) -> list[NewImage]:
    with ThreadPoolExecutor(min(_CHECK_THREADS, len(claims))) as pool:
        images = list(pool.map(lambda claim: _checked_image(blobs, claim, settings), claims))
    _check_total(sum(image.size_bytes for image in images), settings)
    return images


async def read_references(ctx: ApiContext, tenant: str, references: References) -> ReferencedUpload:
    """A by-reference submit checked against the limits and its stored photos, or a ``ProblemError``."""
    claims = _claims(slot_signer(ctx.settings), tenant, references.slots, ctx.settings)
    images = await run_in_threadpool(_checked_images, ctx.services.blobs, claims, ctx.settings)
    DIRECT_UPLOADS.labels(step="checked").inc(len(images))
    return ReferencedUpload(claims[0].upload_id, images)
