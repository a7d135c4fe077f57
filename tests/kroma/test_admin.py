from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import Asset, ProjectSecret, StyleGuide

pytestmark = pytest.mark.django_db
REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name) for model in admin.site._registry
)


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


@pytest.mark.parametrize(("app", "model"), REGISTERED)
def test_admin_changelist_renders(superuser_client, project, app, model):
    response = superuser_client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize(("app", "model"), REGISTERED)
def test_admin_add_page_renders_or_is_refused_on_purpose(superuser_client, app, model):
    model_admin = next(
        ma
        for m, ma in admin.site._registry.items()
        if (m._meta.app_label, m._meta.model_name) == (app, model)
    )
    response = superuser_client.get(reverse(f"admin:{app}_{model}_add"))
    expected = 200 if model_admin.has_add_permission(response.wsgi_request) else 403
    assert response.status_code == expected


def test_every_data_model_is_registered():
    from django.apps import apps

    ours = {
        m._meta.model_name
        for app in ("projects", "pipeline", "copilot")
        for m in apps.get_app_config(app).get_models()
    }
    inline_only = {
        inline.model._meta.model_name
        for model_admin in admin.site._registry.values()
        for inline in model_admin.inlines
    }
    assert ours <= {model for _, model in REGISTERED} | inline_only


def test_admin_asset_upload_validates_and_stores(superuser_client, project, make_png):
    url = reverse("admin:projects_asset_add")
    bad = superuser_client.post(
        url,
        {
            "project": project.pk,
            "kind": "style_ref",
            "title": "t",
            "upload": SimpleUploadedFile("fake.png", b"not an image"),
        },
    )
    assert bad.status_code == 200
    assert "is not an image Kroma can read" in bad.content.decode()
    assert Asset.objects.count() == 0
    good = superuser_client.post(
        url,
        {
            "project": project.pk,
            "kind": "style_ref",
            "title": "Ink",
            "upload": SimpleUploadedFile("ink.png", make_png(32, 32)),
        },
    )
    assert good.status_code == 302
    asset = Asset.objects.get()
    assert (asset.title, asset.width, asset.kind) == ("Ink", 32, "style_ref")
    change = superuser_client.get(reverse("admin:projects_asset_change", args=[asset.pk]))
    assert asset.thumbnail_url() in change.content.decode()


def test_admin_secret_value_is_write_only(superuser_client, project):
    url = reverse("admin:projects_projectsecret_add")
    response = superuser_client.post(
        url,
        {
            "project": project.pk,
            "provider": "openai",
            "name": "api_key",
            "value": "sk-admin-secret-000111",
        },
    )
    assert response.status_code == 302
    secret = ProjectSecret.objects.get()
    assert secret.reveal() == "sk-admin-secret-000111"
    page = superuser_client.get(reverse("admin:projects_projectsecret_change", args=[secret.pk]))
    listing = superuser_client.get(reverse("admin:projects_projectsecret_changelist"))
    for body in (page.content.decode(), listing.content.decode()):
        assert "sk-admin-secret-000111" not in body
        assert "sk-…0111" in body


def test_admin_lock_action_locks_style_guides_through_the_service(
    superuser_client, project, make_png
):
    from projects.models import AuditEvent, StyleReference
    from projects.services.assets import store_image

    empty = StyleGuide.objects.create(project=project, slug="empty", name="Empty")
    guide = StyleGuide.objects.create(project=project, slug="ink", name="Ink")
    asset = store_image(project=project, data=make_png(), kind="style_ref", name="ink.png")
    StyleReference.objects.create(style_guide=guide, asset=asset, position=1)
    page = superuser_client.post(
        reverse("admin:projects_styleguide_changelist"),
        {"action": "lock", "_selected_action": [guide.pk, empty.pk]},
        follow=True,
    )
    guide.refresh_from_db()
    empty.refresh_from_db()
    assert guide.is_locked and guide.locked_at is not None
    assert not empty.is_locked
    assert "has no style references: add some before locking it" in page.content.decode()
    assert AuditEvent.objects.filter(action="style_guide.locked", target="ink").exists()
