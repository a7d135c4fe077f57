"""Heavy model sessions: warmed in a worker's background thread, loaded once, waits shown."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from kroma.lib.weights import find_model
from pipeline import engine
from pipeline.models import LabJob, PostprocessJob, Run
from pipeline.postprocess import bg_remove, sessions, upscale
from pipeline.postprocess.config import load_postprocess
from pipeline.postprocess.pixels import decode
from pipeline.services.lab import create_lab_job, process_lab_job
from tests.conftest import FAST_RETRIES, local_run

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
CAR = TESTDATA / "rembg-examples" / "car-1.jpg"
BG_WAIT = "loading the background-removal model…"
UPSCALE_WAIT = "loading the upscale model…"


@pytest.fixture
def no_sessions(monkeypatch):
    """This test starts in a process that holds no session yet (other tests loaded some)."""
    monkeypatch.setattr(sessions, "_sessions", {})
    monkeypatch.setattr(sessions, "_loading", {})


@dataclasses.dataclass
class HeldLoad:
    gate: threading.Event  # set it to let the load go on
    entered: threading.Event  # set once the load has started
    threads: list[str]  # the thread of each load


@pytest.fixture
def hold_load(monkeypatch) -> Callable[[str], HeldLoad]:
    """The real loader of a kind, held at a gate the test opens: a real slow load."""
    held: list[HeldLoad] = []

    def hold(kind: str) -> HeldLoad:
        real = sessions._kinds[kind]
        load = HeldLoad(threading.Event(), threading.Event(), [])

        def held_load(key):
            load.threads.append(threading.current_thread().name)
            load.entered.set()
            load.gate.wait(120)
            return real.load(key)

        monkeypatch.setitem(sessions._kinds, kind, dataclasses.replace(real, load=held_load))
        held.append(load)
        return load

    yield hold
    for load in held:  # never leave a thread waiting
        load.gate.set()


def _watch_page(client: Client, url: Callable[[], str | None], text: str, then: threading.Event):
    """A browser polling a page in another thread: records the page once it shows `text`,
    then opens `then`. Gives up (and opens it) after two minutes so a failure cannot hang."""
    seen: list[str] = []

    def watch() -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                address = url()
                page = client.get(address).content.decode() if address else ""
                if text in page:
                    seen.append(page)
                    return
                time.sleep(0.05)
        finally:
            then.set()
            connection.close()

    thread = threading.Thread(target=watch, name="watcher")
    thread.start()
    return thread, seen


def test_a_worker_warms_the_sessions_in_the_background_and_steps_reuse_them(
    settings, no_sessions, caplog
):
    settings.PRELOAD_MODELS = True
    caplog.set_level(logging.INFO, logger="pipeline.postprocess.sessions")
    thread = sessions.preload_sessions()
    assert thread is not None and thread is not threading.current_thread()
    thread.join()
    ready = [r for r in caplog.records if "is ready" in r.getMessage()]
    assert sorted(r.getMessage().split(" model is ready")[0] for r in ready) == [
        "model preload: the background-removal",
        "model preload: the upscale",
    ]
    assert {r.threadName for r in ready} == {"kroma-preload"}
    cutter = sessions.loaded_sessions("bg_remove")["u2netp"]
    upscale_key = (str(find_model("realesr-animevideov3.onnx")), 0)
    upscaler = sessions.loaded_sessions("upscale")[upscale_key]

    bg_remove.remove_with_rembg(CAR.read_bytes(), model="u2netp", alpha_matting=False)
    params = load_postprocess(None)["upscale"]
    upscale.upscale(decode((TESTDATA / "esrgan-inputs" / "0014.jpg").read_bytes()), params)

    assert sessions.loaded_sessions("bg_remove") == {"u2netp": cutter}
    assert sessions.loaded_sessions("upscale") == {upscale_key: upscaler}
    assert bg_remove.session_for("u2netp") is cutter


def test_preload_off_loads_nothing(settings, no_sessions, caplog):
    settings.PRELOAD_MODELS = False
    caplog.set_level(logging.INFO, logger="pipeline.postprocess.sessions")
    assert sessions.preload_sessions() is None
    assert sessions._sessions == {}
    assert "KROMA_PRELOAD_MODELS is off" in caplog.text
    assert "kroma-preload" not in {t.name for t in threading.enumerate()}


def test_preload_skips_missing_model_files_with_a_clear_line(
    settings, no_sessions, caplog, tmp_path
):
    settings.PRELOAD_MODELS = True
    settings.MODELS_DIR = tmp_path / "models"
    settings.BUNDLED_WEIGHTS_DIR = tmp_path / "weights"
    caplog.set_level(logging.INFO, logger="pipeline.postprocess.sessions")
    sessions.preload_sessions().join()
    assert sessions._sessions == {}
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "model preload: background-removal model not loaded: Model file 'u2netp.onnx' not found"
    )
    assert warnings[1].startswith(
        "model preload: upscale model not loaded: Model file 'realesr-animevideov3.onnx' not found"
    )
    assert all(str(settings.MODELS_DIR) in w for w in warnings)


@pytest.mark.django_db
def test_a_step_waiting_for_a_model_shows_it_as_its_step_until_the_model_is_there(
    user, no_sessions, monkeypatch
):
    item = LabJob.objects.create(user=user, operation="color", params={"profile": "neutral"})
    seen: dict[str, str] = {}

    def load(key: str) -> object:
        shown = LabJob.objects.get(pk=item.pk)
        seen["step while loading"], seen["words"] = shown.step, shown.waiting_for
        return object()

    monkeypatch.setitem(sessions._kinds, "test-model", sessions.SessionKind("test", load))

    def work(ctx) -> None:
        first = sessions.model_session("test-model", "k")
        seen["step after"] = LabJob.objects.get(pk=item.pk).step
        assert sessions.model_session("test-model", "k") is first

    kind = engine.WorkType(
        name="test_item", model=LabJob, steps=lambda: [engine.FnStep("work", work)]
    )
    assert engine.work_through(kind, LabJob.objects.filter(pk=item.pk)) == 1
    item.refresh_from_db()
    assert item.status == "done"
    assert seen == {
        "step while loading": "model:test-model",
        "words": "loading the test model…",
        "step after": "work",
    }


@pytest.mark.django_db(transaction=True)
def test_a_lab_job_that_needs_the_model_while_the_warm_up_loads_it_waits_and_says_so(
    settings, no_sessions, hold_load, user, tmp_path
):
    settings.PRELOAD_MODELS = True
    settings.SCRATCH_ROOT = tmp_path / "scratch"
    load = hold_load("bg_remove")
    warm_up = sessions.preload_sessions()
    assert load.entered.wait(60)
    job = create_lab_job(
        user=user, operation="bg_remove", params={}, files=[("car.jpg", CAR.read_bytes())]
    )
    browser = Client()
    browser.force_login(user)
    url = reverse("pipeline:lab_job", args=[job.pk])
    watcher, seen = _watch_page(browser, lambda: url, BG_WAIT, then=load.gate)

    done = process_lab_job(str(job.pk))  # waits for the warm-up's load, then works
    watcher.join()
    warm_up.join()

    assert len(seen) == 1
    assert "0 of 1 done · loading the background-removal model…" in seen[0]
    assert done.status == "done" and done.step == "done"
    assert load.threads == ["kroma-preload"]  # loaded once, by the warm-up, not again
    page = browser.get(url).content.decode()
    assert BG_WAIT not in page and "Download" in page


@pytest.mark.django_db(transaction=True)
def test_a_run_job_waiting_for_the_upscale_model_says_so_on_the_run_page(
    no_sessions, hold_load, scene_project, user
):
    # The default chain (upscale x2, colour) instead of the fixture's none.
    scene_project.manifest_overrides = {k: v for k, v in FAST_RETRIES.items() if k != "postprocess"}
    scene_project.save()
    load = hold_load("upscale")
    browser = Client()
    browser.force_login(user)

    def run_page() -> str | None:
        run = Run.objects.filter(project=scene_project).first()
        return reverse("pipeline:run_detail", args=[scene_project.slug, run.uid]) if run else None

    watcher, seen = _watch_page(browser, run_page, UPSCALE_WAIT, then=load.gate)
    # Inline: the job runs here; "auto" keeps the 96x64 base image's size.
    run = local_run(scene_project, user, panels=["harbor"], candidates=1, size="auto")
    watcher.join()

    assert len(seen) == 1
    assert f'<span class="muted small">{UPSCALE_WAIT}</span>' in seen[0]
    run.refresh_from_db()
    job = run.jobs.get()
    assert (run.status, job.status, job.step) == ("done", "done", "done")
    assert load.threads == ["MainThread"]
    assert UPSCALE_WAIT not in browser.get(run_page()).content.decode()


@pytest.mark.django_db
def test_the_run_page_says_when_a_new_picks_pass_waits_for_a_model(
    artist_client, scene_project, user
):
    run = local_run(scene_project, user, panels=["harbor"], candidates=1, dispatch="none")
    job = run.jobs.get()
    PostprocessJob.objects.create(
        project=scene_project, run=run, job=job, status="running", step="model:upscale"
    )
    page = artist_client.get(
        reverse("pipeline:run_detail", args=[scene_project.slug, run.uid])
    ).content.decode()
    assert f"post-processing the new pick… {UPSCALE_WAIT}" in page
