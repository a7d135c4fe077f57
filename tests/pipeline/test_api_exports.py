"""The pipeline's JSON API: exports (request, poll, download)."""

from __future__ import annotations

import pytest

from pipeline.services import exports
from projects.models import ProjectExport
from tests.pipeline import api_client
from tests.pipeline.api_client import error_of

pytestmark = pytest.mark.django_db
# Fixtures shared by the API tests (tests/pipeline/api_client.py).
api = api_client.api
token = api_client.token


def test_request_an_export_then_read_it_and_download_its_file(api, scene_project, user):
    response = api.post("/exports", {"kind": "cbz", "options": {"dpi": 100}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["download_url"]) == ("cbz", "queued", None)
    assert body["options"]["settings"]["dpi"] == 100
    exports.run_export(body["id"])
    done = api.get(f"/exports/{body['id']}").json()
    assert done["status"] == "done" and done["size_bytes"] > 0
    assert done["download_url"] == f"/api/projects/noir_city/exports/{body['id']}/download"
    file = api.get(f"/exports/{body['id']}/download")
    assert file.status_code == 200
    assert file["Content-Disposition"].startswith("attachment")
    assert b"".join(file.streaming_content)[:2] == b"PK"
    listed = api.get("/exports").json()
    assert [e["id"] for e in listed["items"]] == [body["id"]] and listed["total"] == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "tar"}, 422, "kind"),
        ({"kind": "pdf", "options": {"colour": 1}}, 422, "options.colour"),
        ({"kind": "pdf", "options": {"pages": []}}, 422, "options.pages"),
        ({"kind": "pdf", "options": {"assets": [1]}}, 400, "assets"),
        ({"kind": "pdf", "options": {"pages": [999999]}}, 400, "pages"),
        ({"kind": "zip", "options": {"assets": [2**63]}}, 422, "options.assets[0]"),
        ({"kind": "pdf", "options": {"page_size": "napkin"}}, 400, "page_size"),
    ],
)
def test_bad_export_requests(api, scene_project, body, status, field):
    assert error_of(api.post("/exports", body), status)["field"] == field
    assert not ProjectExport.objects.exists()


def test_an_export_not_done_has_no_file(api, scene_project):
    export_id = api.post("/exports", {"kind": "zip"}).json()["id"]
    assert api.get(f"/exports/{export_id}/download").status_code == 404
    assert api.get("/exports/999999").status_code == 404


@pytest.mark.parametrize("count", [1, 3])
def test_the_list_costs_the_same_queries_for_one_or_three(
    api, project, user, count, django_assert_num_queries
):
    for _ in range(count):
        ProjectExport.objects.create(project=project, kind="zip", status="done", path="x.zip")
    api.get("/exports")  # the token's last use is written once a minute
    with django_assert_num_queries(4):  # token, project, count, page
        body = api.get("/exports").json()
    assert body["total"] == count and body["items"][0]["download_url"].endswith("/download")
