from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from kroma.lib import crypto
from pipeline.models import Run, RunCandidate, RunJob
from projects.models import (
    Asset,
    AssetLink,
    Character,
    Project,
    ProjectSecret,
    ReferenceSet,
    ReferenceSetItem,
    StyleGuide,
)
from projects.services.assets import store_image

pytestmark = pytest.mark.django_db


def test_character_slug_unique_per_project_but_reusable_across_projects(project, other_project):
    Character.objects.create(project=project, slug="mara", name="Mara")
    Character.objects.create(project=other_project, slug="mara", name="Mara elsewhere")
    with pytest.raises(IntegrityError), transaction.atomic():
        Character.objects.create(project=project, slug="mara", name="Mara again")


def test_project_slug_unique(project, user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(owner=user, slug=project.slug, name="Copy")


def test_styleguide_lock_sets_locked_at_and_unlock_clears_it(project):
    guide = StyleGuide.objects.create(project=project, slug="ink", name="Ink")
    assert guide.locked_at is None
    guide.status = StyleGuide.Status.LOCKED
    guide.save()
    assert guide.locked_at is not None
    guide.status = StyleGuide.Status.DRAFT
    guide.save()
    assert guide.locked_at is None


def test_styleguide_locked_without_date_is_refused_by_the_database(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        StyleGuide.objects.bulk_create(
            [StyleGuide(project=project, slug="x", name="X", status="locked", locked_at=None)]
        )


def test_deleting_a_project_cascades_to_everything_it_owns(project, make_png):
    asset = store_image(project=project, data=make_png(), kind="scene_ref", name="s.png")
    ref_set = ReferenceSet.objects.create(project=project, slug="s", name="S", kind="scene")
    ReferenceSetItem.objects.create(reference_set=ref_set, asset=asset)
    run = Run.objects.create(project=project, stage="style")
    job = RunJob.objects.create(project=project, run=run, index=0, scene_key="s")
    RunCandidate.objects.create(project=project, job=job, index=0)
    # Referenced assets are protected individually...
    with pytest.raises(ProtectedError):
        asset.delete()
    # ...but the project takes its whole world with it.
    ReferenceSetItem.objects.filter(reference_set__project=project).delete()
    project.delete()
    assert Asset.objects.count() == RunJob.objects.count() == RunCandidate.objects.count() == 0


def test_only_one_selected_candidate_per_job(project):
    run = Run.objects.create(project=project, stage="style")
    job = RunJob.objects.create(project=project, run=run, index=0, scene_key="s")
    RunCandidate.objects.create(project=project, job=job, index=0, selected=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        RunCandidate.objects.create(project=project, job=job, index=1, selected=True)


def test_reference_item_from_another_project_is_invalid(project, other_project, make_png):
    foreign = store_image(project=other_project, data=make_png(), kind="style_ref", name="f.png")
    ref_set = ReferenceSet.objects.create(project=project, slug="s", name="S", kind="style")
    item = ReferenceSetItem(reference_set=ref_set, asset=foreign)
    with pytest.raises(ValidationError) as excinfo:
        item.full_clean()
    assert "another project" in str(excinfo.value)


def test_asset_link_between_projects_is_invalid(project, other_project, make_png):
    mine = store_image(project=project, data=make_png(), kind="upload", name="a.png")
    theirs = store_image(project=other_project, data=make_png(), kind="upload", name="b.png")
    link = AssetLink(project=project, source=mine, target=theirs, relation="derived_from")
    with pytest.raises(ValidationError):
        link.full_clean()


def test_visible_to_scopes_projects_to_their_owner(project, other_project, user, other_user):
    assert list(Project.objects.visible_to(user)) == [project]
    assert list(Project.objects.visible_to(other_user)) == [other_project]


def test_visible_to_anonymous_sees_nothing(project):
    from django.contrib.auth.models import AnonymousUser

    assert list(Project.objects.visible_to(AnonymousUser())) == []


def test_secret_is_encrypted_at_rest_masked_and_revealable(project):
    secret = ProjectSecret(project=project, provider="openai", name="api_key")
    secret.set_value("sk-test-1234567890abcdef")
    secret.save()
    stored = ProjectSecret.objects.get(pk=secret.pk)
    assert b"sk-test" not in bytes(stored.ciphertext)
    assert stored.hint == "sk-…cdef"
    assert "1234567890" not in str(stored)
    assert stored.reveal() == "sk-test-1234567890abcdef"


def test_secret_rotation_reencrypts_with_the_new_key(project, monkeypatch):
    from cryptography.fernet import Fernet

    old_key = Fernet.generate_key().decode()
    monkeypatch.setenv("IAT_MASTER_KEY", old_key)
    secret = ProjectSecret(project=project, provider="openai", name="api_key")
    secret.set_value("sk-rotate-me-please")
    secret.save()
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("IAT_MASTER_KEY", f"{new_key},{old_key}")
    secret.rotate()
    secret.save()
    assert secret.key_id == crypto.key_id(new_key)
    monkeypatch.setenv("IAT_MASTER_KEY", new_key)
    assert ProjectSecret.objects.get(pk=secret.pk).reveal() == "sk-rotate-me-please"


def test_secret_with_unknown_key_gives_a_clear_error(project, monkeypatch):
    from cryptography.fernet import Fernet

    secret = ProjectSecret(project=project, provider="openai", name="api_key")
    secret.set_value("sk-lost-key-value")
    monkeypatch.setenv("IAT_MASTER_KEY", Fernet.generate_key().decode())
    with pytest.raises(crypto.SecretKeyError, match="not configured any more"):
        secret.reveal()
