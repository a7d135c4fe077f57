"""API tokens on the Settings page in a real browser: made, copied and revoked from the keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects.models import ApiToken
from projects.services.tokens import authenticate
from tests import test_browser

browser_page = test_browser.browser_page  # the suite's chromium fixture


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_token_is_made_copied_and_revoked_with_the_keyboard(live_server, browser_page, project):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 860})
    test_browser._login(page, live_server)
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/#tokens")
    page.focus("#id_token-name")
    page.keyboard.type("nightly export")
    page.keyboard.press("Tab")
    page.keyboard.type("7")
    page.focus("#id_token-access_0")
    page.keyboard.press("ArrowDown")  # read and write
    page.keyboard.press("Enter")  # submits the form
    plaintext_box = page.locator("#token-plaintext")
    expect(plaintext_box).to_be_focused()
    plaintext = plaintext_box.input_value()
    token = authenticate(plaintext)
    assert token.scopes == ["read", "write"] and token.project_id == project.pk
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-copy-status]")).to_contain_text("Cop")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.reload()
    assert plaintext not in page.content()
    page.get_by_role("button", name=f"Revoke nightly export ({token.prefix})").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Revoke", exact=True)
    expect(confirm).to_be_visible()
    confirm.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tokens .saved-note")).to_contain_text("revoked")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
