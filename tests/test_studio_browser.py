"""A new artist directs a five-panel page from the browser alone: script, cast, outfit, style
lock, sizes, plan, run (the real web server and django-q2 worker, the fake OpenAI server) and
a pick of a failed candidate with "use anyway". Debian chromium driven by Playwright."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.fake_openai import FakeOpenAI
from tests.processes import manage, served
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

SCRIPT = """PAGE 2
PANEL 1: Wide shot of the flooded market at dawn, boats tied to lamp posts.
PANEL 2: Mara climbs onto a rooftop, her coat dripping.
PANEL 3: Inès reads a brass compass, frowning.
PANEL 4: Mara hands Inès the map as the rain starts.
PANEL 5: Close-up: the compass needle spins.
"""
SETUP = """
from projects.models import Project
demo = Project.objects.get(slug="demo")
off = {"enabled": False}
demo.manifest_overrides = {
    "generation": {"retry_base_s": 0.05, "timeout_s": 20},
    "postprocess": {step: off for step in ("bg_remove", "refine", "upscale", "color")},
}
demo.save()
"""


@pytest.fixture
def studio(tmp_path):
    """The app as `./kroma.sh up` runs it (web + worker, single-user, the demo project),
    talking to the fake OpenAI server."""
    fake = FakeOpenAI().start()
    env = {
        **os.environ,
        "KROMA_VAR_DIR": str(tmp_path),
        "KROMA_SINGLE_USER": "1",
        "KROMA_PRELOAD_MODELS": "0",
        "OPENAI_API_KEY": "sk-test-fake-key-0000",
        "OPENAI_BASE_URL": fake.base_url,
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
        OPENAI_API_KEY=env["OPENAI_API_KEY"],
        OPENAI_BASE_URL=fake.base_url,
    ) as port:
        yield f"http://127.0.0.1:{port}", fake, tmp_path / "kroma.sqlite3"
    fake.stop()


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=20) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.browser
@pytest.mark.slow
def test_a_new_artist_directs_a_five_panel_page_from_the_browser(studio, tmp_path):
    base, fake, db = studio
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )

        # 1. The script: five panels on a new page; the characters it names join the casts.
        page.goto(f"{base}/projects/demo/story/")
        page.click("text=Paste a script")
        page.fill("textarea[name=script]", SCRIPT)
        page.click("button:has-text('Add panels')")
        expect(page.locator(".flash")).to_contain_text("Added 5 panels.")
        page_two = page.locator(".story-page", has_text="Page 2")
        expect(page_two.locator(".panel-card")).to_have_count(5)
        expect(page_two.locator(".panel-card").nth(3).locator(".cast-chips")).to_contain_text(
            "Mara Quell"
        )

        # 2. One panel gets an outfit, a pose and a wide shape.
        page_two.locator(".panel-card").nth(1).get_by_role("link", name="Edit", exact=True).click()
        page.select_option("select[name=aspect]", "landscape")
        mara = page.locator(".cast-row", has_text="Mara Quell")
        expect(mara.locator("input[type=checkbox]")).to_be_checked()
        mara.locator("select").select_option(label="Teal coat")
        mara.locator("input[name$=_pose]").fill("climbing, one hand on the gutter")
        page.click("button:has-text('Save panel')")
        expect(page.locator(".flash")).to_contain_text("Saved")

        # 3. The style is locked, and then its rules cannot change.
        page.goto(f"{base}/projects/demo/style/")
        page.click(".guide-actions button:has-text('Lock')")
        expect(page.locator(".style-guide .badge-status")).to_have_text("locked")
        expect(page.locator(".style-guide textarea[name=rules]")).to_be_disabled()
        token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
        refused = page.request.post(
            f"{base}/projects/demo/style/ink-noir/edit/",
            form={
                "csrfmiddlewaretoken": token,
                "name": "Ink noir",
                "rules": "Pastel watercolour.",
            },
            headers={"Referer": f"{base}/projects/demo/style/"},
        )
        assert refused.status == 400 and "locked" in refused.text()
        assert _rows(db, "select rules from projects_styleguide")[0][0].startswith("Cross-hatched")

        # 4. The plan: each job's input, references, prompt and size.
        page.goto(f"{base}/projects/demo/runs/new/")
        page.check("input[value=characters]")
        page.select_option("select[name=page]", label="Chapter 1 · Page 2")
        page.select_option("select[name=provider]", "openai")
        page.fill("input[name=candidates]", "1")
        page.click("text=Plan dry run")
        errors = page.locator(".form-error, .field-error")
        assert errors.count() == 0, errors.all_inner_texts()
        expect(page.locator(".confirm-card")).to_contain_text("This is a plan.")
        jobs = page.locator(".plan-job")
        expect(jobs).to_have_count(3)  # the characters stage: only the panels with a cast
        expect(page.locator(".confirm-card")).to_contain_text("Left out (no cast)")
        expect(jobs.nth(0)).to_contain_text("1536x1024")
        expect(jobs.nth(0)).to_contain_text("Mara climbs onto a rooftop, her coat dripping.")
        expect(jobs.nth(0)).to_contain_text("Wears Teal coat")
        expect(jobs.nth(0)).to_contain_text("Pose: climbing, one hand on the gutter.")
        expect(jobs.nth(1)).to_contain_text("1024x1024")
        expect(jobs.nth(1)).to_contain_text("Inès reads a brass compass, frowning.")
        assert "Mara" not in jobs.nth(1).locator(".plan-prompt").inner_text()
        page.screenshot(path=str(tmp_path / "plan.png"), full_page=True, caret="initial")

        # 5. The run, by the worker, against an OpenAI that answers at the wrong size.
        fake.answer_size = "64x64"
        page.click("[data-element-id=btn-confirm-run]")
        expect(page.locator("#run-live .stat-card .badge-status")).to_have_text(
            "failed", timeout=90_000
        )
        sent = [call.fields for call in fake.calls]
        assert len(sent) == 3
        assert sorted(f["size"] for f in sent) == ["1024x1024", "1024x1024", "1536x1024"]
        assert all("Panel: " in f["prompt"] for f in sent)
        assert any("Inès reads a brass compass" in f["prompt"] for f in sent)

        # 6. Every candidate failed QA (size 64x64); the artist uses one anyway, with a reason.
        page.locator("summary:has-text('Use anyway')").first.click()
        page.locator("input[name=reason]").first.fill("The layout is what I need; I'll upscale.")
        page.locator("button:has-text('Use anyway')").first.click()
        expect(page.locator(".used-anyway").first).to_contain_text("used anyway")
        page.screenshot(path=str(tmp_path / "run.png"), full_page=True, caret="initial")
        browser.close()
    picked = _rows(
        db, "select override_reason from pipeline_runcandidate where selected and passed = 0"
    )
    assert picked == [("The layout is what I need; I'll upscale.",)]
    assert violations == []
