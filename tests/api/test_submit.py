"""Submitting jobs: 202 at once, uploads stored, the job written and handed to the real queue."""

from __future__ import annotations

import base64

from api.support import count_jobs, images_part, jpeg_bytes, png_bytes
from bgremover.blobs.keys import original_key, upload_key
from bgremover.ledger.base import JobStatus, JobType


def test_multipart_group_images_is_accepted_stored_and_queued(client, services):
    original = png_bytes()
    response = client.post(
        "/v1/group-images",
        files=[("images", ("shirt.png", original, "image/png")), ("images", ("b.jpg", jpeg_bytes(), "x/y"))],
        data={"threshold": "0.4", "remove_background": "true"},
        headers={"X-Tenant-ID": "acme"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["statusUrl"].endswith(f"/v1/jobs/{body['jobId']}")
    assert response.headers["location"] == body["statusUrl"]
    assert int(response.headers["retry-after"]) >= 1

    job = services.ledger.get_job("acme", body["jobId"])
    assert job.status is JobStatus.QUEUED and job.type is JobType.GROUP_IMAGES
    assert job.options["threshold"] == 0.4 and job.options["remove_background"] is True
    assert job.progress_total == 2
    images = services.ledger.list_images("acme", body["jobId"])
    assert [(i.filename, i.content_type) for i in images] == [
        ("shirt.png", "image/png"),
        ("b.jpg", "image/jpeg"),
    ]
    assert images[0].blob_key == original_key("acme", body["jobId"], "img-0001")  # after the worker's unpack
    job_folder = services.blobs.root / "acme" / "jobs" / body["jobId"]
    assert [p.name for p in job_folder.iterdir()] == ["upload"]  # one file for the submit, no folder
    assert services.blobs.get(upload_key("acme", body["jobId"])).startswith(original)
    assert services.dispatcher.depth() == 1


def test_alias_route_and_default_tenant(client, services):
    response = client.post("/bg-remover/group-images", files=images_part(png_bytes()))
    assert response.status_code == 202
    assert services.ledger.get_job("default", response.json()["jobId"]) is not None


def test_json_base64_remove_background_normalises_options(client, services):
    payload = {
        "images": [{"filename": "../../etc/passwd.png", "data": base64.b64encode(png_bytes()).decode()}],
        "bg_color": "#FFF",
        "format": "JPEG",
        "crop": True,
        "margin": 8,
    }
    response = client.post("/v1/remove-background", json=payload)
    assert response.status_code == 202, response.text
    job = services.ledger.get_job("default", response.json()["jobId"])
    assert job.type is JobType.REMOVE_BACKGROUND
    assert job.options == {
        "bg_color": "#ffffff",
        "crop": True,
        "margin": 8,
        "format": "jpg",
        "max_size": None,
        "mask_only": False,
        "roi": "0% 0% 100% 100%",
        "subject": "all",
    }
    [image] = services.ledger.list_images("default", job.job_id)
    assert image.filename == "passwd.png"


def test_real_product_photos_from_the_evaluation_set(client, services, shared_data):
    paths = sorted((shared_data / "fashion_products").glob("*.jpg"))[:20]
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    response = client.post("/v1/group-images", files=files)
    assert response.status_code == 202
    assert services.ledger.get_job("default", response.json()["jobId"]).progress_total == 20
    assert count_jobs(services) == 1


def test_empty_form_fields_mean_unset(client, services):
    fields = {"max_size": "", "bg_color": "", "format": "webp"}
    response = client.post("/v1/remove-background", files=images_part(png_bytes()), data=fields)
    assert response.status_code == 202, response.text
    options = services.ledger.get_job("default", response.json()["jobId"]).options
    assert options["max_size"] is None and options["bg_color"] is None and options["format"] == "webp"


def test_windows_style_client_paths_keep_only_the_file_name(client, services):
    files = [("images", ("C:\\Users\\me\\shoe.png", png_bytes(), "image/png"))]
    job_id = client.post("/v1/group-images", files=files).json()["jobId"]
    assert [i.filename for i in services.ledger.list_images("default", job_id)] == ["shoe.png"]
