"""The prompt templates' JSON API: create, list, change, turn off, delete; checks as a run's."""

from __future__ import annotations

import json

import pytest

from projects.models import AuditEvent, PromptTemplate
from projects.services.tokens import create_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(client, user, project):
    token = create_token(user=user, name="w", scopes=["write"]).plaintext

    def call(method: str, path: str, body: dict | None = None, *, slug: str = project.slug):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            extra.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/projects/{slug}/prompt-templates{path}", **extra)

    return call


def test_prompt_template_crud(call, project):
    made = call("post", "", {"stage": "style", "name": "noir", "template": "Ink {panel}."})
    assert made.status_code == 201 and made.json()["is_active"] is True
    row_id = made.json()["id"]
    second = call("post", "", {"stage": "style", "name": "pastel", "template": "Soft {panel}."})
    assert second.json()["is_active"] is True
    assert call("get", f"/{row_id}").json()["is_active"] is False  # one active row per stage
    listed = call("get", "?stage=style").json()
    assert [r["name"] for r in listed["items"]] == ["noir", "pastel"] and listed["total"] == 2
    assert call("get", "?stage=time").json()["total"] == 0
    changed = call("patch", f"/{row_id}", {"template": "Heavy ink {panel}."})
    assert changed.json()["template"] == "Heavy ink {panel}." and changed.json()["is_active"]
    off = call("patch", f"/{row_id}", {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert not PromptTemplate.objects.filter(is_active=True).exists()
    assert call("patch", f"/{row_id}", {"is_active": True}).json()["is_active"] is True
    assert call("delete", f"/{row_id}").status_code == 204
    assert call("get", f"/{row_id}").status_code == 404
    deleted = AuditEvent.objects.get(action="prompt_template.deleted")
    assert deleted.data["template"] == "Heavy ink {panel}."


def test_prompt_template_errors(call, project):
    bad = call("post", "", {"stage": "style", "name": "x", "template": "Hi {nope}."})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "template"
    stage = call("post", "", {"stage": "sky", "name": "x", "template": "Hi."})
    assert stage.status_code == 422 and stage.json()["error"]["field"] == "stage"
    extra = call("post", "", {"stage": "style", "name": "x", "template": "Hi.", "is_active": 1})
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "is_active"
    long = call("post", "", {"stage": "style", "name": "x", "template": "x" * 8001})
    assert long.status_code == 422 and long.json()["error"]["field"] == "template"
    assert not PromptTemplate.objects.exists()
    call("post", "", {"stage": "style", "name": "x", "template": "Hi."})
    twice = call("post", "", {"stage": "style", "name": "x", "template": "Again."})
    assert twice.status_code == 409 and twice.json()["error"]["field"] == "name"
    assert PromptTemplate.objects.get().template == "Hi."


def test_another_users_templates_are_404_and_read_tokens_read(client, call, user, other_project):
    from pipeline.services.prompt_templates import save_template

    row = save_template(
        project=other_project, actor=None, stage="style", name="theirs", text="Their {panel}."
    )
    assert call("get", "", slug=other_project.slug).status_code == 404
    assert call("get", f"/{row.pk}", slug=other_project.slug).status_code == 404
    assert call("delete", f"/{row.pk}", slug=other_project.slug).status_code == 404
    assert call("get", f"/{row.pk}").status_code == 404  # not in my project either
    reader = create_token(user=user, name="r").plaintext
    path = f"/api/projects/{user.projects.get().slug}/prompt-templates"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {reader}"}
    assert client.get(path, **headers).status_code == 200
    body = json.dumps({"stage": "style", "name": "x", "template": "Hi."})
    refused = client.post(path, body, "application/json", **headers)
    assert refused.status_code == 403
    assert PromptTemplate.objects.filter(project=other_project).count() == 1
