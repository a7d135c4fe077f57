"""The small services the API needed: chapters and pages, deleting a guide, reference sets."""

from __future__ import annotations

import pytest

from kroma.lib.errors import Conflict, UserError
from projects.errors import StyleLocked
from projects.models import Asset, AuditEvent, Page, ReferenceSet, StyleGuide
from projects.services import universe_edits
from projects.services.assets import store_image
from projects.services.security import lock_style_guide
from projects.services.story import add_chapter, add_page, create_panel
from projects.services.style import create_style_guide, file_style_references

pytestmark = pytest.mark.django_db


def test_update_page_moves_it_to_the_end_of_another_chapter(user, project):
    first, second = (
        add_chapter(project=project, actor=user),
        add_chapter(project=project, actor=user),
    )
    add_page(project=project, actor=user, chapter=second)
    page = add_page(project=project, actor=user, chapter=first)
    universe_edits.update_page(page=page, actor=user, chapter=second, layout="full")
    page.refresh_from_db()
    assert (page.chapter_id, page.position, page.layout) == (second.pk, 2, "full")
    event = AuditEvent.objects.get(action="story.page_changed")
    assert event.data == {"fields": ["chapter", "layout", "position"]}
    with pytest.raises(UserError) as bad:
        universe_edits.update_page(page=page, actor=user, layout="collage")
    assert bad.value.field == "layout"
    universe_edits.update_page(page=page, actor=user, layout="full")  # no change, no event
    assert AuditEvent.objects.filter(action="story.page_changed").count() == 1


def test_pages_and_chapters_with_panels_are_not_deleted(user, project):
    panel = create_panel(project=project, actor=user, title="Dock")
    with pytest.raises(Conflict):
        universe_edits.delete_page(page=panel.page, actor=user)
    with pytest.raises(Conflict):
        universe_edits.delete_chapter(chapter=panel.page.chapter, actor=user)
    assert Page.objects.filter(pk=panel.page_id).exists()


def test_a_locked_guide_is_not_deleted(user, project, make_png):
    guide = create_style_guide(project=project, user=user, name="Ink")
    image = store_image(project=project, data=make_png(), kind=Asset.Kind.STYLE_REF, name="r")
    file_style_references(guide, [image])
    lock_style_guide(guide=guide, user=user)
    with pytest.raises(StyleLocked):
        universe_edits.delete_style_guide(guide=guide, user=user)
    assert StyleGuide.objects.filter(pk=guide.pk).exists()
    assert not AuditEvent.objects.filter(action="style_guide.deleted").exists()


def test_reference_set_slugs_are_never_paths(user, project):
    for slug in ("../x", "a/b", "", "A"):
        with pytest.raises(UserError) as bad:
            universe_edits.create_reference_set(
                project=project, actor=user, slug=slug, name="S", kind="scene"
            )
        assert bad.value.field == "slug"
    assert not ReferenceSet.objects.exists()


def test_reference_items_keep_their_asset_when_removed(user, project, other_project, make_png):
    ref_set = universe_edits.create_reference_set(
        project=project, actor=user, slug="scenes", name="Scenes", kind="scene"
    )
    image = store_image(project=project, data=make_png(), kind=Asset.Kind.SCENE_REF, name="s")
    theirs = store_image(project=other_project, data=make_png(8, 8), kind="upload", name="t")
    with pytest.raises(UserError):
        universe_edits.add_reference_item(ref_set=ref_set, actor=user, asset=theirs)
    item = universe_edits.add_reference_item(ref_set=ref_set, actor=user, asset=image)
    assert item.position == 1
    universe_edits.remove_reference_item(item=item, actor=user)
    assert not ref_set.items.exists() and Asset.objects.filter(pk=image.pk).exists()
    assert AuditEvent.objects.get(action="reference_set.item_removed").data == {"asset": image.pk}
