"""Page layouts: presets, frames, settings checks and the rendered page."""

from __future__ import annotations

import pytest

from kroma.lib.errors import UserError
from pipeline.services import layouts
from projects.models import AuditEvent, Page, Panel

pytestmark = pytest.mark.django_db

SETTINGS = {**layouts.DEFAULTS, "dpi": 100}


def test_auto_layout_is_chosen_by_panel_count():
    chosen = [layouts.resolve_layout("auto", n) for n in (1, 2, 3, 4, 5, 6, 7, 12)]
    assert (
        chosen == ["full", "tiers2", "tiers3", "tiers2", "splash_strip", "grid2x3"] + ["tiers3"] * 2
    )
    assert layouts.resolve_layout("full", 5) == "full"


@pytest.mark.parametrize(
    ("layout", "count", "frames"),
    [("full", 1, 1), ("tiers2", 5, 5), ("tiers3", 2, 3), ("grid2x3", 4, 6), ("splash_strip", 4, 4)],
)
def test_presets_have_their_frames(layout, count, frames):
    assert len(layouts.page_frames(layout, count, SETTINGS)) == frames


def test_frames_sit_inside_the_margins_with_gutters_between():
    settings = {**SETTINGS, "page_size": "a4", "margin_mm": 10.0, "gutter_mm": 5.0}
    top, bottom = layouts.page_frames("tiers2", 2, settings)
    assert (top.x, top.y, top.w) == (10.0, 10.0, 190.0)
    assert bottom.y - (top.y + top.h) == pytest.approx(5.0)
    assert bottom.y + bottom.h == pytest.approx(287.0)
    left, right = layouts.page_frames("grid2x3", 6, settings)[:2]
    assert right.x - (left.x + left.w) == pytest.approx(5.0)


def test_splash_takes_two_thirds_of_the_height():
    settings = {**SETTINGS, "page_size": "a4", "margin_mm": 0.0, "gutter_mm": 0.0}
    splash, *strip = layouts.page_frames("splash_strip", 4, settings)
    assert splash.h == pytest.approx(198.0)
    assert [f.w for f in strip] == pytest.approx([70.0] * 3)


def test_check_layout_reports_every_bad_field():
    _, errors = layouts.check_layout(
        {"page_size": "napkin", "gutter_mm": "wide", "dpi": 5000, "bleed_mm": -1}
    )
    assert set(errors) == {"page_size", "gutter_mm", "dpi", "bleed_mm"}
    assert errors["dpi"] == "Enter a value from 72 to 600."


def test_check_layout_caps_the_pixels_of_a_page():
    _, errors = layouts.check_layout({"page_size": "tabloid", "dpi": 600})
    assert "at most" in errors["dpi"]
    _, errors = layouts.check_layout({"page_size": "tabloid", "dpi": 300})
    assert errors == {}


def test_margins_that_leave_no_room_are_refused():
    _, errors = layouts.check_layout({"margin_mm": 60, "gutter_mm": 30})
    assert errors["margin_mm"] == (
        "Margins of 60 mm and gutters of 30 mm leave frames narrower than 15 mm on this page: "
        "use less."
    )


@pytest.mark.parametrize("gutter", [4.0, 20.0, 30.0])
@pytest.mark.parametrize(("layout", "count"), [("tiers3", 30), ("auto", 40), ("splash_strip", 9)])
def test_many_panels_never_make_a_frame_narrower_than_the_minimum(layout, count, gutter):
    settings = {**SETTINGS, "gutter_mm": gutter}
    assert layouts.check_layout(settings)[1] == {}
    frames = layouts.page_frames(layout, count, settings)
    assert 1 <= len(frames) <= count
    assert min(f.w for f in frames) >= layouts.MIN_FRAME_MM
    assert min(f.h for f in frames) >= layouts.MIN_FRAME_MM
    width, _ = layouts.page_mm(settings)
    assert max(f.x + f.w for f in frames) <= width - settings["margin_mm"] + 1e-9


def test_three_tiers_take_as_many_panels_as_fit_across():
    assert layouts.most_across(SETTINGS) == 7  # (168.275 - 24 + 4) // (15 + 4)
    assert len(layouts.page_frames("tiers3", 12, SETTINGS)) == 12
    assert len(layouts.page_frames("tiers3", 30, SETTINGS)) == 21
    assert len(layouts.page_frames("tiers3", 30, {**SETTINGS, "gutter_mm": 30.0})) == 9


def test_a_page_of_many_panels_renders_and_names_the_ones_left_out(scene_project):
    settings = {**SETTINGS, "gutter_mm": 30.0, "dpi": 72}
    (page,) = layouts.story_pages(scene_project)
    have = len(page.panels_in_order)
    for n in range(12 - have):
        Panel.objects.create(
            project=scene_project, page=page, key=f"extra-{n}", title=f"Extra {n}", position=10 + n
        )
    (page,) = layouts.story_pages(scene_project)
    layouts.fill_page(page, settings, layout="tiers3")
    assert len(page.slots) == 9
    assert [p.key for p in page.left_out] == ["extra-6", "extra-7", "extra-8"]
    image = layouts.render_page(scene_project, page, settings)
    assert image.size == layouts.page_pixels(settings)


def test_set_layout_settings_saves_and_audits(project, user):
    layouts.set_layout_settings(project=project, user=user, settings={"gutter_mm": "6.5"})
    project.refresh_from_db()
    assert project.layout["gutter_mm"] == 6.5
    assert layouts.layout_settings(project)["gutter_mm"] == 6.5
    assert AuditEvent.objects.filter(project=project, action="project.layout").count() == 1


def test_set_layout_settings_refuses_bad_input_and_saves_nothing(project, user):
    with pytest.raises(UserError) as caught:
        layouts.set_layout_settings(project=project, user=user, settings={"dpi": "0"})
    assert caught.value.field == "dpi"
    project.refresh_from_db()
    assert project.layout == {}
    assert not AuditEvent.objects.filter(action="project.layout").exists()


def test_set_page_layout_checks_page_and_preset(scene_project, other_project, user):
    page = Page.objects.get(project=scene_project)
    layouts.set_page_layout(project=scene_project, user=user, page_id=page.pk, layout="tiers3")
    assert Page.objects.get(pk=page.pk).layout == "tiers3"
    with pytest.raises(UserError):
        layouts.set_page_layout(project=scene_project, user=user, page_id=page.pk, layout="x")
    with pytest.raises(UserError):
        layouts.set_page_layout(project=other_project, user=user, page_id=page.pk, layout="full")
    assert AuditEvent.objects.filter(action="page.layout").count() == 1


def test_a_page_is_filled_by_its_panels_in_reading_order(scene_project):
    (page,) = layouts.story_pages(scene_project)
    layouts.fill_page(page, SETTINGS)
    assert page.layout_used == "tiers3"
    assert [s.panel.key for s in page.slots] == [p.key for p in page.panels_in_order]
    assert all(s.asset == s.panel.base_asset for s in page.slots)


def test_a_panel_without_any_image_gets_an_empty_titled_frame(scene_project):
    (page,) = layouts.story_pages(scene_project)
    first = page.panels_in_order[0]
    first.base_asset = None
    first.save()
    (page,) = layouts.story_pages(scene_project)
    layouts.fill_page(page, SETTINGS)
    assert page.slots[0].asset is None
    image = layouts.render_page(scene_project, page, SETTINGS)
    assert image.size == layouts.page_pixels(SETTINGS)
    frame = page.slots[0].frame
    inside = image.crop(
        tuple(
            round((v + SETTINGS["bleed_mm"]) / 25.4 * 100)
            for v in (frame.x + 2, frame.y + 2, frame.x + frame.w - 2, frame.y + frame.h - 2)
        )
    )
    colours = {c for _, c in inside.getcolors(100_000)}
    assert (255, 255, 255) in colours and len(colours) > 1  # white, with the title's ink


def test_a_preset_too_small_for_the_page_leaves_panels_out(scene_project):
    (page,) = layouts.story_pages(scene_project)
    layouts.fill_page(page, SETTINGS, layout="full")
    assert len(page.slots) == 1
    assert [p.key for p in page.left_out] == [p.key for p in page.panels_in_order[1:]]


def test_render_places_images_with_white_gutters_and_bleed(scene_project):
    settings = {**SETTINGS, "bleed_mm": 3.0, "margin_mm": 10.0}
    (page,) = layouts.story_pages(scene_project)
    layouts.fill_page(page, settings)
    image = layouts.render_page(scene_project, page, settings)
    w, h = layouts.page_pixels(settings)
    assert image.mode == "RGB" and image.size == (w, h)
    assert image.getpixel((5, 5)) == (255, 255, 255)  # bleed and margin are white
    frame = page.slots[0].frame
    centre = (
        round((frame.x + frame.w / 2 + 3) / 25.4 * 100),
        round((frame.y + frame.h / 2 + 3) / 25.4 * 100),
    )
    assert image.getpixel(centre) != (255, 255, 255)  # the panel's image fills its frame
