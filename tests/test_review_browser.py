"""A new artist reviews a batch of 18 candidates with the keyboard alone and iterates on the best
one: rate, reject, pick, view large with zoom, compare with the source by the slider, vary from
the best (an edited prompt), run it, and see it in the panel's version tree. The real web server
and django-q2 worker, the free local provider; Debian chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.processes import manage, served
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

SETUP = """
from django.contrib.auth.models import User
from pipeline.services.runs import submit_run
from projects.models import Project
demo = Project.objects.get(slug="demo")
off = {"enabled": False}
demo.manifest_overrides = {
    "postprocess": {step: off for step in ("bg_remove", "refine", "upscale", "color")},
}
demo.save()
run = submit_run(project=demo, user=User.objects.get(username="local"), stage="style",
                 provider="local", mode="run", dispatch="inline", candidates=6)
print("RUN", run.uid)
"""
EDITED = "Same harbour, heavier ink and rain."


@pytest.fixture
def studio(tmp_path):
    env = {
        **os.environ,
        "KROMA_VAR_DIR": str(tmp_path),
        "KROMA_SINGLE_USER": "1",
        "KROMA_PRELOAD_MODELS": "0",
    }
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(env, "kroma_seed", "--with-default-user", "--demo")
    manage(env, "shell", "-c", SETUP)
    with served(
        tmp_path,
        "--web-workers",
        "1",
        worker=True,
        **{k: env[k] for k in ("KROMA_SINGLE_USER", "KROMA_PRELOAD_MODELS")},
    ) as port:
        yield f"http://127.0.0.1:{port}", tmp_path / "kroma.sqlite3"


def _rows(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db, timeout=20) as conn:
        return conn.execute(sql, params).fetchall()


def _focused_candidate(page) -> int:
    return int(page.evaluate("document.activeElement.getAttribute('data-candidate')"))


def _asset(db: Path, candidate: int) -> tuple:
    return _rows(
        db,
        "SELECT a.rating, a.rejected FROM pipeline_runcandidate c "
        "JOIN projects_asset a ON a.id = c.asset_id WHERE c.id = ?",
        candidate,
    )[0]


@pytest.mark.browser
@pytest.mark.slow
def test_a_new_artist_reviews_18_candidates_by_keyboard_and_iterates_on_the_best(studio):
    base, db = studio
    (uid,) = _rows(db, "SELECT uid FROM pipeline_run WHERE mode = 'run'")[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/projects/demo/runs/{uid}/review/")
        expect(page.locator(".review-card")).to_have_count(18)
        expect(page.get_by_text("18 of 18 candidates shown.")).to_be_visible()

        # Arrows move between candidates; 1-5 rate; x rejects. The first is the automatic pick.
        page.keyboard.press("ArrowDown")
        first = _focused_candidate(page)
        expect(page.locator(f"#cand-{first}")).to_have_class(re.compile(r"\bis-selected\b"))
        page.keyboard.press("ArrowRight")
        best = _focused_candidate(page)
        page.keyboard.press("5")
        expect(page.locator(f"#cand-{best} [data-rate='5']")).to_have_attribute(
            "aria-pressed", "true"
        )
        assert _focused_candidate(page) == best  # focus stays on the replaced card
        page.keyboard.press("ArrowRight")
        third = _focused_candidate(page)
        page.keyboard.press("2")
        expect(page.locator(f"#cand-{third} [data-rate='2']")).to_have_attribute(
            "aria-pressed", "true"
        )
        # The replaced card has settled (htmx copies attributes over for a moment first).
        expect(page.locator(f"#cand-{third}")).not_to_have_class(re.compile(r"htmx-"))
        page.keyboard.press("x")
        expect(page.locator(f"#cand-{third}")).to_have_class(re.compile(r"\bis-rejected\b"))
        assert _asset(db, third) == (2, 1)
        page.keyboard.press("ArrowLeft")
        assert _focused_candidate(page) == best
        assert _asset(db, best) == (5, 0)
        # The ratings put it first now; the automatic pick stays until the artist picks.
        expect(page.locator(".review-group-head").first).to_contain_text(
            "your ratings put it first"
        )

        # Space: the large view; + zooms; arrows step to the next candidate; Esc comes back.
        page.keyboard.press("Space")
        lightbox = page.locator("#review-lightbox")
        expect(lightbox).to_be_visible()
        expect(lightbox.locator("[data-zoom-level]")).to_have_text("fitted")
        image = lightbox.locator("[data-lightbox-image]").bounding_box()
        stage = lightbox.locator("[data-stage]").bounding_box()
        assert image["height"] <= stage["height"] + 1 and image["width"] <= stage["width"] + 1
        page.keyboard.press("+")
        expect(lightbox.locator("[data-zoom-level]")).to_have_text("125% of fitted")
        page.keyboard.press("Escape")
        expect(lightbox).to_be_hidden()
        assert _focused_candidate(page) == best

        # s: compare with the source, by the slider (the keyboard moves it).
        page.keyboard.press("s")
        compare = page.locator("#review-compare")
        expect(compare).to_be_visible()
        slider = compare.get_by_label("Slider: left shows source", exact=False)
        expect(slider).to_be_focused()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        expect(slider).to_have_value("55")
        split = compare.locator("[data-compare-view]").evaluate(
            "view => view.style.getPropertyValue('--split')"
        )
        assert split == "55%"
        page.keyboard.press("Escape")
        expect(compare).to_be_hidden()

        # Enter: use the best one for its panel.
        assert _focused_candidate(page) == best
        page.keyboard.press("Enter")
        expect(page.locator(f"#cand-{best}")).to_have_class(re.compile(r"\bis-selected\b"))
        expect(page.locator(f"#cand-{first}")).not_to_have_class(re.compile(r"\bis-selected\b"))
        assert _focused_candidate(page) == best
        selected = "SELECT id FROM pipeline_runcandidate WHERE selected AND job_id = "
        selected += "(SELECT job_id FROM pipeline_runcandidate WHERE id = ?)"
        assert _rows(db, selected, best) == [(best,)]

        # v: vary from it, with an edited prompt; plan it, run it.
        page.keyboard.press("v")
        expect(page.get_by_text("Filled in from run")).to_be_visible()
        prompt = page.get_by_label("Prompt")
        prompt.focus()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(EDITED)
        page.get_by_role("button", name="Plan dry run").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_text("This is a plan.")).to_be_visible()
        expect(page.locator(".plan-prompt p")).to_have_text(EDITED)
        page.get_by_role("button", name="Run it").focus()
        page.keyboard.press("Enter")
        expect(page.locator(".badge-status.status-done").first).to_be_visible(timeout=60_000)
        job = _rows(
            db,
            "SELECT j.input_asset_id, j.prompt, j.panel_id FROM pipeline_runjob j "
            "JOIN pipeline_run r ON r.id = j.run_id WHERE r.mode = 'run' AND r.uid != ?",
            uid,
        )
        chosen = _rows(db, "SELECT asset_id FROM pipeline_runcandidate WHERE id = ?", best)
        assert [(j[0], j[1]) for j in job] == [
            (chosen[0][0], "Same harbour, heavier ink and rain.")
        ]

        # The panel's version tree: the variation nested under the candidate it started from.
        page.goto(f"{base}/projects/demo/story/panels/{job[0][2]}/")
        tree = page.locator(".version-tree")
        expect(tree.locator(":scope > li")).to_have_count(1)
        expect(tree.locator("ol .version-node")).to_have_count(1)
        expect(tree.locator("ol .version-node")).to_contain_text("current style pick")
        assert errors == []
        browser.close()
