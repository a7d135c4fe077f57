"""The demo project: a small story world with images drawn here, so a fresh install has content.

Every image is drawn deterministically with Pillow (no downloads): three scenes, two ink-style
references and a reference sheet per character. Seeding twice changes nothing.
"""

from __future__ import annotations

import io
import math
import random

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from PIL import Image, ImageDraw, ImageFilter

from kroma.lib.images import CleanImage, clean_image
from projects.models import (
    Asset,
    Character,
    Outfit,
    Panel,
    Project,
    ReferenceSet,
    ReferenceSetItem,
    StyleGuide,
    StyleReference,
)
from projects.services.assets import store_clean_image
from projects.services.projects import create_project
from projects.services.story import create_panel, set_cast

DEMO_SLUG = "demo"
SIZE = 512


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _sky(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):
        t = y / (SIZE - 1)
        draw.line(
            [(0, y), (SIZE, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    return image


def draw_harbor() -> bytes:
    image = _sky((242, 150, 90), (70, 60, 110))
    draw = ImageDraw.Draw(image)
    draw.ellipse([300, 170, 380, 250], fill=(255, 214, 150))
    draw.rectangle([0, 330, SIZE, SIZE], fill=(36, 52, 84))
    rng = random.Random(1)
    for _ in range(40):
        x, y = rng.randrange(SIZE), rng.randrange(340, SIZE)
        draw.line([(x, y), (x + rng.randrange(10, 40), y)], fill=(240, 170, 110), width=2)
    for x, h in [(40, 120), (90, 90), (400, 140), (455, 100)]:
        draw.rectangle([x, 330 - h, x + 40, 330], fill=(28, 28, 40))
    draw.polygon([(180, 320), (320, 320), (300, 345), (200, 345)], fill=(20, 20, 28))
    draw.line([(250, 320), (250, 220)], fill=(20, 20, 28), width=4)
    draw.polygon([(252, 225), (252, 310), (310, 310)], fill=(230, 225, 210))
    return _png(image)


def draw_alley() -> bytes:
    image = _sky((40, 44, 60), (16, 16, 24))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 0), (170, 90), (170, 470), (0, SIZE)], fill=(60, 56, 64))
    draw.polygon([(SIZE, 0), (342, 90), (342, 470), (SIZE, SIZE)], fill=(52, 50, 60))
    draw.polygon([(170, 470), (342, 470), (SIZE, SIZE), (0, SIZE)], fill=(30, 30, 36))
    for i in range(5):
        y = 120 + i * 70
        draw.rectangle([30, y, 80, y + 40], fill=(250, 200, 110) if i % 2 else (70, 70, 90))
        draw.rectangle(
            [440, y + 10, 490, y + 50], fill=(110, 200, 230) if i % 3 == 0 else (70, 70, 90)
        )
    draw.ellipse([236, 150, 276, 190], fill=(255, 240, 200))
    glow = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(glow).ellipse([196, 110, 316, 230], fill=120)
    image.paste((255, 230, 170), (0, 0), glow.filter(ImageFilter.GaussianBlur(30)))
    return _png(image)


def draw_rooftop() -> bytes:
    image = _sky((120, 170, 220), (220, 230, 240))
    draw = ImageDraw.Draw(image)
    rng = random.Random(7)
    x = 0
    while x < SIZE:
        w, h = rng.randrange(30, 70), rng.randrange(80, 260)
        shade = rng.randrange(90, 150)
        draw.rectangle([x, SIZE - h - 120, x + w, SIZE], fill=(shade, shade + 5, shade + 20))
        x += w + rng.randrange(2, 10)
    draw.rectangle([0, 400, SIZE, SIZE], fill=(70, 64, 60))
    draw.rectangle([60, 340, 120, 400], fill=(110, 96, 80))
    draw.line([(380, 400), (380, 300), (440, 300)], fill=(40, 40, 40), width=6)
    return _png(image)


def draw_ink_hatching(seed: int) -> bytes:
    """A grayscale ink study: cross-hatching over a soft wash, the style anchor of the demo."""
    rng = random.Random(seed)
    image = Image.new("L", (SIZE, SIZE), 238)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        cx, cy, r = rng.randrange(SIZE), rng.randrange(SIZE), rng.randrange(60, 180)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rng.randrange(150, 215))
    image = image.filter(ImageFilter.GaussianBlur(12))
    draw = ImageDraw.Draw(image)
    angle = math.radians(rng.choice([30, 45, 60]))
    for offset in range(-SIZE, 2 * SIZE, 9):
        dx, dy = math.cos(angle) * SIZE, math.sin(angle) * SIZE
        draw.line([(offset, 0), (offset + dx, dy)], fill=60, width=1)
    for _ in range(14):
        pts = [(rng.randrange(SIZE), rng.randrange(SIZE)) for _ in range(3)]
        draw.line(pts, fill=15, width=rng.choice([2, 3, 5]), joint="curve")
    return _png(image.convert("RGB"))


def draw_character(palette: tuple[int, int, int], seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (SIZE, SIZE), (235, 232, 226))
    draw = ImageDraw.Draw(image)
    draw.ellipse([196, 70, 316, 200], fill=(224, 186, 160), outline=(30, 30, 30), width=4)
    hair = tuple(max(0, c - 90) for c in palette)
    draw.pieslice([186, 56, 326, 180], 180, 360, fill=hair, outline=(30, 30, 30), width=4)
    draw.polygon(
        [(180, 210), (332, 210), (372, 470), (140, 470)], fill=palette, outline=(30, 30, 30)
    )
    draw.line([(236, 130), (246, 130)], fill=(30, 30, 30), width=5)
    draw.line([(266, 130), (276, 130)], fill=(30, 30, 30), width=5)
    draw.arc([236, 150, 276, 176], 20, 160, fill=(120, 40, 40), width=3)
    for _ in range(5):
        x = rng.randrange(170, 330)
        draw.line([(x, 240), (x + rng.randrange(-20, 20), 460)], fill=hair, width=2)
    return _png(image)


CHARACTERS = [
    {
        "slug": "mara",
        "name": "Mara Quell",
        "description": "Harbor pilot turned smuggler; quick, wary, loyal to the crew she chose.",
        "continuity_notes": "Short copper hair, scar through the left eyebrow, teal coat.",
        "palette": (40, 130, 140),
        "seed": 11,
    },
    {
        "slug": "ines",
        "name": "Inès Varga",
        "description": "Lighthouse keeper and cartographer who sees what the city forgets.",
        "continuity_notes": "Long black braid, round glasses, mustard scarf in every scene.",
        "palette": (200, 150, 40),
        "seed": 23,
    },
]
SCENES = [
    ("harbor-dusk", "Harbor at dusk", draw_harbor),
    ("alley-night", "Lantern alley", draw_alley),
    ("rooftop-day", "Rooftops, morning", draw_rooftop),
]
# Page 1 of chapter 1: each scene image is a panel's base, with its script, shot and cast.
PANELS = {
    "harbor-dusk": {
        "script": "Mara steers a skiff between the drowned warehouses, lamp held low.",
        "shot": "wide establishing shot",
        "camera": "eye level from the water",
        "cast": [("mara", "Teal coat", "standing at the tiller", "watchful")],
    },
    "alley-night": {
        "script": "Inès unrolls a map under a lantern, the alley flooded ankle-deep.",
        "shot": "medium shot",
        "camera": "slightly low angle",
        "cast": [("ines", None, "kneeling over the map", "absorbed")],
    },
    "rooftop-day": {
        "script": "Morning. Mara and Inès look out over the rooftops toward the lighthouse.",
        "shot": "two-shot from behind",
        "camera": "high angle",
        "cast": [
            ("mara", "Teal coat", "arms folded", "tired"),
            ("ines", None, "pointing at the lighthouse", "hopeful"),
        ],
    },
}


def _clean(data: bytes, name: str) -> CleanImage:
    return clean_image(data, name=name, max_pixels=settings.MAX_IMAGE_PIXELS)


def _store(project: Project, image: CleanImage, kind: str, name: str, title: str) -> Asset:
    return store_clean_image(
        project=project, image=image, kind=kind, title=title, metadata={"original_name": name}
    )


def seed_demo_project(*, owner: AbstractBaseUser) -> Project:
    """Create (or complete) the demo project for `owner`; running it again adds nothing.

    Every image is drawn, encoded and hashed first; then the rows are written, each in a short
    transaction (never holding the database while images are made).
    """
    scenes = [(slug, title, _clean(draw(), f"{slug}.png")) for slug, title, draw in SCENES]
    styles = [(seed, _clean(draw_ink_hatching(seed), f"ink-{seed}.png")) for seed in (3, 5)]
    sheets = [
        (spec, _clean(draw_character(spec["palette"], spec["seed"]), f"{spec['slug']}.png"))
        for spec in CHARACTERS
    ]
    project = Project.objects.filter(slug=DEMO_SLUG).first()
    if project is None:
        project = create_project(
            owner=owner,
            name="Demo: Lantern Harbor",
            slug=DEMO_SLUG,
            logline="A smuggler and a lighthouse keeper chart the tunnels under a drowned city.",
            setting="Lantern Harbor, a canal city of the 1920s, half sunk, lit by oil lamps.",
            tone="Ink-noir, warm lamplight against cold water; quiet, then sudden.",
            notes="Every scene keeps the ink hatching of the style references.",
        )
    bases = {
        slug: _store(project, image, Asset.Kind.SCENE_REF, f"{slug}.png", title)
        for slug, title, image in scenes
    }
    guide, _ = StyleGuide.objects.get_or_create(
        project=project,
        slug="ink-noir",
        defaults={
            "name": "Ink noir",
            "description": "Hand-inked lines over soft washes.",
            "rules": "Cross-hatched shadows, 2-5 px ink lines, no gradients in skies, "
            "warm light sources only, never photoreal.",
        },
    )
    for position, (seed, image) in enumerate(styles):
        asset = _store(
            project, image, Asset.Kind.STYLE_REF, f"ink-{seed}.png", f"Ink study {position + 1}"
        )
        StyleReference.objects.get_or_create(
            style_guide=guide, asset=asset, defaults={"position": position}
        )
    for spec, image in sheets:
        _seed_character(project, spec, image)
    _seed_panels(project, bases)
    return project


def _seed_panels(project: Project, bases: dict[str, Asset]) -> None:
    """The demo's page: one panel per scene, with its script, shot and cast (once)."""
    if Panel.objects.filter(project=project).exclude(key__in=list(bases)).exists():
        return  # the artist has made the story their own
    for slug, title, _ in SCENES:
        spec = PANELS[slug]
        panel = Panel.objects.filter(project=project, key=slug).first()
        if panel is None:
            panel = create_panel(
                project=project,
                actor=None,
                title=title,
                key=slug,
                base_asset=bases[slug],
                **{k: spec[k] for k in ("script", "shot", "camera")},
            )
        if panel.cast.exists():
            continue
        entries = []
        for character_slug, outfit_name, pose, expression in spec["cast"]:
            character = Character.objects.get(project=project, slug=character_slug)
            outfit = None
            if outfit_name:
                outfit, _ = Outfit.objects.get_or_create(
                    character=character,
                    name=outfit_name,
                    defaults={"description": "knee-length, brass buttons, collar up"},
                )
            entries.append(
                {"character": character, "outfit": outfit, "pose": pose, "expression": expression}
            )
        set_cast(panel=panel, actor=None, entries=entries)


def _reference_set(
    project: Project, slug: str, name: str, kind: str, character: Character | None = None
) -> ReferenceSet:
    ref_set, _ = ReferenceSet.objects.get_or_create(
        project=project,
        slug=slug,
        defaults={"name": name, "kind": kind, "character": character},
    )
    return ref_set


def _seed_character(project: Project, spec: dict, image: CleanImage) -> None:
    character, _ = Character.objects.get_or_create(
        project=project,
        slug=spec["slug"],
        defaults={k: spec[k] for k in ("name", "description", "continuity_notes")},
    )
    ref_set = _reference_set(
        project,
        f"{spec['slug']}-refs",
        f"{spec['name']} references",
        ReferenceSet.Kind.CHARACTER,
        character,
    )
    asset = _store(
        project, image, Asset.Kind.CHARACTER_REF, f"{spec['slug']}.png", f"{spec['name']} — front"
    )
    ReferenceSetItem.objects.get_or_create(reference_set=ref_set, asset=asset)
