"""``bg-remover keys create|list|revoke``: API keys in the ledger database (``BGR_DATABASE_URL``, any
backend: ``bgremover.ledger.factory`` opens it).

A key is printed once, at creation; only the SHA-256 digest of its secret is stored, so a lost key is
revoked and replaced, never recovered. A running API drops a revoked key within
``BGR_API_KEY_REFRESH_S`` (its in-memory copy is reloaded in the background), without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bgremover.cli.app import app

if TYPE_CHECKING:  # the commands import them: SQLAlchemy, PyJWT and httpx would slow every CLI call
    from bgremover.ledger.base import ApiKeyStore

keys_app = typer.Typer(help="Create, list and revoke tenants' API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
errors = Console(stderr=True)


@contextmanager
def _store() -> Iterator[ApiKeyStore]:
    from bgremover.ledger.factory import key_store_from_url
    from bgremover.settings import get_settings

    settings = get_settings()
    store = key_store_from_url(settings.database_url, migrate=settings.database_migrate)
    try:
        yield store
    finally:
        store.close()


def _tenant(value: str) -> str:
    from bgremover.tenancy.errors import TenantResolutionError
    from bgremover.tenancy.ids import checked_tenant_id

    try:
        return checked_tenant_id(value, "--tenant")
    except TenantResolutionError as exc:
        raise typer.BadParameter(exc.detail, param_hint="--tenant") from exc


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant the key acts for.")],
    label: Annotated[str, typer.Option("--label", help="A note for people: who or what uses it.")] = "",
) -> None:
    """Create a key for TENANT and print it once (only its digest is stored)."""
    from bgremover.ledger.base import ApiKeyRecord, utcnow
    from bgremover.tenancy.api_keys import issue_key

    issued = issue_key()
    record = ApiKeyRecord(issued.key_id, _tenant(tenant), issued.digest, label, utcnow())
    with _store() as store:
        store.add(record)
    errors.print(f"key {issued.key_id} for tenant {record.tenant_id}; shown once, store it now:")
    print(issued.plaintext)  # alone on stdout, so that `KEY=$(bg-remover keys create ...)` works


@keys_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (ids, tenants, labels, dates); secrets are never stored, so never shown."""
    only = _tenant(tenant) if tenant is not None else None  # checked before the database is opened
    with _store() as store:
        records = store.list_keys(only)
    table = Table("key id", "tenant", "label", "created", "revoked")
    for record in records:
        revoked = record.revoked_at.isoformat(timespec="seconds") if record.revoked_at else ""
        table.add_row(
            record.key_id,
            record.tenant_id,
            record.label,
            record.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (as `keys list` shows it).")]) -> None:
    """Revoke a key; running APIs refuse it within BGR_API_KEY_REFRESH_S. Exit 1 if the id is unknown."""
    with _store() as store:
        record = store.revoke(key_id)
    if record is None:
        errors.print(f"[red]no key with id {key_id!r}[/red]")
        raise typer.Exit(1)
    assert record.revoked_at is not None
    console.print(
        f"key {record.key_id} of tenant {record.tenant_id} revoked at {record.revoked_at.isoformat()}"
    )
