"""The ledger on DynamoDB (``BGR_DATABASE_URL=dynamodb://TABLE``), with boto3.

The endpoint and region come from boto3's own configuration (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_DEFAULT_REGION``), so the same URL reaches AWS, LocalStack or
moto. The same guarantees hold as on PostgreSQL: every state change is a conditional write or a
transaction, so one claim wins among racing workers, a lost lease stops every later write
(``LeaseLostError``), a final state and its webhook outbox item commit together, and retried requests
never duplicate (item keys are deterministic; transactions carry a ``ClientRequestToken``).

Table design: one table, on-demand capacity (``PAY_PER_REQUEST``), keys ``pk``/``sk`` (strings).

=====================  ================================  ==========  =====================================
item                   pk                                sk          size
=====================  ================================  ==========  =====================================
job                    ``JOB#{job_id}``                  ``#JOB``    1-4 KB: options, stages, error as
                                                                     JSON; the result without its groups
image (one per image)  ``JOB#{job_id}``                  ``IMG#{id}`` ~0.5 KB (names, blob keys, outputs)
group of a result      ``JOB#{job_id}``                  ``GRP#{token}#{n}`` ≤ 12 KB (1,000 image ids)
chunk of a big job     ``JOB#{job_id}``                  ``CHK#{n:05}`` ≤ 1 KB (bounds, lease, stage totals)
idempotency key        ``IDEM#{tenant}#{key}``           ``#IDEM``   ~0.2 KB; TTL ``expires_at``
webhook delivery       ``DLV#{delivery_id}``             ``#DLV``    ~0.5 KB
API key                ``KEY#{key_id}``                  ``#KEY``    ~0.2 KB
=====================  ================================  ==========  =====================================

So no item grows with the image count: a job of 1,000 images is one job item, 1,000 image items and
its groups, each far under DynamoDB's 400 KB limit; ``list_images`` and a result's groups are read
by ``Query`` on the job's partition.

Chunks of a big job (``open_chunks``, issue 16): one item per chunk in the job's partition, so
``list_chunks`` is one consistent ``Query`` (the 20 chunks of a 1,000-image job: under 20 KB, at
most 5 read units), and they live as long as the job's other items (no TTL: jobs are not expired
here). The chunk size is stored on the job item (``chunk_images``) in the transaction that writes
the first 99 chunks (100 items a transaction): that plan makes opening idempotent even where it
takes several transactions and its opener died between them. Every chunk write is a transaction
with a ``ConditionCheck`` that the job is running (a cancel stops every chunk worker): a heartbeat
or a finish is 2 items (about 4 write units), a ``record_chunk_image`` 3 items (about 6, against 4
for ``record_image``). Those checks make the job item busy while many workers run its chunks; a
plain write meeting one is retried (``Table.update``), as transactions meeting each other are
(``Table.transact``).

Global secondary indexes (sparse: an item is in an index only while it has the index's key), which
answer every question of the reaper, the quotas and the sender without a ``Scan``:

- ``by-tenant`` (``tenant_pk``, ``tenant_sk`` = ``{created_us:020}#{job_id}``, projecting only
  attributes that seldom change, so a running job's frequent writes cost no index write): a tenant's
  jobs newest first (``list_jobs``, then read by key) and since a date (the monthly image quota).
  Overloaded: ``dlv#{job_id}`` holds a job's webhook deliveries, ``#keys`` the API keys (``#`` is
  never in a tenant id, so no tenant's partition meets them).
- ``by-due`` (``due_pk``, ``due_at``): ``job#queued`` at its last enqueue ("queued too long"),
  ``job#running`` at its lease expiry ("lease expired"), ``dlv#pending`` when due (the later of its
  next attempt and its sender's lease), ``dlv#ended`` at its last attempt (retention purge).
- ``by-age`` (``age_pk`` = ``job#queued``/``job#running``, ``created_at``): counts and the oldest
  active job (gauges).
- ``by-active-tenant`` (``active_tenant``, ``created_at``): a tenant's queued and running jobs
  (concurrent-job quota).

Index reads are eventually consistent: the reaper and the sender re-check every item they act on
with a conditional write, so a stale index entry costs a failed condition, never a double action.
Idempotency keys expire by TTL, and the code ignores an expired item that TTL has not deleted yet.
Times are integer microseconds since the epoch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3

from bgremover.ledger.base import (
    IDEMPOTENCY_TTL,
    Chunk,
    ChunkStatus,
    IdempotencyConflictError,
    ImageOutcome,
    ImageRecord,
    ImageStatus,
    Job,
    JobStatus,
    JobType,
    LeaseLostError,
    NewJob,
    utcnow,
)
from bgremover.ledger.dynamodb_keys import DynamoDbApiKeyStore
from bgremover.ledger.dynamodb_outbox import DynamoDbWebhookOutbox
from bgremover.ledger.dynamodb_table import (
    Table,
    Write,
    create_table,
    dumps,
    epoch_seconds,
    from_micros,
    loads,
    micros,
    serialize,
)

JOB_SK = "#JOB"
CHUNK_SK_PREFIX = "CHK#"
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
_OWNED = "#lease_owner = :owner AND #status = :running"
_CONDITION = "ConditionalCheckFailed"


def job_key(job_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": JOB_SK}


def chunk_key(job_id: str, index: int) -> dict[str, str]:
    """A chunk's item, in its job's partition; the zero-padded index sorts chunks in order."""
    return {"pk": f"JOB#{job_id}", "sk": f"{CHUNK_SK_PREFIX}{index:05d}"}


def tenant_sort_key(created_us: int, job_id: str) -> str:
    return f"{created_us:020d}#{job_id}"


def _indexed_as(status: JobStatus, due_at: datetime) -> dict[str, Any]:
    """The sparse index keys of an active job (``active_tenant`` stays from its creation on)."""
    return {"due_pk": f"job#{status.value}", "due_at": micros(due_at), "age_pk": f"job#{status.value}"}


_UNINDEXED = dict.fromkeys(("due_pk", "due_at", "age_pk", "active_tenant"))  # a final job leaves them


class DynamoDbJobLedger(DynamoDbWebhookOutbox):
    """``JobLedger`` on one DynamoDB table (its webhook outbox and API keys included)."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        idempotency_ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> None:
        self._db = Table(client, table)
        self._now = clock
        self._idempotency_ttl = idempotency_ttl

    @classmethod
    def from_url(
        cls, url: str, *, migrate: bool = True, clock: Callable[[], datetime] = utcnow
    ) -> DynamoDbJobLedger:
        table = url.removeprefix("dynamodb://").strip("/")
        if not table:
            raise ValueError(f"no table in the database URL (expected dynamodb://TABLE): {url!r}")
        ledger = cls(boto3.client("dynamodb"), table, clock=clock)
        if migrate:
            ledger.migrate()
        return ledger

    def migrate(self) -> None:
        create_table(self._db.client, self._db.name)

    def close(self) -> None:
        """Nothing to release: boto3 clients hold no connections worth closing early."""

    def key_store(self) -> DynamoDbApiKeyStore:
        return DynamoDbApiKeyStore(self._db, clock=self._now)

    def ping(self) -> None:
        self._db.client.describe_table(TableName=self._db.name)

    # --- the API side -------------------------------------------------------------------------
    def create_job(self, new: NewJob) -> tuple[Job, bool]:
        """Image items first (idempotent puts, invisible until their job item exists, so a job of
        1,000 images needs no transaction over 100 items), then the job and its idempotency key in
        one transaction. Images written for a job that is not created (a replay, a conflict) are
        deleted again."""
        images_written = False
        try:
            for _ in range(3):  # a lost race for the idempotency key is answered by the winner's job
                now = self._now()
                existing = self._idempotent_match(new, now)
                if existing is not None:
                    break
                if not images_written:
                    self._put_images(new)
                    images_written = True
                item = self._job_item(new, now)
                refused = self._db.transact(self._create_actions(new, item, now))
                if refused is None:
                    return _job(item, None), True
                if refused[0] == _CONDITION:
                    raise ValueError(f"a job {new.job_id} exists already")
            else:
                raise RuntimeError(f"job {new.job_id}: its idempotency key kept changing hands")
        except BaseException:
            if images_written:
                self._delete_images(new)
            raise
        if images_written:
            self._delete_images(new)
        return existing, False

    @staticmethod
    def _image_items(new: NewJob) -> list[dict[str, Any]]:
        return [
            {
                "pk": f"JOB#{new.job_id}",
                "sk": f"IMG#{image.image_id}",
                "job_id": new.job_id,
                "tenant_id": new.tenant_id,
                "image_id": image.image_id,
                "position": position,
                "filename": image.filename,
                "blob_key": image.blob_key,
                "content_type": image.content_type,
                "size_bytes": image.size_bytes,
                "status": ImageStatus.PENDING.value,
                "outputs": "{}",
            }
            for position, image in enumerate(new.images)
        ]

    def _put_images(self, new: NewJob) -> None:
        self._db.batch_write([{"PutRequest": {"Item": serialize(item)}} for item in self._image_items(new)])

    def _delete_images(self, new: NewJob) -> None:
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in self._image_items(new)]
        self._db.batch_write([{"DeleteRequest": {"Key": serialize(key)}} for key in keys])

    def _create_actions(self, new: NewJob, item: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
        job = {
            "TableName": self._db.name,
            "Item": serialize(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        actions: list[dict[str, Any]] = [{"Put": job}]
        if new.idempotency_key is not None:
            actions.append({"Put": self._idempotency_put(new, now)})
        return actions

    def _idempotency_put(self, new: NewJob, now: datetime) -> dict[str, Any]:
        assert new.idempotency_key is not None
        return {
            "TableName": self._db.name,
            "Item": serialize(
                {
                    "pk": _idempotency_pk(new.tenant_id, new.idempotency_key),
                    "sk": "#IDEM",
                    "job_id": new.job_id,
                    "fingerprint": new.request_fingerprint,
                    "created_at": micros(now),
                    "expires_at": epoch_seconds(now + self._idempotency_ttl),
                }
            ),
            # Free, or held by a key past its window that TTL has not deleted yet.
            "ConditionExpression": "attribute_not_exists(pk) OR #created_at < :expired",
            "ExpressionAttributeNames": {"#created_at": "created_at"},
            "ExpressionAttributeValues": serialize({":expired": micros(now - self._idempotency_ttl)}),
        }

    def _idempotent_match(self, new: NewJob, now: datetime) -> Job | None:
        if new.idempotency_key is None:
            return None
        held = self._idempotency_item(new.tenant_id, new.idempotency_key, now)
        if held is None:
            return None
        existing = self.get_job(new.tenant_id, held["job_id"])
        if existing is None:
            return None
        if held.get("fingerprint") != new.request_fingerprint:
            raise IdempotencyConflictError(existing.job_id)
        return existing

    def _idempotency_item(self, tenant_id: str, key: str, now: datetime) -> dict[str, Any] | None:
        """The live holder of a tenant's idempotency key (an expired one is ignored, deleted or not)."""
        item = self._db.get({"pk": _idempotency_pk(tenant_id, key), "sk": "#IDEM"})
        if item is None or from_micros(item["created_at"]) < now - self._idempotency_ttl:  # type: ignore[operator]
            return None
        return item

    @staticmethod
    def _job_item(new: NewJob, now: datetime) -> dict[str, Any]:
        created = micros(now)
        return {
            **job_key(new.job_id),
            "job_id": new.job_id,
            "tenant_id": new.tenant_id,
            "type": new.type.value,
            "status": JobStatus.QUEUED.value,
            "progress_done": 0,
            "progress_total": len(new.images),
            "options": dumps(new.options),
            "stages": "{}",
            "request_id": new.request_id,
            "idempotency_key": new.idempotency_key,
            "attempts": 0,
            "created_at": created,
            "updated_at": created,
            "tenant_pk": new.tenant_id,
            "tenant_sk": tenant_sort_key(created, new.job_id),
            "active_tenant": new.tenant_id,
            **_indexed_as(JobStatus.QUEUED, now),
        }

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        item = self._db.get(job_key(job_id))
        if item is None or item["tenant_id"] != tenant_id:
            return None
        return self._with_groups(item)

    def get_job_for_worker(self, job_id: str) -> Job | None:
        item = self._db.get(job_key(job_id))
        return None if item is None else self._with_groups(item)

    def find_idempotent_job(self, tenant_id: str, idempotency_key: str) -> Job | None:
        held = self._idempotency_item(tenant_id, idempotency_key, self._now())
        return None if held is None else self.get_job(tenant_id, held["job_id"])

    def count_active_jobs(self, tenant_id: str) -> int:
        return self._db.count("by-active-tenant", "active_tenant", tenant_id)

    def images_submitted_since(self, tenant_id: str, since: datetime) -> int:
        total = 0
        for item in self._db.query(
            IndexName="by-tenant",
            KeyConditionExpression="tenant_pk = :tenant AND tenant_sk >= :since",
            ExpressionAttributeValues=serialize(
                {":tenant": tenant_id, ":since": tenant_sort_key(micros(since), "")}
            ),
            ProjectionExpression="progress_total, #status, attempts",
            ExpressionAttributeNames={"#status": "status"},
        ):
            never_taken = item["status"] == JobStatus.FAILED.value and int(item["attempts"]) == 0
            total += 0 if never_taken else int(item["progress_total"])
        return total

    def list_jobs(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        job_type: JobType | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Job]:
        bound = "~" if before is None else tenant_sort_key(micros(before[0]), before[1])
        params: dict[str, Any] = {
            "IndexName": "by-tenant",
            "KeyConditionExpression": "tenant_pk = :tenant AND tenant_sk < :before",
            "ScanIndexForward": False,
        }
        values: dict[str, Any] = {":tenant": tenant_id, ":before": bound}
        filters, names = [], {}
        if status is not None:
            filters.append("#status = :status")
            names["#status"], values[":status"] = "status", status.value
        if job_type is not None:
            filters.append("#type = :type")
            names["#type"], values[":type"] = "type", job_type.value
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
            params["ExpressionAttributeNames"] = names
        keys: list[dict[str, str]] = []
        for item in self._db.query(ExpressionAttributeValues=serialize(values), **params):
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            if len(keys) >= limit:
                break
        return [self._with_groups(item) for item in self._db.get_many(keys)]

    def list_images(self, tenant_id: str, job_id: str) -> list[ImageRecord]:
        items = self._db.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :images)",
            ExpressionAttributeValues=serialize({":pk": f"JOB#{job_id}", ":images": "IMG#"}),
            ConsistentRead=True,
        )
        mine = [item for item in items if item["tenant_id"] == tenant_id]
        return [_image(item) for item in sorted(mine, key=lambda item: int(item["position"]))]

    def get_image(self, tenant_id: str, job_id: str, image_id: str) -> ImageRecord | None:
        item = self._db.get({"pk": f"JOB#{job_id}", "sk": f"IMG#{image_id}"})
        return None if item is None or item["tenant_id"] != tenant_id else _image(item)

    def cancel(self, tenant_id: str, job_id: str) -> Job | None:
        now = self._now()
        write = Write(
            job_key(job_id),
            sets={
                "status": JobStatus.CANCELED.value,
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": micros(now),
                "finished_at": micros(now),
                **_UNINDEXED,
            },
            condition="#tenant_id = :tenant AND #status IN (:queued, :running)",
            values={":tenant": tenant_id, ":queued": "queued", ":running": "running"},
        )
        # The API does not read tenant configuration: the sender decides whether anyone wants it.
        self._db.transact(
            [{"Update": write.params(self._db.name)}, self._delivery_put(job_id, tenant_id, "canceled", now)]
        )  # not applied: already final, or not this tenant's
        return self.get_job(tenant_id, job_id)

    def fail(self, job_id: str, error: dict[str, Any]) -> None:
        now = self._now()
        item = self._db.get(job_key(job_id))
        if item is None:
            return
        # The client was told 503 "submit again": free its Idempotency-Key so the retry creates a job.
        write = Write(
            job_key(job_id),
            sets={
                "status": JobStatus.FAILED.value,
                "error": dumps(error),
                "updated_at": micros(now),
                "finished_at": micros(now),
                "idempotency_key": None,
                **_UNINDEXED,
            },
            condition="#status = :queued",
            values={":queued": JobStatus.QUEUED.value},
        )
        actions = [{"Update": write.params(self._db.name)}]
        if item.get("idempotency_key") is not None:
            key = {"pk": _idempotency_pk(item["tenant_id"], item["idempotency_key"]), "sk": "#IDEM"}
            actions.append(
                {
                    "Delete": {
                        "TableName": self._db.name,
                        "Key": serialize(key),
                        "ConditionExpression": "attribute_not_exists(pk) OR job_id = :job",
                        "ExpressionAttributeValues": serialize({":job": job_id}),
                    }
                }
            )
        self._db.transact(actions)  # not applied: a worker took it after all, or it is final

    # --- the worker side ------------------------------------------------------------------------
    def claim(self, job_id: str, owner: str, lease_seconds: float) -> Job | None:
        now = self._now()
        expires = now + timedelta(seconds=lease_seconds)
        write = Write(
            job_key(job_id),
            sets={
                "status": JobStatus.RUNNING.value,
                "lease_owner": owner,
                "lease_expires_at": micros(expires),
                "heartbeat_at": micros(now),
                "updated_at": micros(now),
                **_indexed_as(JobStatus.RUNNING, expires),
            },
            adds={"attempts": 1},
            if_absent={"started_at": micros(now)},
            condition="#status = :queued OR (#status = :running AND #lease_expires_at < :now)",
            values={":queued": "queued", ":running": "running", ":now": micros(now)},
        )
        # A retried request whose first try won (its answer lost) finds the lease taken and answers
        # None: the job then waits for its lease to expire and the reaper, never runs twice.
        claimed = self._db.update(write, ReturnValues="ALL_NEW")
        return None if claimed is None else self._with_groups(claimed)

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> None:
        now = self._now()
        expires = micros(now + timedelta(seconds=lease_seconds))
        self._owned(job_id, owner, lease_expires_at=expires, due_at=expires, heartbeat_at=micros(now))

    def start_stage(self, job_id: str, owner: str, stage: str) -> None:
        self._owned(job_id, owner, stage=stage)

    def finish_stage(self, job_id: str, owner: str, stage: str, ms: float, **detail: Any) -> None:
        """Read, then write under the lease: only the owner writes stages, so nothing is lost."""
        item = self._db.get(job_key(job_id))
        if item is None:
            raise LeaseLostError(job_id)
        stages: dict[str, Any] = loads(item.get("stages")) or {}
        stages.pop(stage, None)  # a stage finished again moves to the end, as on SQL
        stages[stage] = {"ms": round(ms, 3), **detail}
        self._owned(job_id, owner, stages=dumps(stages))

    def record_image(self, job_id: str, owner: str, image_id: str, outcome: ImageOutcome) -> None:
        values = _image_values(outcome)
        if not values:
            return
        image = Write(
            {"pk": f"JOB#{job_id}", "sk": f"IMG#{image_id}"},
            sets=values,
            condition="attribute_exists(pk)",
        )
        lease = self._lease_check(job_id, owner)
        refused = self._db.transact([lease, {"Update": image.params(self._db.name)}])
        if refused is not None and refused[0] == _CONDITION:
            raise LeaseLostError(job_id)
        # refused[1] alone: the image does not exist, nothing to record (as on SQL)

    def set_progress(self, job_id: str, owner: str, done: int) -> None:
        self._owned(job_id, owner, progress_done=done)

    def succeed(self, job_id: str, owner: str, result: dict[str, Any], *, notify: bool = False) -> None:
        groups = result.get("groups")
        final: dict[str, Any] = {"stage": None, "error": None}
        keys: list[dict[str, str]] = []
        if groups is None:
            final["result"] = dumps(result)
        else:
            token = uuid.uuid4().hex
            keys = [{"pk": f"JOB#{job_id}", "sk": f"GRP#{token}#{n:05d}"} for n in range(len(groups))]
            self._db.batch_write(
                [
                    {"PutRequest": {"Item": serialize({**key, "group": dumps(group)})}}
                    for key, group in zip(keys, groups, strict=True)
                ]
            )
            summary = {key: value for key, value in result.items() if key != "groups"}
            final.update(result=dumps(summary), groups_token=token)
        try:
            self._finish(job_id, owner, JobStatus.SUCCEEDED, notify, final)
        except LeaseLostError:
            # The groups went in first, under a token of this attempt alone (the job item names the
            # token of the attempt that committed): a lost lease leaves them unread; remove them.
            self._db.batch_write([{"DeleteRequest": {"Key": serialize(key)}} for key in keys])
            raise

    def fail_claimed(self, job_id: str, owner: str, error: dict[str, Any], *, notify: bool = False) -> None:
        self._finish(job_id, owner, JobStatus.FAILED, notify, {"error": dumps(error)})

    def _finish(
        self, job_id: str, owner: str, status: JobStatus, notify: bool, values: dict[str, Any]
    ) -> None:
        """The final write and its webhook outbox item in one transaction."""
        now = self._now()
        write = Write(
            job_key(job_id),
            sets={
                "status": status.value,
                "lease_owner": None,
                "lease_expires_at": None,
                "finished_at": micros(now),
                "updated_at": micros(now),
                **_UNINDEXED,
                **values,
            },
            condition=_OWNED,
            values={":owner": owner, ":running": JobStatus.RUNNING.value},
        )
        actions = [{"Update": write.params(self._db.name)}]
        if notify:
            tenant_id = self._tenant_of(job_id)
            actions.append(self._delivery_put(job_id, tenant_id, status.value, now))
        if self._db.transact(actions) is not None:
            raise LeaseLostError(job_id)

    def release(self, job_id: str, owner: str) -> None:
        now = self._now()
        self._owned(
            job_id,
            owner,
            status=JobStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            **_indexed_as(JobStatus.QUEUED, now),
        )

    # --- the reaper -------------------------------------------------------------------------------
    def reclaimable(self, queued_before: datetime, limit: int = 100) -> list[str]:
        found: list[tuple[int, str]] = []
        for state, bound in (("job#queued", queued_before), ("job#running", self._now())):
            for item in self._db.query(
                IndexName="by-due",
                KeyConditionExpression="due_pk = :state AND due_at < :bound",
                ExpressionAttributeValues=serialize({":state": state, ":bound": micros(bound)}),
                Limit=limit,
            ):
                found.append((int(item["created_at"]), item["job_id"]))
        return [job_id for _, job_id in sorted(found)[:limit]]

    def touch_queued(self, job_id: str) -> None:
        now = micros(self._now())
        write = Write(
            job_key(job_id),
            sets={"updated_at": now, "due_at": now},
            condition="#status = :queued",
            values={":queued": JobStatus.QUEUED.value},
        )
        self._db.update(write)  # not applied: no longer queued

    def settle_lost_attempt(self, job: Job, error: dict[str, Any], *, dead: bool) -> bool:
        now = self._now()
        values: dict[str, Any] = {"error": dumps(error), "updated_at": micros(now)}
        if dead:
            values.update(
                status=JobStatus.FAILED.value,
                stage=None,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=micros(now),
                **_UNINDEXED,
            )
        write = Write(
            job_key(job.job_id),
            sets=values,
            condition=(
                "#status = :running AND #lease_owner = :owner AND #attempts = :attempts "
                "AND #lease_expires_at < :now"
            ),
            values={
                ":running": JobStatus.RUNNING.value,
                ":owner": job.lease_owner,
                ":attempts": job.attempts,
                ":now": micros(now),
            },
        )
        actions = [{"Update": write.params(self._db.name)}]
        if dead:  # announced like any failure; the sender drops it where no webhook wants it
            actions.append(self._delivery_put(job.job_id, job.tenant_id, JobStatus.FAILED.value, now))
        return self._db.transact(actions) is None

    def count_by_status(self) -> dict[JobStatus, int]:
        """Queued and running only: counting the final states would read every job ever stored."""
        return {status: self._db.count("by-age", "age_pk", f"job#{status.value}") for status in _ACTIVE}

    def oldest_created_at(self, status: JobStatus) -> datetime | None:
        """For the active states (the ones indexed); ``None`` for a final state."""
        if status not in _ACTIVE:
            return None
        oldest = self._db.query(
            IndexName="by-age",
            KeyConditionExpression="age_pk = :state",
            ExpressionAttributeValues=serialize({":state": f"job#{status.value}"}),
            Limit=1,
        )
        item = next(oldest, None)
        return None if item is None else from_micros(item["created_at"])

    # --- helpers --------------------------------------------------------------------------------
    def _owned(self, job_id: str, owner: str, **values: Any) -> None:
        """Apply ``values`` only while ``owner`` holds the running job; else ``LeaseLostError``."""
        write = Write(
            job_key(job_id),
            sets={"updated_at": micros(self._now()), **values},
            condition=_OWNED,
            values={":owner": owner, ":running": JobStatus.RUNNING.value},
        )
        if self._db.update(write) is None:
            raise LeaseLostError(job_id)

    def _lease_check(self, job_id: str, owner: str) -> dict[str, Any]:
        """A transaction's check that ``owner`` holds the job, writing nothing to the job item (a
        job's image writes then cost no job-item or index write)."""
        return {
            "ConditionCheck": {
                "TableName": self._db.name,
                "Key": serialize(job_key(job_id)),
                "ConditionExpression": _OWNED,
                "ExpressionAttributeNames": {"#lease_owner": "lease_owner", "#status": "status"},
                "ExpressionAttributeValues": serialize(
                    {":owner": owner, ":running": JobStatus.RUNNING.value}
                ),
            }
        }

    def _tenant_of(self, job_id: str) -> str:
        item = self._db.get(job_key(job_id))
        if item is None:
            raise LeaseLostError(job_id)
        return str(item["tenant_id"])

    def _with_groups(self, item: dict[str, Any]) -> Job:
        """A job with its result's groups, read by query when it has any."""
        token = item.get("groups_token")
        if token is None:
            return _job(item, loads(item.get("result")))
        groups = [
            loads(group["group"])
            for group in self._db.query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :groups)",
                ExpressionAttributeValues=serialize({":pk": item["pk"], ":groups": f"GRP#{token}#"}),
                ConsistentRead=True,
            )
        ]
        return _job(item, {**loads(item["result"]), "groups": groups})

    # --- chunks of a big job --------------------------------------------------------------------
    # Every chunk write is a transaction: the chunk's own condition (its lease) and a ConditionCheck
    # that the job is still running, so a cancel or a failure stops every chunk worker at its next
    # write. The chunk plan (``chunk_images``) is written on the job item with the first chunks: it
    # is what makes opening idempotent even over several transactions (more than 99 chunks).

    def open_chunks(self, job_id: str, owner: str, chunk_images: int) -> list[Chunk]:
        if chunk_images < 1:
            raise ValueError(f"chunk_images must be at least 1, not {chunk_images}")
        for _ in range(3):
            item = self._db.get(job_key(job_id))
            if item is None or item.get("lease_owner") != owner or item["status"] != JobStatus.RUNNING:
                raise LeaseLostError(job_id)
            planned_size = item.get("chunk_images")
            size = chunk_images if planned_size is None else int(planned_size)
            existing = self.list_chunks(job_id)
            have = {chunk.index for chunk in existing}
            missing = [c for c in _plan(job_id, int(item["progress_total"]), size) if c.index not in have]
            if planned_size is not None and not missing:
                return existing
            # Chunks are missing only where an earlier opener died between its transactions.
            if self._put_chunks(job_id, owner, missing, plan=None if planned_size is not None else size):
                return sorted([*existing, *missing], key=lambda chunk: chunk.index)
        raise RuntimeError(f"job {job_id}: its chunks kept changing while they were opened")

    def _put_chunks(self, job_id: str, owner: str, chunks: list[Chunk], *, plan: int | None) -> bool:
        """Write new chunk items, 99 to a transaction beside the owner's lease check (the first one
        also sets the plan on the job item when ``plan`` is given). False when one was refused for
        another reason than the lease (the same owner opened them at once): read again."""
        batch = TRANSACTION_ITEMS - 1
        for start in range(0, max(len(chunks), 1), batch):
            if plan is not None and start == 0:
                write = Write(
                    job_key(job_id),
                    sets={"chunk_images": plan},
                    condition=f"{_OWNED} AND attribute_not_exists(#chunk_images)",
                    values={":owner": owner, ":running": JobStatus.RUNNING.value},
                )
                guard = {"Update": write.params(self._db.name)}
            else:
                guard = self._lease_check(job_id, owner)
            puts = [
                {
                    "Put": {
                        "TableName": self._db.name,
                        "Item": serialize(_chunk_item(chunk)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for chunk in chunks[start : start + batch]
            ]
            refused = self._db.transact([guard, *puts])
            if refused is not None:
                if not self._holds(job_id, owner):
                    raise LeaseLostError(job_id)
                return False
        return True

    def claim_chunk(self, job_id: str, owner: str, lease_seconds: float) -> Chunk | None:
        while True:
            now = self._now()
            candidate = next((chunk for chunk in self.list_chunks(job_id) if _claimable(chunk, now)), None)
            if candidate is None:
                return None
            expires = now + timedelta(seconds=lease_seconds)
            write = Write(
                chunk_key(job_id, candidate.index),
                sets={
                    "status": ChunkStatus.RUNNING.value,
                    "lease_owner": owner,
                    "lease_expires_at": micros(expires),
                },
                adds={"attempts": 1},
                # The attempts read pin the version: a claim in between makes this one look again.
                condition=(
                    "#attempts = :seen AND "
                    "(#status = :pending OR (#status = :running AND #lease_expires_at < :now))"
                ),
                values={
                    ":seen": candidate.attempts,
                    ":pending": ChunkStatus.PENDING.value,
                    ":running": ChunkStatus.RUNNING.value,
                    ":now": micros(now),
                },
            )
            refused = self._db.transact(
                [self._running_check(job_id), {"Update": write.params(self._db.name)}]
            )
            if refused is None:
                return Chunk(
                    job_id=job_id,
                    index=candidate.index,
                    start=candidate.start,
                    stop=candidate.stop,
                    status=ChunkStatus.RUNNING,
                    attempts=candidate.attempts + 1,
                    done=candidate.done,
                    lease_owner=owner,
                    lease_expires_at=from_micros(micros(expires)),
                    stages=candidate.stages,
                )
            if refused[0] == _CONDITION:
                return None  # the job is not running
            # Another worker took this chunk between the read and the write: look again.

    def heartbeat_chunk(
        self, job_id: str, index: int, owner: str, lease_seconds: float, *, done: int | None = None
    ) -> None:
        values: dict[str, Any] = {"lease_expires_at": micros(self._now() + timedelta(seconds=lease_seconds))}
        if done is not None:
            values["done"] = done
        self._chunk_owned(job_id, index, owner, values)

    def record_chunk_image(
        self, job_id: str, index: int, owner: str, image_id: str, outcome: ImageOutcome
    ) -> None:
        values = _image_values(outcome)
        if not values:
            return
        image = Write(
            {"pk": f"JOB#{job_id}", "sk": f"IMG#{image_id}"}, sets=values, condition="attribute_exists(pk)"
        )
        chunk = {
            "ConditionCheck": {
                "TableName": self._db.name,
                "Key": serialize(chunk_key(job_id, index)),
                "ConditionExpression": _OWNED,
                "ExpressionAttributeNames": {"#lease_owner": "lease_owner", "#status": "status"},
                "ExpressionAttributeValues": serialize(
                    {":owner": owner, ":running": ChunkStatus.RUNNING.value}
                ),
            }
        }
        refused = self._db.transact(
            [self._running_check(job_id), chunk, {"Update": image.params(self._db.name)}]
        )
        if refused is None or refused == ["None", "None", _CONDITION]:
            return  # the image alone refused: it does not exist, nothing to record (as record_image)
        raise LeaseLostError(job_id)

    def finish_chunk(self, job_id: str, index: int, owner: str, stages: dict[str, dict[str, Any]]) -> None:
        item = self._db.get(chunk_key(job_id, index))  # its bounds never change: reading them is safe
        if item is None:
            raise LeaseLostError(job_id)
        self._chunk_owned(
            job_id,
            index,
            owner,
            {
                "status": ChunkStatus.DONE.value,
                "done": int(item["stop"]) - int(item["start"]),
                "lease_owner": None,
                "lease_expires_at": None,
                "stages": dumps(stages),
            },
        )

    def release_chunk(self, job_id: str, index: int, owner: str) -> bool:
        write = Write(
            chunk_key(job_id, index),
            sets={"status": ChunkStatus.PENDING.value, "lease_owner": None, "lease_expires_at": None},
            condition=_OWNED,
            values={":owner": owner, ":running": ChunkStatus.RUNNING.value},
        )
        return self._db.update(write) is not None

    def list_chunks(self, job_id: str) -> list[Chunk]:
        items = self._db.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chunks)",
            ExpressionAttributeValues=serialize({":pk": f"JOB#{job_id}", ":chunks": CHUNK_SK_PREFIX}),
            ConsistentRead=True,
        )
        return [_chunk(item) for item in items]

    def _chunk_owned(self, job_id: str, index: int, owner: str, values: dict[str, Any]) -> None:
        """Apply ``values`` to the chunk only while ``owner`` holds it and its job is running; else
        ``LeaseLostError``."""
        write = Write(
            chunk_key(job_id, index),
            sets=values,
            condition=_OWNED,
            values={":owner": owner, ":running": ChunkStatus.RUNNING.value},
        )
        if (
            self._db.transact([self._running_check(job_id), {"Update": write.params(self._db.name)}])
            is not None
        ):
            raise LeaseLostError(job_id)

    def _running_check(self, job_id: str) -> dict[str, Any]:
        """A transaction's check that the job is running, whoever holds its lease (chunk writes)."""
        return {
            "ConditionCheck": {
                "TableName": self._db.name,
                "Key": serialize(job_key(job_id)),
                "ConditionExpression": "#status = :running",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize({":running": JobStatus.RUNNING.value}),
            }
        }

    def _holds(self, job_id: str, owner: str) -> bool:
        item = self._db.get(job_key(job_id))
        return item is not None and item.get("lease_owner") == owner and item["status"] == JobStatus.RUNNING


def _idempotency_pk(tenant_id: str, key: str) -> str:
    return f"IDEM#{tenant_id}#{key}"


def _image_values(outcome: ImageOutcome) -> dict[str, Any]:
    """The attributes an outcome sets: ``None`` fields are left as they were; a new status clears the
    error (a ``None`` value removes it) unless the outcome names one."""
    values: dict[str, Any] = {
        name: getattr(outcome, name)
        for name in ("width", "height", "group_id")
        if getattr(outcome, name) is not None
    }
    if outcome.outputs is not None:
        values["outputs"] = dumps(outcome.outputs)
    if outcome.error is not None:
        values["error"] = dumps(outcome.error)
    if outcome.status is not None:
        values["status"] = outcome.status.value
        values.setdefault("error", None)
    return values


def _job(item: dict[str, Any], result: dict[str, Any] | None) -> Job:
    return Job(
        job_id=item["job_id"],
        tenant_id=item["tenant_id"],
        type=JobType(item["type"]),
        status=JobStatus(item["status"]),
        stage=item.get("stage"),
        progress_done=int(item["progress_done"]),
        progress_total=int(item["progress_total"]),
        stages=loads(item.get("stages")) or {},
        options=loads(item["options"]),
        created_at=from_micros(item["created_at"]),  # type: ignore[arg-type]
        updated_at=from_micros(item["updated_at"]),  # type: ignore[arg-type]
        attempts=int(item["attempts"]),
        error=loads(item.get("error")),
        result=result,
        request_id=item.get("request_id"),
        lease_owner=item.get("lease_owner"),
        lease_expires_at=from_micros(item.get("lease_expires_at")),
    )


def _image(item: dict[str, Any]) -> ImageRecord:
    return ImageRecord(
        image_id=item["image_id"],
        job_id=item["job_id"],
        filename=item["filename"],
        blob_key=item["blob_key"],
        content_type=item["content_type"],
        size_bytes=int(item["size_bytes"]),
        status=ImageStatus(item["status"]),
        error=loads(item.get("error")),
        width=None if item.get("width") is None else int(item["width"]),
        height=None if item.get("height") is None else int(item["height"]),
        group_id=item.get("group_id"),
        outputs=loads(item.get("outputs")) or {},
    )


def _plan(job_id: str, total: int, size: int) -> list[Chunk]:
    """The chunks of a job of ``total`` images, ``size`` to a chunk (the last may be shorter)."""
    return [
        Chunk(job_id, index, start, min(start + size, total), ChunkStatus.PENDING)
        for index, start in enumerate(range(0, total, size))
    ]


def _chunk_item(chunk: Chunk) -> dict[str, Any]:
    return {
        **chunk_key(chunk.job_id, chunk.index),
        "job_id": chunk.job_id,
        "chunk_index": chunk.index,
        "start": chunk.start,
        "stop": chunk.stop,
        "status": chunk.status.value,
        "attempts": chunk.attempts,
        "done": chunk.done,
        "stages": dumps(chunk.stages),
    }


def _claimable(chunk: Chunk, now: datetime) -> bool:
    if chunk.status is ChunkStatus.PENDING:
        return True
    expires = chunk.lease_expires_at
    return chunk.status is ChunkStatus.RUNNING and expires is not None and expires < now


def _chunk(item: dict[str, Any]) -> Chunk:
    return Chunk(
        job_id=item["job_id"],
        index=int(item["chunk_index"]),
        start=int(item["start"]),
        stop=int(item["stop"]),
        status=ChunkStatus(item["status"]),
        attempts=int(item["attempts"]),
        done=int(item["done"]),
        lease_owner=item.get("lease_owner"),
        lease_expires_at=from_micros(item.get("lease_expires_at")),
        stages=loads(item.get("stages")) or {},
    )
