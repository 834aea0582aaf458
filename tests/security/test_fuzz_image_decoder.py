"""The image decoder against hostile images generated here (``hostile_images``): absurd dimensions in
every format, wrong CRCs, palette indexes out of range, oversized ICC and EXIF, text-chunk bombs, huge
frame counts, and every supported format truncated or corrupted at any offset (Hypothesis). Each one
decodes or fails with a precise ``ImageDecodeError`` code, in bounded time, in the worker's decoder and
in the API's header check; through a real job, it fails only its own image."""

from __future__ import annotations

import base64
import io
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.support import png_bytes
from bgremover.imaging.decode import ImageDecodeError, check_pixel_count, decode_image
from bgremover.worker.runtime import WorkerRuntime
from security.fuzz_support import MAX_SECONDS_PER_REQUEST, assert_answered_properly, fuzzed
from security.hostile_images import FORMATS, corpus, valid_samples

CODES = {"empty", "not-an-image", "unsupported-format", "truncated", "corrupt", "too-many-pixels"}
MAX_PIXELS = 4_000_000
# what the decoder must say of some entries: precise codes, not merely "some error"
EXPECTED = {
    "png-bad-crc-IHDR": "corrupt",
    "png-0x10": "corrupt",
    "png-16384x16384": "too-many-pixels",
    "jpeg-65535x65535": "too-many-pixels",
    "gif-65535x65535": "too-many-pixels",
    "bmp-2147483647x1": "too-many-pixels",
    "tiff-1x2147483647": "too-many-pixels",
    "webp-16384x16384": "too-many-pixels",
    "bmp-0x10": "corrupt",
    "png-bomb-20000x20000": "too-many-pixels",
    "png-ztxt-64mb": "corrupt",
    "png-icc-16mb": "corrupt",
    "gif-palette-index-out-of-range": "corrupt",
    # decoded: the first frame, the device values under a broken profile, the EXIF ignored
    "png-palette-index-out-of-range": None,
    "gif-5000-frames": None,
    "apng-claims-2e31-frames": None,
    "png-icc-garbage": None,
    "png-icc-900kb": None,
    "jpeg-icc-1mb-random": None,
    "jpeg-exif-ifd-loop": None,
    "jpeg-exif-count-2e9": None,
    "png-exif-orientation-65535": None,
    "png-black-2000x2000": None,
}


def _outcome(data: bytes) -> str | None:
    """The decoder's code for ``data``, or None when it decodes; anything but ``ImageDecodeError``
    propagates and fails the test. The API's header check must not raise anything else either."""
    started = time.monotonic()
    try:
        image = decode_image(data, max_pixels=MAX_PIXELS)
    except ImageDecodeError as exc:
        assert exc.code in CODES and str(exc)
        code = exc.code
    else:
        assert image.mode in ("RGB", "RGBA") and image.width > 0 and image.height > 0
        code = None
    try:
        check_pixel_count(io.BytesIO(data), MAX_PIXELS)
    except ImageDecodeError as exc:
        assert exc.code == "too-many-pixels"
    assert time.monotonic() - started < MAX_SECONDS_PER_REQUEST
    return code


@pytest.mark.parametrize("name", sorted(corpus()))
def test_a_hostile_image_decodes_or_fails_with_a_precise_code(name):
    code = _outcome(corpus()[name])
    if name in EXPECTED:
        assert code == EXPECTED[name]


@fuzzed
@given(fmt=st.sampled_from(FORMATS), data=st.data())
def test_any_truncation_or_corruption_fails_only_with_a_decode_error(fmt, data):
    sample = valid_samples()[fmt]
    at = data.draw(st.integers(0, len(sample) - 1), label="offset")
    mutation = data.draw(st.sampled_from(["truncate", "replace", "insert", "flip"]), label="mutation")
    if mutation == "truncate":
        damaged = sample[:at]
    elif mutation == "flip":
        damaged = sample[:at] + bytes([sample[at] ^ (1 << data.draw(st.integers(0, 7)))]) + sample[at + 1 :]
    else:
        patch = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        damaged = sample[:at] + patch + sample[at + (1 if mutation == "replace" else 0) :]
    _outcome(damaged)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_truncated_at_every_offset_is_truncated_or_corrupt(fmt):
    """Exhaustive over the offsets of the small sample (a few hundred bytes each), not sampled. Cut
    inside its first 16 bytes, the signature itself may be gone: then it is no image at all."""
    sample = valid_samples()[fmt]
    for cut in range(1, len(sample)):
        allowed = {None, "truncated", "corrupt"} | ({"not-an-image"} if cut < 16 else set())
        assert _outcome(sample[:cut]) in allowed, cut


def test_avif_codec_errors_are_corrupt_not_runtime_errors():
    """Pillow's AVIF codec raises ``RuntimeError`` on damaged data: in the API's header check it was a
    500 on submit, in the worker an anonymous ``image-processing-failed``."""
    sample = valid_samples()["AVIF"]
    assert _outcome(sample[: len(sample) // 2]) == "corrupt"


def test_the_api_answers_every_hostile_image_202_or_with_a_4xx_problem(client):
    """One submit per image: the API's header check (pixel count, polyglot) never raises past a 4xx."""
    avif = valid_samples()["AVIF"]
    for name, data in [*corpus().items(), ("avif-half", avif[: len(avif) // 2])]:
        response = client.post("/v1/remove-background", files=[("images", (name, data, "image/png"))])
        try:
            assert_answered_properly(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_restricting_plugins_to_the_signature_keeps_avif_under_its_generic_brand():
    """An AVIF whose major brand is the generic ``mif1`` (as some encoders write) still decodes: that
    signature may be parsed by the AVIF plugin as well as by a HEIF one."""
    avif = bytearray(valid_samples()["AVIF"])
    avif[8:12] = b"mif1"
    assert _outcome(bytes(avif)) is None


# Hostile images the API's header check cannot refuse (it does not decode): the worker must fail each
# one alone, with the decoder's precise code, and finish the job with the good image.
IN_A_JOB = {
    "png-bad-crc-IHDR": "corrupt",
    "png-ztxt-64mb": "corrupt",
    "png-icc-16mb": "corrupt",
    "gif-palette-index-out-of-range": "corrupt",
    "jpeg-2147483647x1": "corrupt",
    "ico-65535x65535": "truncated",
}


@pytest.fixture
def worker_settings(settings, model_dir):
    return settings.model_copy(update={"model_dir": model_dir})


def test_hostile_images_fail_alone_in_a_real_job(make_client, worker_settings):
    client = make_client(model_dir=worker_settings.model_dir)
    hostile = [(name, corpus()[name]) for name in IN_A_JOB]
    avif = valid_samples()["AVIF"]
    hostile.append(("avif-half", avif[: len(avif) // 2]))
    # sound images among them, the extreme shapes included (one pixel; 60000 x 1 thumbnails to 256 x 0)
    sound = {
        "good.png": png_bytes((48, 40)),
        "one-pixel.png": png_bytes((1, 1)),
        "sliver.png": png_bytes((60_000, 1)),
    }
    entries = [{"filename": name, "data": base64.b64encode(data).decode()} for name, data in hostile]
    for position, (name, data) in enumerate(sound.items()):
        entries.insert(3 * position, {"filename": name, "data": base64.b64encode(data).decode()})
    response = client.post("/v1/remove-background", json={"images": entries})
    assert_answered_properly(response)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]

    runtime = WorkerRuntime(worker_settings)  # what a worker process runs for each queued job id
    try:
        runtime.handle(job_id)
    finally:
        runtime.stop()

    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    images = {image["filename"]: image for image in job["result"]["images"]}
    assert all(images[name]["status"] == "succeeded" for name in sound), images
    for name, code in {**IN_A_JOB, "avif-half": "corrupt"}.items():
        error = images[name]["error"]
        assert images[name]["status"] == "failed"
        assert (error["type"], error["stage"]) == (f"urn:bgremover:problem:image-{code}", "decode"), error
