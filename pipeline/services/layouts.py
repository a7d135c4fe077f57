"""Page layouts: presets filled by a page's panels in reading order, and their print settings.

One geometry serves the screen and the print: `page_frames` places the frames in millimetres on
the trim page, the Pages page draws them as SVG at screen size, and `render_page` draws them
with Pillow at the export's dpi (cover-fit, cropped, white gutters). Settings live in
Project.layout: page_size, gutter_mm, margin_mm, bleed_mm, dpi (checked by `check_layout`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from kroma.lib.errors import UserError
from pipeline.config import STAGES
from pipeline.services.picks import panel_picks
from projects.models import Asset, Layout, Page, Panel, Project
from projects.services.records import audit
from projects.storage import read_file

# Trim sizes in millimetres (width, height), with their labels.
PAGE_SIZES: dict[str, tuple[str, float, float]] = {
    "us_comic": ("US comic (6.625 x 10.25 in)", 168.275, 260.35),
    "a4": ("A4 (210 x 297 mm)", 210.0, 297.0),
    "letter": ("US Letter (8.5 x 11 in)", 215.9, 279.4),
    "tabloid": ("Tabloid (11 x 17 in)", 279.4, 431.8),
}
DEFAULTS: dict[str, Any] = {
    "page_size": "us_comic",
    "gutter_mm": 4.0,
    "margin_mm": 12.0,
    "bleed_mm": 3.0,
    "dpi": 300,
}
# (lowest, highest) of each number; dpi is a whole number.
LIMITS: dict[str, tuple[float, float]] = {
    "gutter_mm": (0, 30),
    "margin_mm": (0, 60),
    "bleed_mm": (0, 12),
    "dpi": (72, 600),
}
MAX_PAGE_PIXELS = 40_000_000  # one rendered page, bleed included (120 MB of RGB)
MIN_FRAME_MM = 15.0
MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Frame:
    """One frame on the trim page, in millimetres from its top-left corner."""

    x: float
    y: float
    w: float
    h: float


@dataclass
class PageSlot:
    """A frame and what fills it: the panel (None for an unused frame) and its image."""

    frame: Frame
    panel: Panel | None = None
    asset: Asset | None = None


# --- settings --------------------------------------------------------------------------------


def check_layout(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings in `data` over the defaults, checked: (clean settings, {field: error})."""
    clean, errors = dict(DEFAULTS), {}
    size = data.get("page_size", DEFAULTS["page_size"])
    if size not in PAGE_SIZES:
        errors["page_size"] = f"Choose a page size: {', '.join(PAGE_SIZES)}."
    else:
        clean["page_size"] = size
    for name, (low, high) in LIMITS.items():
        raw = data.get(name, DEFAULTS[name])
        try:
            value = float(raw)
        except (TypeError, ValueError):
            errors[name] = "Enter a number."
            continue
        if not math.isfinite(value) or not low <= value <= high:
            errors[name] = f"Enter a value from {low:g} to {high:g}."
            continue
        if name == "dpi" and value != int(value):
            errors[name] = "Enter a whole number of dots per inch."
            continue
        clean[name] = int(value) if name == "dpi" else round(value, 2)
    if not errors:
        errors.update(_fit_errors(clean))
    return clean, errors


def _fit_errors(settings: dict[str, Any]) -> dict[str, str]:
    _, width, height = PAGE_SIZES[settings["page_size"]]
    margin, gutter = settings["margin_mm"], settings["gutter_mm"]
    # Three frames across and three tiers down must each keep MIN_FRAME_MM.
    live = min(width, height) - 2 * margin - 2 * gutter
    if live < 3 * MIN_FRAME_MM:
        return {
            "margin_mm": f"Margins of {margin:g} mm and gutters of {gutter:g} mm leave frames "
            f"narrower than {MIN_FRAME_MM:g} mm on this page: use less."
        }
    w_px, h_px = page_pixels(settings)
    if w_px * h_px > MAX_PAGE_PIXELS:
        most = int(settings["dpi"] * math.sqrt(MAX_PAGE_PIXELS / (w_px * h_px)))
        return {
            "dpi": f"A page at {settings['dpi']} dpi would be {w_px} x {h_px} px; "
            f"at this size use at most {most} dpi."
        }
    return {}


def layout_settings(project: Project) -> dict[str, Any]:
    """The project's saved settings (defaults for anything missing or no longer valid)."""
    clean, errors = check_layout(project.layout or {})
    for name in errors:
        clean[name] = DEFAULTS[name]
    return clean


def set_layout_settings(
    *, project: Project, user: AbstractBaseUser | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """Save the project's page settings (audited); a bad value raises UserError on its field."""
    clean, errors = check_layout({**layout_settings(project), **settings})
    if errors:
        field, message = next(iter(errors.items()))
        raise UserError(message, field=field)
    project.layout = {**(project.layout or {}), **clean}
    project.save(update_fields=["layout", "updated_at"])
    audit(project, user, "project.layout", project.slug, **clean)
    return clean


def set_page_layout(
    *, project: Project, user: AbstractBaseUser | None, page_id: int, layout: str
) -> Page:
    """Choose a page's preset (audited)."""
    page = Page.objects.filter(project=project, pk=page_id).first()
    if page is None:
        raise UserError("No such page in this project.", code="not_found", field="page")
    if layout not in Layout.values:
        raise UserError(f"Choose a layout: {', '.join(Layout.values)}.", field="layout")
    if page.layout != layout:
        old, page.layout = page.layout, layout
        page.save(update_fields=["layout"])
        audit(project, user, "page.layout", f"page {page.pk}", layout=layout, was=old)
    return page


def page_mm(settings: dict[str, Any]) -> tuple[float, float]:
    _, width, height = PAGE_SIZES[settings["page_size"]]
    return width, height


def page_pixels(settings: dict[str, Any]) -> tuple[int, int]:
    """The rendered page in pixels: the trim size plus the bleed all around, at the dpi."""
    width, height = page_mm(settings)
    bleed = 2 * settings["bleed_mm"]
    return _px(width + bleed, settings["dpi"]), _px(height + bleed, settings["dpi"])


def _px(mm: float, dpi: int) -> int:
    return round(mm / MM_PER_INCH * dpi)


# --- geometry --------------------------------------------------------------------------------


def resolve_layout(layout: str, count: int) -> str:
    """`auto` chosen by panel count; any other preset as it is."""
    if layout != Layout.AUTO:
        return layout
    by_count = {0: Layout.FULL, 1: Layout.FULL, 2: Layout.TIERS_2, 3: Layout.TIERS_3}
    by_count |= {4: Layout.TIERS_2, 5: Layout.SPLASH_STRIP, 6: Layout.GRID_2X3}
    return by_count.get(count, Layout.TIERS_3)


def _split(count: int, rows: int, most: int) -> list[int]:
    """Panels per tier: as even as it goes, the upper tiers taking the extra ones."""
    count = max(rows, min(count, rows * most)) if most else count
    base, extra = divmod(count, rows)
    return [base + (1 if i < extra else 0) for i in range(rows)]


def most_across(settings: dict[str, Any]) -> int:
    """How many frames fit side by side on the page, each at least MIN_FRAME_MM wide."""
    width, _ = page_mm(settings)
    live, gutter = width - 2 * settings["margin_mm"], settings["gutter_mm"]
    return max(1, int((live + gutter) // (MIN_FRAME_MM + gutter)))


def _rows(layout: str, count: int, most: int) -> list[tuple[float, int]]:
    """The preset as tiers: (relative height, frames across) from top to bottom; never more
    than `most` across (the panels beyond the frames are left out and named)."""
    if layout == Layout.FULL:
        return [(1, 1)]
    if layout == Layout.TIERS_2:
        return [(1, n) for n in _split(count, 2, min(3, most))]
    if layout == Layout.TIERS_3:
        # auto sends more than nine panels here: the tiers then take as many as fit
        return [(1, n) for n in _split(count, 3, min(3, most) if count <= 9 else most)]
    if layout == Layout.GRID_2X3:
        return [(1, min(2, most))] * 3
    if layout == Layout.SPLASH_STRIP:
        return [(2, 1), (1, min(max(count - 1, 1), 4, most))]
    raise UserError(f"Unknown layout {layout!r}.", field="layout")


def page_frames(layout: str, count: int, settings: dict[str, Any]) -> list[Frame]:
    """The frames of a preset for `count` panels on the trim page, in reading order."""
    width, height = page_mm(settings)
    margin, gutter = settings["margin_mm"], settings["gutter_mm"]
    rows = _rows(resolve_layout(layout, count), count, most_across(settings))
    live_w, live_h = width - 2 * margin, height - 2 * margin
    row_space = live_h - gutter * (len(rows) - 1)
    total = sum(weight for weight, _ in rows)
    frames, y = [], margin
    for weight, across in rows:
        h = row_space * weight / total
        w = (live_w - gutter * (across - 1)) / across
        frames += [Frame(margin + i * (w + gutter), y, w, h) for i in range(across)]
        y += h + gutter
    return frames


# --- a story's pages with their panels and images ---------------------------------------------


def panel_images(panels: list[Panel]) -> dict[int, Asset | None]:
    """Each panel's current image: its latest stage's pick (post-processed when it was),
    falling back to earlier stages, then its base image; None without any."""
    picks = panel_picks(panels)
    chosen: dict[int, int | None] = {}
    for panel in panels:
        latest = next((picks[panel.pk][s] for s in reversed(STAGES) if s in picks[panel.pk]), None)
        if latest is not None:
            chosen[panel.pk] = latest.job.final_asset_id or latest.asset_id
        else:
            chosen[panel.pk] = panel.base_asset_id
    assets = Asset.objects.in_bulk([pk for pk in chosen.values() if pk])
    return {panel_id: assets.get(pk) if pk else None for panel_id, pk in chosen.items()}


def story_pages(project: Project, page_ids: list[int] | None = None) -> list[Page]:
    """The story's pages in reading order, each with `.panels_in_order`, `.slots` (frames
    filled in reading order), `.layout_used` and `.left_out` (panels without a frame)."""
    pages = Page.objects.filter(project=project).select_related("chapter")
    if page_ids is not None:
        pages = pages.filter(pk__in=page_ids)
    panels = Panel.objects.order_by("position", "id")
    pages = list(
        pages.order_by("chapter__position", "chapter_id", "position", "id").prefetch_related(
            Prefetch("panels", queryset=panels, to_attr="panels_in_order")
        )
    )
    images = panel_images([p for page in pages for p in page.panels_in_order])
    for page in pages:
        page.images = {p.pk: images[p.pk] for p in page.panels_in_order}
    return pages


def fill_page(page: Page, settings: dict[str, Any], layout: str | None = None) -> None:
    """Set `page.slots`, `page.layout_used` (and its label) and `page.left_out`."""
    panels = page.panels_in_order
    page.layout_used = resolve_layout(layout or page.layout, len(panels))
    page.layout_label = Layout(page.layout_used).label
    frames = page_frames(page.layout_used, len(panels), settings)
    page.slots = [
        PageSlot(frame, panel, page.images.get(panel.pk) if panel else None)
        for frame, panel in zip(frames, [*panels, *[None] * len(frames)], strict=False)
    ]
    page.left_out = panels[len(frames) :]


# --- rendering -------------------------------------------------------------------------------


def render_page(project: Project, page: Page, settings: dict[str, Any]) -> Image.Image:
    """The page as an RGB image at the settings' dpi: white, bleed around the trim, each frame
    filled by its panel's image (cover-fit and cropped), or by the panel's title when it has
    none. `fill_page` must have run."""
    dpi, bleed = settings["dpi"], settings["bleed_mm"]
    canvas = Image.new("RGB", page_pixels(settings), "white")
    draw = ImageDraw.Draw(canvas)
    line = max(1, _px(0.35, dpi))
    for slot in page.slots:
        f = slot.frame
        box = (_px(f.x + bleed, dpi), _px(f.y + bleed, dpi))
        size = (_px(f.x + f.w + bleed, dpi) - box[0], _px(f.y + f.h + bleed, dpi) - box[1])
        if slot.asset is not None:
            with Image.open(io.BytesIO(read_file(project, slot.asset.path))) as image:
                fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
            canvas.paste(fitted, box)
        elif slot.panel is not None:
            font = ImageFont.load_default(size=max(10, _px(3.5, dpi)))
            draw.multiline_text(
                (box[0] + size[0] / 2, box[1] + size[1] / 2),
                _wrap(slot.panel.title, 28),
                fill="#555555",
                font=font,
                anchor="mm",
                align="center",
            )
        end = (box[0] + size[0] - 1, box[1] + size[1] - 1)
        draw.rectangle((box, end), outline="black", width=line)
    return canvas


def _wrap(text: str, width: int) -> str:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return "\n".join([*lines, current][:4])
