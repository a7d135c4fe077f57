"""Drag-and-drop upload on the asset browser in Debian chromium (Playwright), against the real
web server: three files dropped at once, each with its own progress bar; the bad one is
reported by name, the two good ones are stored and appear in the grid without a reload."""

from __future__ import annotations

import base64
import io
import os
import sqlite3

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.processes import manage, served
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

DROP = """
([files, selector]) => {
  const data = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], name, { type }));
  }
  const zone = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    const options = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(kind, options));
  }
}
"""
WATCH = """
() => {
  window.progressSeen = {};
  new MutationObserver(() => {
    document.querySelectorAll("#upload-list progress").forEach((bar) => {
      const name = bar.getAttribute("aria-label");
      window.progressSeen[name] = Math.max(window.progressSeen[name] || 0, bar.value);
    });
  }).observe(document.getElementById("upload-list"), {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), "teal").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def app(tmp_path):
    env = {**os.environ, "KROMA_VAR_DIR": str(tmp_path), "KROMA_SINGLE_USER": "1"}
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(env, "kroma_seed", "--with-default-user", "--demo")
    with served(tmp_path, "--web-workers", "1", KROMA_SINGLE_USER="1") as port:
        yield f"http://127.0.0.1:{port}", tmp_path / "kroma.sqlite3"


def _uploads(db) -> list[tuple]:
    with sqlite3.connect(db, timeout=20) as conn:
        return conn.execute(
            "SELECT title, mime FROM projects_asset WHERE kind = 'upload' ORDER BY title"
        ).fetchall()


@pytest.mark.browser
def test_drag_and_drop_upload_shows_progress_keeps_good_files_and_names_the_bad_one(app):
    base, db = app
    big = _noise_png(900, 700)  # ~1.9 MB: the browser reports its upload progress
    files = [
        ["harbor.png", "image/png", _b64(big)],
        ["notes.png", "image/png", _b64(b"these are notes, not a picture\n" * 20)],
        ["scan.png", "image/png", _b64(_jpeg())],  # a JPEG named .png: kept, with a note
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/projects/demo/assets/")
        before = page.locator('#bulk-form input[name="assets"]').count()
        page.evaluate(WATCH)
        page.evaluate(DROP, [files, "[data-drop-zone]"])
        items = page.locator("#upload-list .upload-item")
        expect(page.locator("#upload-list .upload-ok")).to_have_count(2, timeout=20_000)
        bad = page.locator("#upload-list .upload-bad")
        expect(bad).to_have_count(1)
        expect(bad).to_contain_text("notes.png is not an image Kroma can read")
        expect(bad).to_have_attribute("role", "alert")
        expect(page.locator("#upload-list .upload-note")).to_contain_text(
            "scan.png is a JPEG image although its name ends in .png; it is stored as JPEG."
        )
        assert items.count() == 4
        seen = page.evaluate("window.progressSeen")
        assert set(seen) == {f"Upload of {name}" for name, _, _ in files}
        assert seen["Upload of harbor.png"] > 0
        # The grid shows the new images without a reload; the page has no script errors.
        expect(page.locator('#bulk-form input[name="assets"]')).to_have_count(before + 2)
        # Keyboard: a tile's link opens the detail beside the grid and the focus moves to it.
        page.locator(".tile-open").first.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#asset-detail-card")).to_be_focused()
        expect(page.locator("#asset-detail-card")).to_contain_text("Download")
        assert errors == []
        browser.close()
    assert _uploads(db) == [("harbor.png", "image/png"), ("scan.png", "image/jpeg")]
