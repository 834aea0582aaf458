"""``bg-remover group INPUT... [--json FILE] [--threshold T]``: photos of the same product, gathered.

Every input file ends up exactly once in the output: in one group, or under ``errors`` with the reason
it could not be used (also printed on stderr). Files are processed one by one and described in small
batches, so memory stays flat however many photos there are (only the 1.5k-float descriptors are kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bgremover.cli.app import app
from bgremover.grouping.threshold import DEFAULT_THRESHOLD

if TYPE_CHECKING:  # the command imports them: NumPy, scikit-learn and ONNX Runtime would slow every CLI call
    import numpy as np

    from bgremover.grouping import Group, GroupingEngine, SubjectView
    from bgremover.grouping.verify import Keypoints

BATCH = 16
out = Console()
err = Console(stderr=True)


@dataclass
class _Run:
    """Files that made it (with their descriptors, in input order) and files that did not."""

    files: list[Path] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)
    keypoints: list[Keypoints] = field(default_factory=list)  # empty when the engine verifies nothing
    errors: list[dict[str, str]] = field(default_factory=list)


def unique_inputs(inputs: list[Path]) -> list[Path]:
    """The files ``remove`` would read (folders expanded), each file once however often it was named."""
    from bgremover.cutout.batch import collect_inputs

    first: dict[Path, Path] = {}
    for path in collect_inputs(inputs):
        first.setdefault(path.resolve(), path)
    return list(first.values())


def _error(path: Path, code: str, message: str) -> dict[str, str]:
    err.print(f"[red]error[/red] {path}: {message}", highlight=False, soft_wrap=True)
    return {"file": str(path), "code": code, "error": message}


def _view(engine: GroupingEngine, path: Path) -> SubjectView | dict[str, str]:
    from bgremover.imaging.decode import ImageDecodeError, decode_image

    try:
        return engine.view(decode_image(path))
    except ImageDecodeError as exc:
        return _error(path, exc.code, str(exc))
    except OSError as exc:
        return _error(path, "unreadable", exc.strerror or str(exc))
    except Exception as exc:  # one photo's failure must never abort the batch
        return _error(path, "processing-failed", f"{type(exc).__name__}: {exc}")


def _describe_all(engine: GroupingEngine, paths: list[Path]) -> _Run:
    run, pending_paths, pending_views = _Run(), [], []
    progress = Progress(
        TextColumn("grouping"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("grouping", total=len(paths))
        for index, path in enumerate(paths):
            view = _view(engine, path)
            if isinstance(view, dict):
                run.errors.append(view)
            else:
                pending_paths.append(path)
                pending_views.append(view)
            if pending_views and (len(pending_views) == BATCH or index == len(paths) - 1):
                run.files += pending_paths
                run.descriptors.append(engine.describe(pending_views))
                run.keypoints.extend(engine.keypoints(pending_views) or [])
                pending_paths, pending_views = [], []
            progress.advance(task)
    return run


def _report(run: _Run, groups: list[Group]) -> dict:
    return {
        "groups": [
            {
                "groupId": f"group-{number}",
                "files": [str(run.files[i]) for i in group.members],
                "representative": str(run.files[group.representative]),
            }
            for number, group in enumerate(groups, start=1)
        ],
        "errors": run.errors,
    }


def _print_table(report: dict) -> None:
    table = Table("group", "photos", "representative", "files")
    for group in report["groups"]:
        names = [Path(f).name for f in group["files"]]
        shown = ", ".join(names[:6]) + (f", … (+{len(names) - 6})" if len(names) > 6 else "")
        table.add_row(group["groupId"], str(len(names)), Path(group["representative"]).name, shown)
    out.print(table)


@app.command("group")
def group(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write groups and errors as JSON here.")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.0, max=2.0, help="Cosine-distance threshold; lower splits more."),
    ] = DEFAULT_THRESHOLD,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="Default: BGR_MODEL_DIR.")] = None,
) -> None:
    """Group photos that show the same product. Exit status 1 when any input could not be used."""
    import numpy as np

    from bgremover.grouping import GroupingConfig, GroupingEngine

    paths = unique_inputs(inputs)
    try:
        engine = GroupingEngine.from_settings(model_dir, config=GroupingConfig(threshold=threshold))
    except FileNotFoundError as exc:
        err.print(f"[red]cannot group:[/red] {exc}")
        raise typer.Exit(2) from exc
    run = _describe_all(engine, paths)
    points = run.keypoints if engine.config.verify else None
    groups = engine.cluster(np.concatenate(run.descriptors), points=points) if run.descriptors else []
    report = _report(run, groups)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))
    _print_table(report)
    out.print(f"{len(run.files)} photos in {len(groups)} groups; {len(run.errors)} not usable")
    if run.errors:
        raise typer.Exit(1)
