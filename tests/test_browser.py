"""The dashboard in a real browser: Debian chromium driven by Playwright."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from projects.models import Project

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls in this test are
    # ordinary synchronous ones, made between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 860})
        yield page
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_create_project_through_the_ui_and_see_it_on_the_dashboard(
    live_server, browser_page, user, tmp_path
):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Welcome to Kroma")).to_be_visible()

    # The sidebar's "+ New Project" opens the form in place; a bad slug is refused inline.
    page.click("text=+ New Project")
    sidebar_form = page.locator("#new-project-slot form")
    sidebar_form.locator("input[name=name]").fill("Noir City")
    sidebar_form.locator("input[name=slug]").fill("Bad Slug!")
    sidebar_form.locator("button[type=submit]").click()
    expect(page.locator("#new-project-slot .field-error")).to_contain_text("lowercase letters")
    assert Project.objects.count() == 0
    # The re-rendered form puts the cursor in the field that needs fixing.
    slug_input = page.locator("#new-project-slot input[name=slug]")
    expect(slug_input).to_be_focused()
    slug_input.fill("")
    page.locator("#new-project-slot button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/projects/noir_city/")
    expect(page.get_by_role("heading", name="Noir City")).to_be_visible()
    expect(page.locator(".sidebar .proj-item.active")).to_contain_text("Noir City")
    expect(page.locator(".stat-card")).to_have_count(4)
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000

    page.click("text=Universe overview")
    page.click("#story >> text=Edit")
    page.fill("#id_logline", "Rain never stops.")
    page.click("#story >> text=Save")
    expect(page.locator("#story")).to_contain_text("Rain never stops.")
    page.screenshot(path=str(tmp_path / "universe.png"), full_page=True)
    assert Project.objects.get(slug="noir_city").logline == "Rain never stops."


def _login(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_plan_confirm_and_watch_a_run_in_the_browser(
    live_server, browser_page, scene_project, tmp_path
):
    from pipeline.models import Run
    from pipeline.tasks import execute_run_task

    page = browser_page
    _login(page, live_server)
    page.click("text=+ New Run")
    page.check("input[value=style]")
    page.select_option("select[name=provider]", "local")
    page.fill("input[name=candidates]", "2")
    page.click("text=Plan dry run")
    expect(page.locator(".confirm-card")).to_contain_text("This is a plan.")
    page.click("[data-element-id=btn-confirm-run]")
    expect(page.locator(".badge-status.status-queued").first).to_be_visible()
    run = Run.objects.get(mode="run")
    execute_run_task(run.pk)  # what the worker does with the queued task
    expect(page.locator("#run-live .stat-card .badge-status")).to_have_text("done", timeout=10_000)
    expect(page.locator(".cand.selected")).to_have_count(3)
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_lab_upload_compare_and_save_in_the_browser(
    live_server, browser_page, project, settings, tmp_path
):
    from pathlib import Path

    from pipeline.models import LabJob
    from pipeline.tasks import lab_task

    settings.SCRATCH_ROOT = tmp_path / "scratch"
    inputs = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "esrgan-inputs"
    page = browser_page
    _login(page, live_server)
    page.click("text=Lab")
    page.check("input[value=color]")
    expect(page.locator("select[name=profile]")).to_be_visible()
    expect(page.locator("select[name=scale]")).to_be_hidden()
    page.select_option("select[name=profile]", "cold_rain")
    page.set_input_files(
        "input[name=images]", [str(inputs / "0014.jpg"), str(inputs / "wolf_gray.jpg")]
    )
    page.click("text=Start")
    expect(page.locator(".compare")).to_have_count(2)
    lab_task(str(LabJob.objects.get().pk))  # what the worker does with the queued task
    expect(page.locator("#lab-live .badge-status")).to_have_text("done", timeout=10_000)
    expect(page.locator("text=Download")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)
    page.click("text=Save to project")
    expect(page.locator(".flash")).to_contain_text("Saved 2 new image(s) to Noir City")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_renders_without_a_csp_violation(
    live_server, browser_page, django_user_model, scene_project, user
):
    from pipeline.models import LabJob
    from tests.conftest import local_run

    run = local_run(scene_project, user, panels=["harbor"], candidates=2)
    plan = local_run(scene_project, user, mode="dry")
    lab_job = LabJob.objects.create(user=user, operation="color", params={"profile": "neutral"})
    user.is_staff = user.is_superuser = True
    user.save()
    page = browser_page
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "pw-artist-123")
    page.click("button[type=submit]")
    slug = scene_project.slug
    pages = [
        "/projects/",
        f"/projects/{slug}/",
        f"/projects/{slug}/universe/",
        f"/projects/{slug}/assets/",
        f"/projects/{slug}/runs/new/",
        f"/projects/{slug}/runs/{plan.uid}/",
        f"/projects/{slug}/runs/{run.uid}/",
        "/lab/",
        f"/lab/{lab_job.pk}/",
        "/admin/",
        "/admin/projects/project/",
        f"/admin/projects/project/{scene_project.pk}/change/",
        "/admin/projects/styleguide/",
        "/admin/projects/projectsecret/add/",
        "/admin/pipeline/run/",
        "/admin/pipeline/steprun/",
    ]
    for path in pages:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    assert violations == []
