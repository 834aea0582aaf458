"""The page at ``/`` in a real browser (Debian's Chromium through Playwright) against a real
``bg-remover serve`` on 127.0.0.1: uploads by the file input and by a drop, live progress, groups as
the job's JSON has them, before/after, downloads, errors in words, API keys, tenants kept apart, an
axe-core audit, ``/docs`` offline. No request may leave 127.0.0.1; screenshots of each main state are
kept in the test's output folder."""

from __future__ import annotations

import base64
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import OffHostGuard, browser, serious_violations
from e2e_server import Server, running_server
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.slow
DONE_S = 240_000  # ms: a job on one embedded worker, on a shared 2-core machine


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


@pytest.fixture
def guard() -> Iterator[OffHostGuard]:
    guard = OffHostGuard()
    yield guard
    assert guard.refused == [], f"requests left 127.0.0.1: {guard.refused}"


def open_page(chromium, guard: OffHostGuard, url: str, **context_options):
    context = chromium.new_context(accept_downloads=True, **context_options)
    context.route("**/*", guard)
    page = context.new_page()
    page.goto(url)
    return page


def write_photos(folder: Path, photos: dict[str, bytes], names: dict[str, str]) -> list[str]:
    paths = []
    for name, key in names.items():
        (folder / name).write_bytes(photos[key])
        paths.append(str(folder / name))
    return paths


def job_json(server: Server, job_id: str, headers: dict[str, str] | None = None) -> dict:
    return httpx.get(f"{server.base_url}/v1/jobs/{job_id}", headers=headers or {}, timeout=30).json()


def current_job_id(page) -> str:
    page.wait_for_selector("#job-panel[data-job-id]")
    return page.locator("#job-panel").get_attribute("data-job-id")


def test_a_group_job_from_the_file_input_to_downloads(
    server: Server, chromium, guard: OffHostGuard, shots: Path, photos: dict[str, bytes], tmp_path: Path
) -> None:
    page = open_page(chromium, guard, server.base_url + "/")
    page.wait_for_selector("#submit-panel:not([hidden])")
    assert page.locator("#sign-out").is_hidden() and page.locator("#key-panel").is_hidden()  # auth off
    page.screenshot(path=shots / "1-empty.png", full_page=True)
    files = write_photos(
        tmp_path,
        photos,
        {"shoe.jpg": "a", "shoe-again.jpg": "a", "shirt.jpg": "b", "broken.jpg": "truncated"},
    )
    page.set_input_files("#files", files)
    assert page.inner_text("#picked") == "4 photos chosen."
    page.check("#with-cutouts")
    page.screenshot(path=shots / "2-chosen.png", full_page=True)
    page.click("#submit-button")
    expect(page.locator("#job-status")).not_to_be_empty()
    page.screenshot(path=shots / "3-progress.png", full_page=True)
    expect(page.locator("#job-status")).to_have_text(re.compile("^Done"), timeout=DONE_S)
    assert page.locator("#upload-progress").get_attribute("value") == "100"
    job_id = current_job_id(page)
    job = job_json(server, job_id)
    assert job["status"] == "succeeded"
    assert page.locator("#job-progress").evaluate("p => p.value === p.max")
    page.screenshot(path=shots / "4-done.png", full_page=True)

    # the groups on the page are the job's groups, in order, representative marked
    shown = page.locator("#results section[data-group-id]")
    groups = job["result"]["groups"]
    assert shown.count() == len(groups)
    for position, group in enumerate(groups):
        section = shown.nth(position)
        ids = section.locator("button.thumb").evaluate_all("bs => bs.map(b => b.dataset.imageId)")
        assert ids == group["imageIds"]
        marked = section.locator("button.thumb.representative")
        assert marked.get_attribute("data-image-id") == group["representativeImageId"]
    same = next(g for g in groups if len(g["imageIds"]) == 2)  # the photo sent twice
    names = {i["imageId"]: i["filename"] for i in job["result"]["images"]}
    assert sorted(names[i] for i in same["imageIds"]) == ["shoe-again.jpg", "shoe.jpg"]

    # the truncated photo: its error in words, the others succeeded
    broken = page.locator("li.failed-image")
    assert broken.count() == 1 and "incomplete" in broken.inner_text()
    assert sum(i["status"] == "succeeded" for i in job["result"]["images"]) == 3

    assert serious_violations(page) == []

    # before/after, and the cut-out's download has alpha
    page.locator("button.thumb").first.click()
    page.wait_for_selector("#viewer[open]")
    expect(page.locator("#after")).to_have_attribute("src", re.compile("^blob:"))
    page.locator("#after").evaluate("img => img.decode()")
    page.fill("#slider", "30")
    assert "30%" in page.locator("#after").evaluate("img => img.style.clipPath")  # after: right of 30 %
    assert "70%" in page.locator("#before").evaluate("img => img.style.clipPath")  # before: left of it
    page.screenshot(path=shots / "5-before-after.png")
    assert serious_violations(page) == []
    with page.expect_download() as cutout:
        page.click("#download-cutout")
    with Image.open(cutout.value.path()) as image:
        assert "A" in image.getbands()
    page.click("#close-viewer")

    # the ZIP holds what the job lists, and groups.json its groups
    with page.expect_download() as archive:
        page.click("#download-zip")
    with zipfile.ZipFile(archive.value.path()) as zipped:
        listed = json.loads(zipped.read("groups.json"))
        assert listed["groups"] == groups
        outputs = {
            (image["imageId"], kind)
            for image in job["result"]["images"]
            for kind in ("thumbnail", "cutout", "mask")
            if image[f"{kind}Url"]
        }
        in_zip = {(n.split("/")[1][:8], n.split("/")[0][:-1]) for n in zipped.namelist() if "/" in n}
        assert in_zip == outputs


def test_photos_dropped_on_the_page_become_a_cutout_job(
    server: Server, chromium, guard: OffHostGuard, shots: Path, photos: dict[str, bytes]
) -> None:
    page = open_page(chromium, guard, server.base_url + "/")
    refused_streams: list[str] = []

    def no_stream(route) -> None:  # a proxy that breaks event streams: the page must poll instead
        refused_streams.append(route.request.url)
        route.abort()

    page.route("**/v1/jobs/*/events", no_stream)
    files = [{"name": "c.jpg", "data": base64.b64encode(photos["c"]).decode()}]
    files.append({"name": "notes.txt", "data": base64.b64encode(b"not a photo").decode()})
    page.evaluate(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
                const type = f.name.endsWith('.jpg') ? 'image/jpeg' : 'text/plain';
                transfer.items.add(new File([bytes], f.name, {type}));
            }
            const zone = document.querySelector('#drop-zone');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
        }""",
        files,
    )
    expect(page.locator("#picked")).to_have_text(re.compile("^1 photo"))
    assert "1 other file left out" in page.inner_text("#picked")
    page.check("input[value='remove-background']")
    page.click("#submit-button")
    expect(page.locator("#job-status")).to_have_text(re.compile("^Done"), timeout=DONE_S)
    job = job_json(server, current_job_id(page))
    assert job["type"] == "remove-background" and job["status"] == "succeeded"
    assert len(refused_streams) == 3  # three tries of the stream, then polling brought the job to done
    thumbs = page.locator("#results button.thumb")
    assert thumbs.count() == 1 and thumbs.get_attribute("data-image-id") == "img-0001"
    page.screenshot(path=shots / "cutout-done.png", full_page=True)


def test_the_page_fits_a_phone_and_docs_work_offline(
    server: Server, chromium, guard: OffHostGuard, shots: Path
) -> None:
    page = open_page(chromium, guard, server.base_url + "/", viewport={"width": 375, "height": 740})
    page.wait_for_selector("#submit-panel:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for _ in range(6):  # the photo picker is reached from the keyboard, and shows where the focus is
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "files":
            break
    assert page.evaluate("document.activeElement.id") == "files"
    outline = page.locator("label[for=files]").evaluate("l => getComputedStyle(l).outlineStyle")
    assert outline == "solid"
    page.screenshot(path=shots / "phone.png", full_page=True)
    assert serious_violations(page) == []
    page.goto(server.base_url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "bg-remover" in page.inner_text(".swagger-ui .info .title")
    page.screenshot(path=shots / "docs.png")


KEYS = {"acme": "acme-key-0123456789abcdef", "globex": "globex-key-0123456789abcdef"}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    env = {"BGR_AUTH_MODE": "on", "BGR_API_KEYS": json.dumps(KEYS)}
    with running_server(tmp_path_factory.mktemp("serve-auth"), model_dir, workers=0, **env) as running:
        yield running


def sign_in(page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def test_with_auth_on_the_page_asks_for_a_key_and_tenants_see_only_their_jobs(
    auth_server: Server, chromium, guard: OffHostGuard, shots: Path, photos: dict[str, bytes], tmp_path: Path
) -> None:
    acme = open_page(chromium, guard, auth_server.base_url + "/")
    acme.wait_for_selector("#key-panel:not([hidden])")
    assert acme.locator("#submit-panel").is_hidden()
    sign_in(acme, "wrong-key")
    expect(acme.locator("#key-error")).to_contain_text("not accepted")
    acme.screenshot(path=shots / "key-refused.png", full_page=True)
    sign_in(acme, KEYS["acme"])
    acme.wait_for_selector("#submit-panel:not([hidden])")
    assert acme.locator("#sign-out").is_visible()
    acme.set_input_files("#files", write_photos(tmp_path, photos, {"a.jpg": "a"}))
    acme.click("#submit-button")
    acme.wait_for_selector("#recent li[data-job-id]")
    job_id = current_job_id(acme)
    assert job_json(auth_server, job_id, {"X-API-Key": KEYS["acme"]})["tenantId"] == "acme"

    globex = open_page(chromium, guard, auth_server.base_url + "/")  # a new tab: asked again
    globex.wait_for_selector("#key-panel:not([hidden])")
    sign_in(globex, KEYS["globex"])
    globex.wait_for_selector("#recent-panel:not([hidden])")
    assert globex.locator(f"#recent li[data-job-id='{job_id}']").count() == 0
    globex.screenshot(path=shots / "other-tenant.png", full_page=True)
    acme.reload()  # the key is kept for the tab
    acme.wait_for_selector(f"#recent li[data-job-id='{job_id}']")
