"""``bg-remover remove INPUT... -o OUTDIR``: cut-outs of files and folders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bgremover.cli.app import app
from bgremover.cutout.options import CutoutOptions, OutputFormat, Subject
from bgremover.cutout.roi import WHOLE_FRAME

console = Console(stderr=True)


def _options(**fields: object) -> CutoutOptions:
    try:
        return CutoutOptions(**fields)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(message) from exc


@app.command("remove")
def remove(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for OUTDIR/<stem>.<ext>.")],
    model: Annotated[str | None, typer.Option(help="Cut-out model (see `models list`).")] = None,
    mask: Annotated[
        bool, typer.Option("--mask", help="Write the 8-bit mask instead of the cut-out.")
    ] = False,
    bg_color: Annotated[str | None, typer.Option("--bg-color", help="Background hex colour.")] = None,
    crop: Annotated[bool, typer.Option("--crop", help="Crop to the subject.")] = False,
    margin: Annotated[int, typer.Option(help="Pixels kept around the subject with --crop.")] = 0,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="png, webp or jpg (white background).")
    ] = "png",
    max_size: Annotated[int | None, typer.Option("--max-size", help="Longest output side, px.")] = None,
    roi: Annotated[
        str,
        typer.Option(
            "--roi",
            help="Only this rectangle 'x1 y1 x2 y2' (px or %) may be foreground; the model sees it alone.",
        ),
    ] = WHOLE_FRAME,
    subject: Annotated[
        Subject,
        typer.Option(help="Among several separate objects keep all, the largest or the central one."),
    ] = "all",
    second_pass: Annotated[
        bool, typer.Option("--second-pass/--no-second-pass", help="Look again at small subjects.")
    ] = False,
    refine: Annotated[
        bool, typer.Option("--refine", help="Snap mask edges to the photo (guided filter).")
    ] = False,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="Default: BGR_MODEL_DIR.")] = None,
    lanes: Annotated[
        int | None,
        typer.Option(min=1, help="Images inferred at once, cores/lanes threads each. Default: one per core."),
    ] = None,
) -> None:
    """Remove the background of every input; a bad file is reported and skipped (exit code 1)."""
    options = _options(
        bg_color=bg_color,
        crop=crop,
        margin=margin,
        format=fmt,
        max_size=max_size,
        mask_only=mask,
        roi=roi,
        subject=subject,
    )
    # Imported here: ONNX Runtime and OpenCV would slow every other command and --help.
    from bgremover.cutout.batch import collect_inputs, default_lanes, lane_threads, run_batch
    from bgremover.cutout.engine import CutoutEngine, SecondPass

    sources = collect_inputs(inputs)
    if not sources:
        console.print("[red]no image files found in the inputs[/red]")
        raise typer.Exit(2)
    lanes = lanes or default_lanes()
    try:
        engine = CutoutEngine.from_settings(model, model_dir, threads=lane_threads(lanes)).with_options(
            second_pass=SecondPass(enabled=second_pass), refine=refine, subject=options.subject
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    started, failed = time.perf_counter(), 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("cut-outs", total=len(sources))
        for item in run_batch(sources, output, engine, options, lanes=lanes):
            if not item.ok:
                failed += 1
                progress.console.print(f"[red]failed[/red] {item.source}: {item.error}")
            progress.advance(task)
    elapsed = time.perf_counter() - started
    console.print(
        f"{len(sources) - failed} written, {failed} failed, {len(sources)} total in {elapsed:.1f} s "
        f"({len(sources) / max(elapsed, 1e-9):.1f} images/s) -> {output}"
    )
    if failed:
        raise typer.Exit(1)
