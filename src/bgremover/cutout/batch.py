"""Cut-outs of many files with decoding and encoding overlapped with inference.

ONNX Runtime, Pillow's codecs and zlib all release the GIL, so while the model runs on image n,
threads decode image n+1 and encode image n-1. Both queues are bounded, so memory stays flat
however many files there are. A file that fails is reported and skipped; the batch goes on."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bgremover.cutout.composition import compose
from bgremover.cutout.engine import CutoutEngine
from bgremover.cutout.options import CutoutOptions
from bgremover.imaging.decode import ImageDecodeError, decode_image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif"})
PREFETCH = 2


@dataclass(frozen=True)
class BatchItem:
    source: Path
    output: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def collect_inputs(inputs: Iterable[Path]) -> list[Path]:
    """Files as given, and the image files found (recursively, sorted) under folders."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            )
        else:
            found.append(path)
    return found


def output_paths(sources: list[Path], outdir: Path, extension: str) -> list[Path]:
    """``OUTDIR/<stem>.<ext>``; a repeated stem (a/x.jpg, b/x.png) gets ``-2``, ``-3``… not an overwrite."""
    seen: dict[str, int] = {}
    paths = []
    for source in sources:
        count = seen[source.stem] = seen.get(source.stem, 0) + 1
        stem = source.stem if count == 1 else f"{source.stem}-{count}"
        paths.append(outdir / f"{stem}.{extension}")
    return paths


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ImageDecodeError):
        return f"{exc.code}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _decode(source: Path, max_pixels: int) -> Image.Image:
    return decode_image(source, max_pixels=max_pixels)


def _write(image: Image.Image, mask, options: CutoutOptions, output: Path) -> None:
    data = compose(image, mask, options)
    tmp = output.with_name(f".{output.name}.part")
    tmp.write_bytes(data)
    tmp.replace(output)


def run_batch(
    sources: list[Path],
    outdir: Path,
    engine: CutoutEngine,
    options: CutoutOptions,
    *,
    max_pixels: int = 100_000_000,
    threads: int = 2,
) -> Iterator[BatchItem]:
    """Yield one :class:`BatchItem` per source as it finishes (written, or failed with a reason)."""
    outdir.mkdir(parents=True, exist_ok=True)
    outputs = output_paths(sources, outdir, options.format)
    with ThreadPoolExecutor(threads, thread_name_prefix="bgr-io") as pool:
        decoded: deque[Future[Image.Image]] = deque()
        written: deque[tuple[int, Future[None]]] = deque()
        upcoming = iter(sources)

        def refill() -> None:
            for source in upcoming:
                decoded.append(pool.submit(_decode, source, max_pixels))
                if len(decoded) >= PREFETCH:
                    return

        refill()
        for index, output in enumerate(outputs):
            future = decoded.popleft()
            refill()
            try:
                image = future.result()
                mask = engine.predict_mask(image)
            except Exception as exc:  # any bad file is reported, never fatal
                yield BatchItem(sources[index], output, _describe(exc))
                continue
            written.append((index, pool.submit(_write, image, mask, options, output)))
            yield from _drain(written, sources, outputs, keep=PREFETCH)
        yield from _drain(written, sources, outputs, keep=0)


def _drain(
    written: deque[tuple[int, Future[None]]], sources: list[Path], outputs: list[Path], *, keep: int
) -> Iterator[BatchItem]:
    while len(written) > keep:
        index, future = written.popleft()
        try:
            future.result()
        except Exception as exc:
            yield BatchItem(sources[index], outputs[index], _describe(exc))
        else:
            yield BatchItem(sources[index], outputs[index])
