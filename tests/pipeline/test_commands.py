from __future__ import annotations

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from pipeline.models import Run
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.django_db(transaction=True)


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_kroma_run_is_dry_by_default_and_spends_nothing(scene_project, fake_openai):
    out = _call("kroma_run", "--project", "noir_city", "--stage", "style", "--candidates", "2")
    assert "2 candidates x 3 panels" in out
    assert "Nothing was spent." in out
    assert Run.objects.get().mode == "dry"
    assert fake_openai.calls == []


def test_kroma_run_refusal_is_a_command_error_with_the_reason(scene_project, fake_openai):
    with pytest.raises(CommandError, match="Confirm the spend"):
        call_command(
            "kroma_run",
            "--project",
            "noir_city",
            "--stage",
            "style",
            "--inline",
            "--provider",
            "openai",
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="needs a locked style"):
        call_command(
            "kroma_run", "--project", "noir_city", "--stage", "characters", stdout=StringIO()
        )
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("kroma_run", "--project", "nope", "--stage", "style", stdout=StringIO())
    assert fake_openai.calls == []


def test_kroma_run_confirmed_inline_prints_progress_and_a_summary(scene_project, fake_openai):
    out = _call(
        "kroma_run",
        "--project",
        "noir_city",
        "--stage",
        "style",
        "--candidates",
        "2",
        "--confirm-spend",
        "--inline",
    )
    run = Run.objects.get()
    assert "3/3 jobs" in out
    assert "harbor" in out and "2/2" in out
    assert f"Run {run.uid}: done" in out
    assert run.status == "done"


def test_kroma_run_exits_non_zero_when_the_run_fails(scene_project, fake_openai):
    scene_project.manifest_overrides = {**FAST_RETRIES, "output_guard": {"enforce_grayscale": True}}
    scene_project.save()
    fake_openai.colour_specks_for = {0}
    with pytest.raises(CommandError, match="ended failed"):
        call_command(
            "kroma_run",
            "--project",
            "noir_city",
            "--stage",
            "style",
            "--candidates",
            "1",
            "--confirm-spend",
            "--inline",
            stdout=StringIO(),
        )


def test_kroma_run_replay_plans_the_same_run_again_dry(scene_project, fake_openai):
    _call(
        "kroma_run",
        "--project",
        "noir_city",
        "--stage",
        "style",
        "--scenes",
        "alley",
        "harbor",
        "--candidates",
        "2",
        "--confirm-spend",
        "--inline",
    )
    original = Run.objects.get()
    log = settings.PROJECTS_ROOT / "noir_city" / original.log_path
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "generation": {"quality": "high"},
    }  # edited since
    scene_project.save()
    out = _call("kroma_run", "--replay", str(log))
    replay = Run.objects.exclude(pk=original.pk).get()
    assert "Nothing was spent." in out
    assert (replay.mode, replay.stage, replay.candidates_per_job) == ("dry", "style", 2)
    assert list(replay.jobs.values_list("scene_key", flat=True)) == ["harbor", "alley"]
    assert replay.manifest_hash == original.manifest_hash
    assert len(fake_openai.calls) == 2  # the replay called nothing


def test_kroma_run_replay_of_a_broken_log_says_what_is_wrong(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match=r"not valid JSON \(line 1"):
        call_command("kroma_run", "--replay", str(bad), stdout=StringIO())


def test_kroma_ingest_is_idempotent_and_reports_bad_files(scene_project, fake_openai, tmp_path):
    _call(
        "kroma_run",
        "--project",
        "noir_city",
        "--stage",
        "style",
        "--candidates",
        "1",
        "--confirm-spend",
        "--inline",
    )
    run = Run.objects.get()
    log = settings.PROJECTS_ROOT / "noir_city" / run.log_path
    data = json.loads(log.read_text())
    run.delete()
    assert "1 ingested, 0 already known" in _call("kroma_ingest", str(log))
    assert "0 ingested, 1 already known" in _call("kroma_ingest", str(log.parent.parent))
    assert Run.objects.get().uid == data["run"]["uid"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(CommandError, match="1 log"):
        call_command("kroma_ingest", str(other), stdout=StringIO(), stderr=StringIO())
