"""The story services: chapters, pages, panels from a pasted script, casts, moves, deletes."""

from __future__ import annotations

import pytest

from kroma.lib.errors import UserError
from projects.models import AuditEvent, Character, Panel
from projects.services.characters import add_outfit, create_character
from projects.services.story import (
    create_panel,
    delete_panel,
    move_panel,
    panels_from_script,
    parse_script,
    set_cast,
    update_panel,
)

pytestmark = pytest.mark.django_db

FIVE_PANELS = """PANEL 1: Wide shot. The harbour at dusk, cranes against a red sky.
PANEL 2: Mara waits by the crane, collar up.
PANEL 3: Close-up on Ivo's hands, counting money.

PANEL 4: Mara and Ivo face each other in the rain.
PANEL 5: The ship's horn. Nobody moves.
"""


def test_panel_lines_make_one_panel_each_and_blank_lines_do_not_split_them():
    parsed = parse_script(FIVE_PANELS)
    assert [p.text.split(".")[0] for p in parsed] == [
        "Wide shot",
        "Mara waits by the crane, collar up",
        "Close-up on Ivo's hands, counting money",
        "Mara and Ivo face each other in the rain",
        "The ship's horn",
    ]


def test_without_panel_lines_each_paragraph_is_a_panel():
    parsed = parse_script("First beat,\nstill the first.\n\n\nSecond beat.\n \nThird.")
    assert [p.text for p in parsed] == ["First beat,\nstill the first.", "Second beat.", "Third."]


def test_page_and_chapter_lines_start_new_pages(project, user):
    script = "CHAPTER 1\nPAGE 1\nPANEL 1: One.\nPANEL 2: Two.\nPAGE 2\nPANEL 1: Three."
    panels = panels_from_script(project=project, actor=user, text=script)
    assert [(p.page.chapter.position, p.page.position, p.position) for p in panels] == [
        (1, 1, 1),
        (1, 1, 2),
        (1, 2, 1),
    ]


def test_pasted_panels_get_scripts_titles_keys_and_the_characters_they_name(project, user):
    mara = create_character(project=project, actor=user, name="Mara Voss")
    create_character(project=project, actor=user, name="Ivo")
    panels = panels_from_script(project=project, actor=user, text=FIVE_PANELS)
    assert len(panels) == 5
    assert panels[0].title == "Wide shot."
    assert panels[1].script == "Mara waits by the crane, collar up."
    assert len({p.key for p in panels}) == 5
    casts = [[m.character.name for m in p.cast.all()] for p in panels]
    assert casts == [[], ["Mara Voss"], ["Ivo"], ["Mara Voss", "Ivo"], []]
    assert panels[1].cast.get().character == mara
    assert AuditEvent.objects.filter(project=project, action="story.script_pasted").exists()


def test_an_empty_script_is_refused_at_the_field(project, user):
    with pytest.raises(UserError, match="No panels found") as err:
        panels_from_script(project=project, actor=user, text="  \n\n ")
    assert err.value.field == "script"
    assert not Panel.objects.filter(project=project).exists()


def test_move_up_down_and_to_another_page_keeps_positions_dense(project, user):
    a, b, c = (create_panel(project=project, actor=user, title=t) for t in "ABC")
    move_panel(panel=c, actor=user, direction="up")
    assert list(Panel.objects.filter(page=a.page).values_list("title", flat=True)) == [
        "A",
        "C",
        "B",
    ]
    move_panel(panel=a, actor=user, direction="up")  # already first: stays
    assert Panel.objects.get(pk=a.pk).position == 1
    from projects.services.story import add_page

    page2 = add_page(project=project, actor=user)
    move_panel(panel=b, actor=user, page=page2)
    assert [(p.title, p.position) for p in Panel.objects.filter(page=a.page)] == [
        ("A", 1),
        ("C", 2),
    ]
    assert Panel.objects.get(pk=b.pk).page == page2


def test_delete_keeps_the_base_image_and_is_audited(scene_project, user):
    panel = scene_project.panels.get(key="harbor")
    base = panel.base_asset
    delete_panel(panel=panel, actor=user)
    assert not Panel.objects.filter(pk=panel.pk).exists()
    assert scene_project.assets.filter(pk=base.pk).exists()
    event = AuditEvent.objects.get(project=scene_project, action="story.panel_deleted")
    assert event.data["title"] == "harbor"


def test_cast_takes_only_this_projects_characters_and_their_own_outfits(
    project, other_project, user
):
    panel = create_panel(project=project, actor=user, title="Rooftop")
    mara = create_character(project=project, actor=user, name="Mara")
    ivo = create_character(project=project, actor=user, name="Ivo")
    coat = add_outfit(character=mara, actor=user, name="Red coat")
    stranger = Character.objects.create(project=other_project, slug="x", name="X")
    with pytest.raises(UserError, match="this project's characters") as err:
        set_cast(panel=panel, actor=user, entries=[{"character": stranger}])
    assert err.value.field == "cast.0.character"
    with pytest.raises(UserError, match="Choose one of Ivo's outfits"):
        set_cast(panel=panel, actor=user, entries=[{"character": ivo, "outfit": coat}])
    set_cast(
        panel=panel,
        actor=user,
        entries=[{"character": mara, "outfit": coat, "pose": "crouching"}, {"character": ivo}],
    )
    assert [(m.character.name, m.outfit_id, m.pose) for m in panel.cast.all()] == [
        ("Mara", coat.pk, "crouching"),
        ("Ivo", None, ""),
    ]


def test_update_validates_aspect_and_limits(project, user):
    panel = create_panel(project=project, actor=user, title="Alley")
    with pytest.raises(UserError) as err:
        update_panel(panel=panel, actor=user, aspect="wide")
    assert err.value.field == "aspect"
    with pytest.raises(UserError) as err:
        update_panel(panel=panel, actor=user, script="x" * 4001)
    assert err.value.field == "script"
    update_panel(panel=panel, actor=user, aspect="portrait", shot="close-up")
    panel.refresh_from_db()
    assert (panel.size, panel.shot) == ("1024x1536", "close-up")


def test_uploaded_scenes_become_panels_shaped_like_their_images(project, user, make_png):
    from projects.services.references import add_references

    add_references(
        project=project,
        user=user,
        kind="scene",
        files=[("car.png", make_png(960, 540)), ("door.png", make_png(448, 640))],
    )
    assert [(p.title, p.aspect) for p in project.panels.all()] == [
        ("car", "landscape"),
        ("door", "portrait"),
    ]


def test_a_pasted_page_starts_after_the_existing_story(project, user):
    panels_from_script(project=project, actor=user, text="PANEL 1: Old.")
    new = panels_from_script(project=project, actor=user, text="PAGE 2\nPANEL 1: A.\nPANEL 2: B.")
    assert {p.page.position for p in new} == {2}
    plain = panels_from_script(project=project, actor=user, text="C.\n\nD.")
    assert {p.page.position for p in plain} == {2}  # no marker: the story's last page


def test_a_panel_line_followed_by_lines_is_the_title_not_the_script(project, user):
    script = "PANEL 1: Storm over the harbor\nWide shot. Mara stands on the pier.\nPANEL 2: Gulls."
    first, second = panels_from_script(project=project, actor=None, text=script)
    assert (first.title, first.script) == (
        "Storm over the harbor",
        "Wide shot. Mara stands on the pier.",
    )
    assert (second.title, second.script) == ("Gulls.", "Gulls.")
