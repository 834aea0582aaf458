"""The ``roi`` option at the API: per job (multipart field or JSON member) and per image (the JSON
image objects), normalised onto the job; an invalid one is 422 naming where it is, and creates nothing."""

from __future__ import annotations

import base64

import pytest

from api.support import assert_nothing_created, assert_problem, images_part, png_bytes

ENCODED = base64.b64encode(png_bytes()).decode()


def test_multipart_job_roi_is_normalised_onto_the_job(client, services):
    response = client.post(
        "/v1/remove-background", files=images_part(png_bytes()), data={"roi": "10PX 10px 50% 100.0%"}
    )
    assert response.status_code == 202, response.text
    job = services.ledger.get_job("default", response.json()["jobId"])
    assert job.options["roi"] == "10px 10px 50% 100%"
    assert job.options["subject"] == "all"
    assert "image_rois" not in job.options


def test_json_images_carry_their_own_roi_over_the_jobs(client, services):
    payload = {
        "images": [
            {"filename": "a.png", "data": ENCODED},
            {"filename": "b.png", "data": ENCODED, "roi": "0px 0px 16PX 12px"},
            {"filename": "c.png", "data": ENCODED, "roi": "25% 25% 75% 75%"},
        ],
        "roi": "0% 0% 50% 50%",
        "subject": "central",
    }
    response = client.post("/v1/group-images", json=payload)
    assert response.status_code == 202, response.text
    job = services.ledger.get_job("default", response.json()["jobId"])
    assert job.options["roi"] == "0% 0% 50% 50%" and job.options["subject"] == "central"
    assert job.options["image_rois"] == {"img-0002": "0px 0px 16px 12px", "img-0003": "25% 25% 75% 75%"}


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ("10px 10px 5px 20px", "roi x2 (5px) must be greater than x1 (10px)"),
        ("0 0 100 100", "must be a non-negative number followed by 'px' or '%'"),
        ("0% 0% 100%", "four values"),
    ],
)
def test_an_invalid_job_roi_is_422(client, services, roi, message):
    response = client.post("/v1/remove-background", files=images_part(png_bytes()), data={"roi": roi})
    body = assert_problem(response, 422, "invalid-options")
    assert body["errors"][0]["loc"] == ["roi"]
    assert message in body["errors"][0]["msg"]
    assert_nothing_created(services)


def test_an_invalid_image_roi_is_422_naming_the_image(client, services):
    payload = {
        "images": [
            {"filename": "a.png", "data": ENCODED, "roi": "0% 0% 50% 50%"},
            {"filename": "b.png", "data": ENCODED, "roi": "0% 0% 150% 50%"},
            {"filename": "c.png", "data": ENCODED, "roi": 7},
        ]
    }
    body = assert_problem(client.post("/v1/remove-background", json=payload), 422, "invalid-options")
    assert [error["loc"] for error in body["errors"]] == [["images", 1, "roi"], ["images", 2, "roi"]]
    assert "roi x2 '150%' is over 100%" in body["errors"][0]["msg"]
    assert "must be a string" in body["errors"][1]["msg"]
    assert_nothing_created(services)


@pytest.mark.parametrize(
    "fields",
    [{"image_rois": '{"img-0001": "0% 0% 50% 50%"}'}, {"subject": "smallest"}],
)
def test_per_image_rois_and_unknown_subjects_are_no_job_options(client, services, fields):
    response = client.post("/v1/remove-background", files=images_part(png_bytes()), data=fields)
    body = assert_problem(response, 422, "invalid-options")
    assert body["errors"][0]["loc"] == [next(iter(fields))]
    assert_nothing_created(services)
