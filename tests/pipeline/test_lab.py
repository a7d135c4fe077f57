"""The Quick Utility Lab: uploads checked first, work in the worker, results saved on demand."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_q.models import OrmQ
from PIL import Image

from pipeline.config import ConfigError
from pipeline.errors import GuardError
from pipeline.models import LabJob
from pipeline.services.lab import create_lab_job, job_folder, lab_results, process_lab_job
from projects.models import Asset

pytestmark = pytest.mark.django_db
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _scratch(settings, tmp_path):
    settings.SCRATCH_ROOT = tmp_path / "scratch"


def _upload(name: str, data: bytes | None = None) -> SimpleUploadedFile:
    path = TESTDATA / "esrgan-inputs" / name
    return SimpleUploadedFile(name, data if data is not None else path.read_bytes())


def test_lab_page_renders(artist_client):
    body = artist_client.get(reverse("pipeline:lab")).content.decode()
    assert "Quick Utility Lab" in body and "Remove background" in body


def test_upload_creates_a_job_and_hands_it_to_the_worker(
    artist_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = artist_client.post(
            reverse("pipeline:lab"),
            {
                "operation": "upscale",
                "scale": "2",
                "quality": "medium",
                "size": "1024x1024",
                "images": [_upload("0014.jpg"), _upload("wolf_gray.jpg")],
            },
        )
    job = LabJob.objects.get()
    assert response.headers["Location"] == reverse("pipeline:lab_job", args=[job.pk])
    assert [i["name"] for i in job.inputs] == ["0014.jpg", "wolf_gray.jpg"]
    assert (job_folder(job) / job.inputs[0]["file"]).is_file()
    assert OrmQ.objects.count() == 1


def test_a_bad_file_rejects_the_upload_and_stores_nothing(artist_client, settings):
    response = artist_client.post(
        reverse("pipeline:lab"),
        {
            "operation": "bg_remove",
            "scale": "2",
            "quality": "medium",
            "size": "1024x1024",
            "images": [_upload("0014.jpg"), _upload("notes.png", b"definitely text")],
        },
    )
    assert response.status_code == 400
    assert "notes.png is not an image Kroma can read" in response.content.decode()
    assert LabJob.objects.count() == 0
    assert not Path(settings.SCRATCH_ROOT).exists()


def test_worker_processes_each_image_and_the_page_compares_them(artist_client, user):
    job = create_lab_job(
        user=user,
        operation="upscale",
        params={"scale": 2},
        files=[("0014.jpg", (TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes())],
    )
    process_lab_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "done"
    out = Image.open(job_folder(job) / lab_results(job)[0]["file"])
    assert out.size == (358, 358)
    page = artist_client.get(reverse("pipeline:lab_job", args=[job.pk])).content.decode()
    assert "Before · 0014.jpg" in page and "Download" in page
    download = artist_client.get(
        reverse("pipeline:lab_file", args=[job.pk, lab_results(job)[0]["file"]]) + "?download=1"
    )
    assert "attachment" in download["Content-Disposition"]
    assert process_lab_job(str(job.pk)) is None  # a second delivery finds it claimed


def test_polling_stops_with_286_once_the_job_is_final(artist_client, user):
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "cold_rain"},
        files=[("w.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
    )
    live = artist_client.get(reverse("pipeline:lab_job", args=[job.pk]), **HX)
    assert live.status_code == 200 and 'hx-trigger="every 1s"' in live.content.decode()
    process_lab_job(str(job.pk))
    final = artist_client.get(reverse("pipeline:lab_job", args=[job.pk]), **HX)
    assert final.status_code == 286


def test_results_can_be_saved_to_a_project(artist_client, user, project):
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "cinematic_warm"},
        files=[("kid.png", (TESTDATA / "esrgan-inputs" / "children-alpha.png").read_bytes())],
    )
    process_lab_job(str(job.pk))
    response = artist_client.post(
        reverse("pipeline:lab_save", args=[job.pk]), {"project": "noir_city"}
    )
    assert response.status_code == 302
    asset = Asset.objects.get(project=project)
    assert asset.metadata["lab_job"] == str(job.pk) and asset.width == 566


def test_saving_into_someone_elses_project_is_refused(artist_client, user, other_project):
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "neutral"},
        files=[("w.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
    )
    process_lab_job(str(job.pk))
    artist_client.post(reverse("pipeline:lab_save", args=[job.pk]), {"project": other_project.slug})
    assert Asset.objects.count() == 0


def test_another_users_lab_job_is_404(client, other_user, user):
    job = create_lab_job(
        user=user,
        operation="color",
        params={"profile": "neutral"},
        files=[("w.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
    )
    client.force_login(other_user)
    assert client.get(reverse("pipeline:lab_job", args=[job.pk])).status_code == 404
    assert (
        client.get(reverse("pipeline:lab_file", args=[job.pk, job.inputs[0]["file"]])).status_code
        == 404
    )
    assert client.post(reverse("pipeline:lab_save", args=[job.pk])).status_code == 404


def test_generate_needs_confirmation_then_calls_openai(user, fake_openai):
    params = {"prompt": "a lighthouse in ink", "quality": "medium", "size": "1024x1024", "n": 1}
    with pytest.raises(GuardError, match=r"costs about \$0\.04"):
        create_lab_job(user=user, operation="generate", params=params, files=[])
    assert fake_openai.calls == []
    job = create_lab_job(
        user=user, operation="generate", params=params, files=[], confirm_spend=True
    )
    process_lab_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "done" and job.cost_usd > 0
    assert fake_openai.calls[0].path == "/v1/images/generations"
    assert fake_openai.calls[0].fields["prompt"] == "a lighthouse in ink"


def test_a_failing_image_is_reported_and_the_others_still_done(user):
    job = create_lab_job(
        user=user,
        operation="upscale",
        params={"scale": 2},
        files=[("a.jpg", (TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes())],
    )
    (job_folder(job) / job.inputs[0]["file"]).write_bytes(b"corrupted after upload")
    process_lab_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    assert "not an image" in lab_results(job)[0]["error"]


def test_unknown_profile_is_refused_up_front(user):
    with pytest.raises(ConfigError, match="no profile 'sepia'"):
        create_lab_job(
            user=user,
            operation="color",
            params={"profile": "sepia"},
            files=[("w.jpg", (TESTDATA / "esrgan-inputs" / "wolf_gray.jpg").read_bytes())],
        )
    assert LabJob.objects.count() == 0
