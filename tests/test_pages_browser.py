"""An artist lays out a page and exports it as a CBZ and a PDF from the browser: the real web
server and django-q2 worker, Debian chromium driven by Playwright; the files are read back."""

from __future__ import annotations

import io
import os
import zipfile
from xml.etree import ElementTree as ET

import pytest
from playwright.sync_api import expect, sync_playwright
from pypdf import PdfReader

from tests.processes import manage, served
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS


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
    with served(
        tmp_path,
        "--web-workers",
        "1",
        worker=True,
        **{k: env[k] for k in ("KROMA_SINGLE_USER", "KROMA_PRELOAD_MODELS")},
    ) as port:
        yield f"http://127.0.0.1:{port}"


def _export(page, kind: str, **fields: str) -> bytes:
    """Request an export from the form, wait for the worker, download it."""
    form = page.locator(".export-form")
    form.get_by_label("Kind").select_option(kind)
    for label, value in fields.items():
        control = form.locator(f"[name={label}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Export").click()
    expect(page.locator(".export-form .note")).to_contain_text("queued")
    row = page.locator(".export-row").first
    expect(row.locator(".badge-status")).to_have_text("done", timeout=90_000)
    link = row.get_by_role("link", name="Download")
    expect(link).to_contain_text(f".{kind}")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("demo_pages_")
    with open(download.value.path(), "rb") as fh:
        return fh.read()


@pytest.mark.browser
@pytest.mark.slow
def test_an_artist_lays_out_a_page_and_exports_a_cbz_and_a_pdf(studio):
    base = studio
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{base}/projects/demo/pages/")
        card = page.locator(".page-card").first
        expect(card.locator(".frame-line")).to_have_count(3)  # auto: three tiers

        # 1. A preset: the 2 x 3 grid, saved and redrawn (three panels, three empty frames).
        card.get_by_label("Layout").select_option("grid2x3")
        expect(card.locator(".frame-line")).to_have_count(6)
        expect(card.locator("image")).to_have_count(3)

        # 2. Gutters: the preview follows the typed value before it is saved, then it is saved.
        first = card.locator("svg svg").nth(1)
        before = first.get_attribute("x")
        page.get_by_label("Gutter (mm)").fill("10")
        expect(page.locator("#page-previews")).to_contain_text("Preview with unsaved settings.")
        expect(page.locator(".page-card svg svg").nth(1)).not_to_have_attribute("x", before)
        page.get_by_label("Gutter (mm)").fill("99")
        expect(page.locator("#page-previews .form-error")).to_contain_text("from 0 to 30")
        page.get_by_label("Gutter (mm)").fill("6")
        page.get_by_role("button", name="Save page settings").click()
        expect(page.locator(".page-settings .note")).to_have_text("Page settings saved.")
        page.reload()
        expect(page.get_by_label("Gutter (mm)")).to_have_value("6.0")
        expect(page.locator(".page-card").first.get_by_label("Layout")).to_have_value("grid2x3")

        # 3. A CBZ: a zip with the page and a ComicInfo.xml, pages in order.
        data = _export(page, "cbz", dpi="72")
        archive = zipfile.ZipFile(io.BytesIO(data))
        assert archive.namelist() == ["page-001.jpg", "ComicInfo.xml"]
        info = ET.fromstring(archive.read("ComicInfo.xml"))
        assert info.findtext("PageCount") == "1"
        assert info.findtext("Title") == info.findtext("Series") != ""

        # 4. A PDF at A4 and 100 dpi with 3 mm bleed: one page of 216 x 303 mm.
        data = _export(page, "pdf", page_size="a4", dpi="100", bleed_mm="3")
        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) == 1
        box = reader.pages[0].mediabox
        assert float(box.width) == pytest.approx(216 / 25.4 * 72, abs=1)
        assert float(box.height) == pytest.approx(303 / 25.4 * 72, abs=1)
        expect(page.locator(".export-row")).to_have_count(2)
        assert violations == []
        browser.close()
