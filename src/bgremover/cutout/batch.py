"""Cut-outs of many files: several images in flight at once, each decoded, inferred, composed and
written by one thread.

ONNX Runtime, Pillow's codecs, OpenCV and zlib all release the GIL, so while the model runs on one
image, other threads decode and encode their own. Inference runs in ``lanes`` images at once, each on
``cores / lanes`` ONNX Runtime threads: a batch-1 convolution net keeps one core busier than it keeps
two, so two single-threaded inferences side by side beat one two-threaded inference. At most
``2 * lanes + 1`` images are in flight, so memory stays flat however many files there are. A file that
fails is reported and skipped; the batch goes on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bgremover.cutout.composition import compose
from bgremover.cutout.engine import CutoutEngine
from bgremover.cutout.options import CutoutOptions
from bgremover.imaging.decode import ImageDecodeError, decode_image
from bgremover.models.sessions import default_threads

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif"})


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


def _write(image: Image.Image, mask, options: CutoutOptions, output: Path) -> None:
    data = compose(image, mask, options)
    tmp = output.with_name(f".{output.name}.part")
    tmp.write_bytes(data)
    tmp.replace(output)


def default_lanes() -> int:
    """``BGR_ORT_LANES`` when set, else one lane per core (:func:`default_threads`)."""
    configured = os.environ.get("BGR_ORT_LANES")
    return max(1, int(configured)) if configured else default_threads()


def lane_threads(lanes: int) -> int:
    """ONNX Runtime threads for each of ``lanes`` images inferred at once: the cores shared out."""
    return max(1, default_threads() // lanes)


class _Cutter:
    """One file from path to written output, or the reason it failed; at most ``lanes`` of them inside
    the model at once (an ONNX Runtime session holds one activation arena per concurrent run, so this
    bounds memory too)."""

    def __init__(self, engine: CutoutEngine, options: CutoutOptions, max_pixels: int, lanes: int) -> None:
        self._engine = engine
        self._options = options
        self._roi = options.region
        self._max_pixels = max_pixels
        self._model_slots = threading.BoundedSemaphore(lanes)

    def __call__(self, source: Path, output: Path) -> BatchItem:
        try:
            image = decode_image(source, max_pixels=self._max_pixels)
            with self._model_slots:
                mask = self._engine.predict_mask(image, self._roi)
            _write(image, mask, self._options, output)
        except Exception as exc:  # any bad file is reported, never fatal
            return BatchItem(source, output, _describe(exc))
        return BatchItem(source, output)


def run_batch(
    sources: list[Path],
    outdir: Path,
    engine: CutoutEngine,
    options: CutoutOptions,
    *,
    max_pixels: int = 100_000_000,
    lanes: int | None = None,
) -> Iterator[BatchItem]:
    """Yield one :class:`BatchItem` per source, in input order (written, or failed with a reason).
    ``lanes`` (default :func:`default_lanes`) images are inferred at once; with more than one lane,
    ``engine``'s settings run over a session with :func:`lane_threads` threads. A caller that builds
    the engine for the batch asks for those threads up front (``CutoutEngine.from_settings(...,
    threads=lane_threads(lanes))``), so the session it opens is the one used. ``Executor.map`` keeps the
    order; its ``2 * lanes + 1`` workers bound the images in flight (a finished one leaves only its
    small :class:`BatchItem` behind)."""
    lanes = lanes or default_lanes()
    if lanes > 1:
        engine = engine.with_threads(lane_threads(lanes))
    outdir.mkdir(parents=True, exist_ok=True)
    cut = _Cutter(engine, options, max_pixels, lanes)
    with ThreadPoolExecutor(2 * lanes + 1, thread_name_prefix="bgr-cutout") as pool:
        yield from pool.map(cut, sources, output_paths(sources, outdir, options.format))
