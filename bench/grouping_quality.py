"""Grouping quality and speed: this engine against simpler recipes and a perceptual-hash baseline.

    .venv/bin/python bench/grouping_quality.py [--fashion N] [--cost-photos N] [--model-dir DIR]

One run, on ../shared/data:
- grocery_val: the 296 shop photos, and again with the 81 iconic shots added; adjusted Rand index of
  each method's groups against ``fine_id``; with the iconic shots, also the multi-view check (does a
  product's studio shot join its own shop photos, taken from other angles and on other backgrounds);
- sod300 near-duplicates (bench/near_duplicates.py): the same objects cropped, mirrored, degraded and
  moved to new backgrounds, plus hue-rotated colourways that must stay apart; ARI against the objects;
- fashion_products (the first N): distinct products on one white background; the share of photos
  wrongly put in a group with another (lower is better; no ARI, since the truth is all singletons).
On the labelled sets, also where the engine's verification stands: how many same-product pairs are
candidates and verify (per top category on grocery_val), and the ARI if its wrong links were dropped.

Methods (each row also shows its score at its own best threshold, an upper bound no default promises):
- before (issue 13): the engine as issue 13 found it (12 x 4 x 4 colour bins, no verification);
- engine: cut-out -> subject view -> EfficientNet-Lite0 + subject colour histogram, and SIFT keypoints
  for the geometric verification of each photo's nearest neighbours -> average linkage at the default
  threshold, verified pairs drawn closer (the product default);
- engine, no verification: the same descriptors, clustered without the keypoints;
- engine, HDBSCAN: the engine's descriptors and verified pairs, HDBSCAN with the threshold as a ceiling;
- subject embedding only: the engine without the colour histogram;
- whole image, no cut-out: EfficientNet-Lite0 on the whole photo, no colour;
- colour histogram only: of the whole photo;
- pHash (imagededup): 32x32 grey, DCT, 8x8 low frequencies against their median, 64 bits, Hamming
  distance <= 10, connected components.

Images per second cover each method's own work on decoded images (the engine's includes the cut-out
model, whose masks are computed once per photo, and its verification); decoding is shared and reported
once. Then the engine's cost per photo, stage by stage, grouping 1,000 real photos; last, the
clustering's own time and peak memory at 2,000 and 5,000 photos (random descriptors, no verification).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.fft import dctn
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bgremover.cutout import CutoutEngine
from bgremover.grouping import DEFAULT_THRESHOLD, Group, GroupingConfig, GroupingEngine
from bgremover.grouping.cluster import cluster
from bgremover.grouping.colour import COLOUR_DIM, colour_histogram
from bgremover.grouping.embedder import Embedder
from bgremover.grouping.subject import subject_view
from bgremover.grouping.threshold import ClusterMethod
from bgremover.grouping.verify import candidate_pairs
from bgremover.models.efficientnet import FEATURE_DIM
from bgremover.models.fetch import fetch_models
from near_duplicates import build as build_near_duplicates

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHASH_MAX_DISTANCE = 10
# The engine as issue 13 found it: 12 x 4 x 4 colour bins and no geometric verification.
BEFORE = GroupingConfig(colour_bins=(12, 4, 4), verify=False)
SWEEP = (0.1, 0.15, 0.2, 0.225, 0.25, 0.275, 0.3, 0.35, 0.4)


@dataclass
class Dataset:
    name: str
    keys: list[str]  # stable per photo across datasets, so that cut-out masks are computed once
    images: list[Image.Image]
    labels: np.ndarray | None  # None: every image is a distinct product


def load_grocery(with_iconic: bool) -> Dataset:
    root = SHARED_DATA / "grocery_val"
    rows = [r for r in csv.DictReader((root / "manifest.csv").open()) if with_iconic or r["split"] == "val"]
    images = [Image.open(root / r["path"]).convert("RGB") for r in rows]
    name = "grocery_val+iconic" if with_iconic else "grocery_val"
    labels = np.array([int(r["fine_id"]) for r in rows])
    return Dataset(f"{name} ({len(rows)})", [r["path"] for r in rows], images, labels)


def load_near_duplicates() -> Dataset:
    samples = build_near_duplicates()
    names, images = [s.name for s in samples], [s.image for s in samples]
    return Dataset(f"sod300 near-dups ({len(samples)})", names, images, np.array([s.label for s in samples]))


def load_fashion(count: int) -> Dataset:
    files = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))[:count]
    images = [Image.open(f).convert("RGB") for f in files]
    return Dataset(f"fashion distinct ({len(files)})", [f.name for f in files], images, None)


def group_labels(groups: list[Group], count: int) -> np.ndarray:
    labels = np.empty(count, np.int64)
    for number, group in enumerate(groups):
        labels[list(group.members)] = number
    return labels


def phash(image: Image.Image) -> np.ndarray:
    """64-bit pHash as imagededup computes it."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    low = dctn(grey, norm="ortho")[:8, :8].ravel()
    return low >= np.median(low[1:])


def phash_labels(images: list[Image.Image]) -> np.ndarray:
    bits = np.stack([phash(im) for im in images]).astype(np.uint8)
    hamming = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    rows, cols = np.nonzero(hamming <= PHASH_MAX_DISTANCE)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(images), len(images)))
    return connected_components(graph, directed=False)[1]


def score(data: Dataset, labels: np.ndarray) -> float:
    """ARI against the truth; for all-distinct sets, the share of photos wrongly grouped with another."""
    if data.labels is not None:
        return float(adjusted_rand_score(data.labels, labels))
    sizes = np.bincount(labels)
    return float(np.mean(sizes[labels] > 1))


def iconic_views(data: Dataset, labels: np.ndarray) -> str:
    """The multi-view check: each product's clean studio ("iconic") shot against its own shop photos,
    taken from other angles, distances and backgrounds. Of the iconic shots whose product has shop
    photos, the share grouped with at least one of them, and the share grouped with another product."""
    assert data.labels is not None
    iconic = np.array([key.startswith("iconic") for key in data.keys])
    joined = wrong = total = 0
    for i in np.flatnonzero(iconic):
        own_shop = ~iconic & (data.labels == data.labels[i])
        if not own_shop.any():
            continue
        total += 1
        mates = labels == labels[i]
        joined += bool((mates & own_shop).any())
        wrong += bool((mates & (data.labels != data.labels[i])).any())
    return f"iconic shot with its shop photos {joined}/{total}, with another product's {wrong}/{total}"


@dataclass
class Method:
    """A method's descriptors (None for pHash, which has its own grouping) and its own seconds."""

    descriptors: np.ndarray | None
    seconds: float
    labels: np.ndarray
    clustering: ClusterMethod = "average"
    verified: list[tuple[int, int]] = field(default_factory=list)


class Bench:
    """Runs every method on a dataset, reusing cut-out masks between methods and datasets."""

    def __init__(self, model_dir: Path) -> None:
        self.masker = CutoutEngine.from_settings(model_dir=model_dir)
        self.embedder = Embedder.from_model_dir(model_dir)
        self.engine = GroupingEngine(self.embedder, None, GroupingConfig())
        self.before = GroupingEngine(self.embedder, None, BEFORE)
        self.subject_only = GroupingEngine(self.embedder, None, GroupingConfig(colour_weight=0.0))
        self.masks: dict[str, tuple[np.ndarray, float]] = {}

    def _mask(self, key: str, image: Image.Image) -> tuple[np.ndarray, float]:
        if key not in self.masks:
            start = time.perf_counter()
            mask = self.masker.predict_mask(image)
            self.masks[key] = (mask, time.perf_counter() - start)
        return self.masks[key]

    def run(self, data: Dataset) -> dict[str, Method]:
        masks = [self._mask(key, image) for key, image in zip(data.keys, data.images, strict=True)]
        n = len(data.images)
        start = time.perf_counter()
        views = [self.engine.view(image, mask) for image, (mask, _) in zip(data.images, masks, strict=True)]
        shared_seconds = time.perf_counter() - start + sum(seconds for _, seconds in masks)
        start = time.perf_counter()
        before = self.before.describe(views)
        labels = group_labels(self.before.cluster(before), n)
        methods = {"before (issue 13)": Method(before, time.perf_counter() - start + shared_seconds, labels)}
        start = time.perf_counter()
        engine = self.engine.describe(views)
        unverified = group_labels(self.engine.cluster(engine), n)
        unverified_seconds = time.perf_counter() - start + shared_seconds
        start = time.perf_counter()
        verified = self.engine.verified(engine, self.engine.keypoints(views))
        labels = group_labels(cluster(engine, DEFAULT_THRESHOLD, verified=verified), n)
        engine_seconds = time.perf_counter() - start + unverified_seconds
        dense = group_labels(cluster(engine, DEFAULT_THRESHOLD, "hdbscan", verified), n)
        methods["engine"] = Method(engine, engine_seconds, labels, verified=verified)
        methods["engine, no verification"] = Method(engine, unverified_seconds, unverified)
        methods["engine, HDBSCAN"] = Method(engine, engine_seconds, dense, "hdbscan", verified)
        start = time.perf_counter()
        subject = self.subject_only.describe(views)
        subject_seconds = time.perf_counter() - start + shared_seconds
        methods["subject embedding only"] = Method(
            subject, subject_seconds, group_labels(cluster(subject, DEFAULT_THRESHOLD), n)
        )
        start = time.perf_counter()
        whole = self.subject_only.describe([subject_view(image) for image in data.images])
        methods["whole image, no cut-out"] = Method(
            whole, time.perf_counter() - start, group_labels(cluster(whole, DEFAULT_THRESHOLD), n)
        )
        start = time.perf_counter()
        colour = np.stack([colour_histogram(subject_view(image)) for image in data.images])
        methods["colour histogram only"] = Method(
            colour, time.perf_counter() - start, group_labels(cluster(colour, DEFAULT_THRESHOLD), n)
        )
        start = time.perf_counter()
        labels = phash_labels(data.images)
        methods["pHash (imagededup)"] = Method(None, time.perf_counter() - start, labels)
        return methods


def verification_reach(data: Dataset, method: Method) -> str:
    """Where verification stands on a labelled set: of the same-product pairs, how many are candidates
    (each photo's neighbours), how many of those verify (per top category, the folder after the
    split), how many verified pairs join two products, and the ARI with exactly those dropped (an
    oracle: what a perfectly precise verifier would add; issue 13 found recall, not precision, short)."""
    assert data.labels is not None and method.descriptors is not None
    labels = data.labels
    same = int(sum(n * (n - 1) // 2 for n in np.bincount(labels)))
    candidates = [p for p in candidate_pairs(method.descriptors) if labels[p[0]] == labels[p[1]]]
    verified = set(method.verified)
    category = [key.split("/")[1] if key.count("/") > 1 else "-" for key in data.keys]
    reach: dict[str, tuple[int, int]] = {}
    for i, j in candidates:
        seen, hit = reach.get(category[i], (0, 0))
        reach[category[i]] = (seen + 1, hit + ((i, j) in verified))
    per = ", ".join(f"{name} {hit}/{seen}" for name, (seen, hit) in sorted(reach.items()) if name != "-")
    right = [p for p in method.verified if labels[p[0]] == labels[p[1]]]
    wrong = len(method.verified) - len(right)
    oracle = group_labels(
        cluster(method.descriptors, DEFAULT_THRESHOLD, method.clustering, right), len(labels)
    )
    return (
        f"same-product pairs {same}, {len(candidates)} candidates, verified {len(right)} of them"
        f"{f' ({per})' if per else ''}; "
        f"{wrong} verified pairs join two products; ARI without those {score(data, oracle):.3f}"
    )


def best_over_sweep(data: Dataset, method: Method) -> str:
    """The method's score at its own best threshold: an upper bound no default can promise."""
    if method.descriptors is None:
        return ""
    points = method.descriptors
    scores = [
        score(data, group_labels(cluster(points, t, method.clustering, method.verified), len(points)))
        for t in SWEEP
    ]
    pick = int(np.argmin(scores) if data.labels is None else np.argmax(scores))
    return f"(best {scores[pick]:.3f} at {SWEEP[pick]})"


def clustering_cost(counts: tuple[int, ...] = (2_000, 5_000)) -> None:
    """Time and peak traced memory of the clustering alone on engine-sized random descriptors."""
    rng = np.random.default_rng(0)
    dim = FEATURE_DIM + COLOUR_DIM
    print(f"\nclustering cost ({dim:,}-d descriptors, 5 photos per product):")
    for count in counts:
        centres = rng.normal(size=(count // 5, dim)).astype(np.float32)
        points = np.repeat(centres, 5, axis=0) + 0.3 * rng.normal(size=(count, dim)).astype(np.float32)
        for method in ("average", "hdbscan"):
            tracemalloc.start()
            start = time.perf_counter()
            groups = cluster(points, DEFAULT_THRESHOLD, method)
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"  {count:6,} {method:8} {seconds:6.2f} s  peak {peak:7.1f} MiB  {len(groups)} groups")


def grouping_cost(bench: Bench, count: int) -> None:
    """Stage by stage, the engine's cost per photo on ``count`` real photos (fashion_products, whole
    photo views: the cut-out's cost per photo is in the rows above), and the whole-batch stages."""
    files = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))[:count]
    views = [subject_view(Image.open(f).convert("RGB")) for f in files]
    engine = bench.engine
    start = time.perf_counter()
    descriptors = engine.describe(views)
    described = time.perf_counter()
    points = engine.keypoints(views)
    pointed = time.perf_counter()
    candidates = len(candidate_pairs(descriptors))
    verified = engine.verified(descriptors, points)
    checked = time.perf_counter()
    groups = cluster(descriptors, DEFAULT_THRESHOLD, verified=verified)
    clustered = time.perf_counter()
    kib = sum(p.points.nbytes + p.descriptors.nbytes for p in points) / len(points) / 1024
    n = len(views)
    print(f"\ngrouping {n:,} photos (fashion_products, whole-photo views), ms per photo:")
    print(f"  embedding + colour {1000 * (described - start) / n:6.1f}")
    print(f"  SIFT keypoints     {1000 * (pointed - described) / n:6.1f}  ({kib:.0f} KiB per photo kept)")
    print(f"  verification       {1000 * (checked - pointed) / n:6.1f}  ({candidates:,} candidate pairs)")
    print(f"  clustering         {1000 * (clustered - checked) / n:6.1f}  ({len(groups):,} groups)")
    batch = clustered - pointed
    print(f"  total for {n:,}: {clustered - start:.1f} s, the whole-batch stages {batch:.1f} s of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("BGR_MODEL_DIR", "var/models")))
    parser.add_argument("--fashion", type=int, default=200, help="fashion_products photos to use (0: skip)")
    parser.add_argument("--cost-photos", type=int, default=1000, help="photos for the cost section (0: skip)")
    args = parser.parse_args()
    fetch_models(model_dir=args.model_dir)
    bench = Bench(args.model_dir)
    loaders = [lambda: load_grocery(False), lambda: load_grocery(True), load_near_duplicates]
    if args.fashion:
        loaders.append(lambda: load_fashion(args.fashion))
    print(f"default threshold {DEFAULT_THRESHOLD}, {os.cpu_count()} CPUs")
    for load in loaders:
        start = time.perf_counter()
        data = load()
        decode_rate = len(data.images) / (time.perf_counter() - start)
        methods = bench.run(data)
        metric = "ARI" if data.labels is not None else "wrongly grouped"
        print(f"\n{data.name}: {metric} at the default threshold; decoding {decode_rate:.0f} img/s")
        phash_rate = len(data.images) / methods["pHash (imagededup)"].seconds
        for name, method in methods.items():
            rate = len(data.images) / method.seconds
            best = best_over_sweep(data, method)
            speed = f"{rate:8.1f} img/s ({rate / phash_rate:.4f}x pHash)"
            print(f"  {name:24} {score(data, method.labels):6.3f} {best:22} {speed}")
        if data.labels is not None:
            print(f"  engine verification: {verification_reach(data, methods['engine'])}")
        if any(key.startswith("iconic") for key in data.keys):
            for name in ("before (issue 13)", "engine"):
                print(f"  {name}: {iconic_views(data, methods[name].labels)}")
    if args.cost_photos:
        grouping_cost(bench, args.cost_photos)
    clustering_cost()


if __name__ == "__main__":
    main()
