"""The job blob layout: one folder per job, originals and outputs side by side; old keys still resolve."""

from __future__ import annotations

from bgremover.blobs.keys import job_prefix, original_key, output_key, upload_key


def test_a_jobs_blobs_share_one_flat_folder() -> None:
    key = original_key("acme", "j1", "img-0001")
    assert key == "acme/jobs/j1/img-0001.original"
    assert key.startswith(job_prefix("acme", "j1"))
    assert output_key(key, "cutout") == "acme/jobs/j1/img-0001.cutout"
    assert output_key(key, "thumbnail").rpartition("/")[0] == key.rpartition("/")[0]


def test_the_upload_sits_in_the_job_folder_and_no_image_key_extends_it() -> None:
    upload = upload_key("acme", "j1")
    assert upload == "acme/jobs/j1/upload"
    original = original_key("acme", "j1", "img-0001")
    assert not any(key.startswith(upload) for key in (original, output_key(original, "cutout")))


def test_outputs_of_jobs_stored_in_the_per_image_layout_stay_in_their_folder() -> None:
    assert output_key("acme/jobs/j1/images/img-0001/original", "mask") == "acme/jobs/j1/images/img-0001/mask"


def test_dots_in_tenant_or_job_ids_do_not_confuse_the_kind() -> None:
    key = original_key("shop.example", "j.1", "img-0002")
    assert output_key(key, "mask") == "shop.example/jobs/j.1/img-0002.mask"
