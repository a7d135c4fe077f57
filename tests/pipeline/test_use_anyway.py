"""QA that serves the artist: answers of the wrong size fail, and a candidate that failed QA can
be used anyway with a reason (service, run page, run log)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kroma.lib.errors import UserError
from pipeline.models import Run, RunCandidate, RunJob
from pipeline.runlog import build_run_log, ingest_run_log
from pipeline.services.postprocess import run_pass
from pipeline.services.runs import override_selection, submit_run
from projects.models import AuditEvent
from tests.conftest import FAST_RETRIES, NO_POSTPROCESS, local_run

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "Flat on purpose: the fog panel."


@pytest.fixture
def failed_run(scene_project, user) -> Run:
    """A local run in which every candidate fails QA (as blank), with colour post-processing."""
    scene_project.manifest_overrides = {
        **FAST_RETRIES,
        "output_guard": {"min_std": 128},
        "postprocess": {**NO_POSTPROCESS, "color": {"enabled": True, "profile": "cold_rain"}},
    }
    scene_project.save()
    run = local_run(scene_project, user, candidates=2)
    assert run.status == "failed"
    return run


def _failed_candidate(run: Run) -> RunCandidate:
    candidate = RunCandidate.objects.get(job__run=run, job__index=0, index=1)
    assert (candidate.passed, candidate.archived, candidate.selected) == (False, True, False)
    return candidate


def test_a_failed_candidate_without_a_reason_is_refused_at_the_reason_field(failed_run, user):
    candidate = _failed_candidate(failed_run)
    for reason in ("", "   "):
        with pytest.raises(UserError) as refused:
            override_selection(candidate=candidate, user=user, reason=reason)
        assert (refused.value.code, refused.value.field) == ("reason_required", "reason")
        assert "c1 failed QA (blank image: luminance std" in refused.value.message
    with pytest.raises(UserError) as too_long:
        override_selection(candidate=candidate, user=user, reason="x" * 301)
    assert (too_long.value.code, too_long.value.field) == ("reason_too_long", "reason")
    assert not RunCandidate.objects.filter(job__run=failed_run, selected=True).exists()
    assert not AuditEvent.objects.filter(action="run.selection_overridden").exists()
    assert RunJob.objects.get(run=failed_run, index=0).status == "failed"


def test_a_failed_candidate_used_anyway_is_picked_audited_and_post_processed(failed_run, user):
    candidate = _failed_candidate(failed_run)
    picked = override_selection(candidate=candidate, user=user, reason=f"  {REASON} ")
    assert picked.selected and picked.override_reason == REASON
    assert picked.overridden_by == user and picked.overridden_at is not None
    job = RunJob.objects.get(pk=candidate.job_id)
    assert (job.status, job.error, job.error_code) == ("done", "", "")
    run = Run.objects.get(pk=failed_run.pk)
    assert run.status == "partial"  # one scene has an output now; the other two still failed
    event = AuditEvent.objects.get(action="run.selection_overridden", actor=user)
    assert event.target == f"{run.uid}#0"
    assert event.data == {
        "by": "artist",
        "from": None,
        "to": 1,
        "reason": REASON,
        "failed_qa": True,
    }

    run_pass(job.postprocess_jobs.get().pk)  # what the worker does with the queued pass
    job.refresh_from_db()
    assert job.final_asset.metadata["step"] == "color"
    assert job.final_asset.links_out.filter(target=candidate.asset).exists()
    final, picked_asset = job.final_asset, candidate.asset
    assert (final.width, final.height) == (picked_asset.width, picked_asset.height)

    logged = build_run_log(run)["jobs"][0]
    assert logged["selection_override"]["reason"] == REASON
    entry = logged["candidates"][1]
    assert (entry["selected"], entry["override_reason"], entry["overridden_by"]) == (
        True,
        REASON,
        "artist",
    )


def test_a_new_pick_clears_the_used_anyway_reason(failed_run, user):
    first = _failed_candidate(failed_run)
    override_selection(candidate=first, user=user, reason=REASON)
    other = RunCandidate.objects.get(job=first.job, index=0)
    override_selection(candidate=other, user=user, reason="The other one reads better.")
    first.refresh_from_db()
    assert (first.selected, first.override_reason, first.overridden_by) == (False, "", None)


def test_the_override_reason_survives_ingest_and_is_validated(failed_run, user):
    override_selection(candidate=_failed_candidate(failed_run), user=user, reason=REASON)
    log = build_run_log(Run.objects.get(pk=failed_run.pk))
    Run.objects.filter(pk=failed_run.pk).delete()
    restored, created = ingest_run_log(log)
    assert created
    candidate = RunCandidate.objects.get(job__run=restored, job__index=0, index=1)
    assert (candidate.override_reason, candidate.overridden_by) == (REASON, user)
    assert build_run_log(restored)["jobs"] == log["jobs"]

    log["jobs"][0]["candidates"][1]["override_reason"] = "x" * 301
    with pytest.raises(UserError, match=r"jobs\[0\]\.candidates\[1\]\.override_reason: longer"):
        ingest_run_log(log)
    log["jobs"][0]["candidates"][1]["override_reason"] = REASON
    log["jobs"][0]["selection_override"]["reason"] = ["not", "text"]
    with pytest.raises(UserError, match=r"jobs\[0\]\.selection_override\.reason: must be text"):
        ingest_run_log(log)


# --- the run page ------------------------------------------------------------------------


def _pick_url(run: Run, candidate: RunCandidate, slug: str = "noir_city") -> str:
    return reverse("pipeline:run_pick", args=[slug, run.uid, candidate.pk])


def test_the_run_page_offers_use_anyway_on_failed_candidates(artist_client, failed_run):
    candidate = _failed_candidate(failed_run)
    url = reverse("pipeline:run_detail", args=["noir_city", failed_run.uid])
    for response in (artist_client.get(url), artist_client.get(url, HTTP_HX_REQUEST="true")):
        body = response.content.decode()
        assert body.count("Use anyway…") == 6  # every candidate of the three scenes failed
        assert f'<input id="reason-{candidate.pk}" name="reason" maxlength="300" required' in body
        assert "use this" not in body
        assert "<script" not in body.split('id="run-live"')[1]  # the CSP forbids inline JS


def test_use_anyway_without_a_reason_shows_the_error_at_the_field(artist_client, failed_run):
    candidate = _failed_candidate(failed_run)
    response = artist_client.post(_pick_url(failed_run, candidate), {"reason": " "})
    assert response.status_code == 400
    body = response.content.decode()
    assert (
        f'<div class="field-error" id="reason-{candidate.pk}-errors">Candidate c1 failed QA' in body
    )
    assert body.count('<details class="use-anyway" open>') == 1
    assert 'class="form-error"' not in body
    assert not RunCandidate.objects.filter(job__run=failed_run, selected=True).exists()


def test_use_anyway_with_a_reason_picks_it_and_the_page_says_why(artist_client, failed_run):
    candidate = _failed_candidate(failed_run)
    response = artist_client.post(_pick_url(failed_run, candidate), {"reason": REASON})
    assert response.status_code == 302
    assert RunCandidate.objects.get(job__run=failed_run, selected=True).pk == candidate.pk
    url = reverse("pipeline:run_detail", args=["noir_city", failed_run.uid])
    body = artist_client.get(url).content.decode()
    assert f"used anyway: {REASON}" in body
    assert "post-processing the new pick…" in body and "Use anyway…" not in body
    run_pass(RunJob.objects.get(pk=candidate.job_id).postprocess_jobs.get().pk)
    body = artist_client.get(url).content.decode()
    assert f"used anyway: {REASON}" in body
    assert body.count("Use anyway…") == 5  # the other failed candidates can still be used


def test_use_anyway_on_another_users_project_is_404(artist_client, other_project, failed_run):
    candidate = _failed_candidate(failed_run)
    theirs = Run.objects.create(project=other_project, stage="style", mode="run")
    # Their slug with our candidate, and our candidate under their run: neither is found.
    for url in (
        _pick_url(theirs, candidate, other_project.slug),
        reverse("pipeline:run_pick", args=["noir_city", theirs.uid, candidate.pk]),
    ):
        assert artist_client.post(url, {"reason": REASON}).status_code == 404
    assert not RunCandidate.objects.filter(selected=True).exists()


# --- the size rule with a real client -----------------------------------------------------


def test_answers_of_the_wrong_size_fail_qa_with_the_size_reason(scene_project, fake_openai, user):
    fake_openai.answer_size = "64x64"
    scene_project.panels.update(aspect="square")  # a real size is asked for (not "auto")
    run = submit_run(
        project=scene_project,
        user=user,
        stage="style",
        candidates=1,
        mode="run",
        confirm_spend=True,
        dispatch="inline",
    )
    assert run.status == "failed"
    asked = {call.fields["size"] for call in fake_openai.calls}
    assert len(asked) == 1 and asked != {"64x64"}  # one real size was asked for, e.g. 1024x1024
    reason = f"size 64x64, requested {asked.pop()}"
    for candidate in RunCandidate.objects.filter(job__run=run).select_related("job"):
        assert candidate.qa_summary["hard_failures"] == [reason]
        assert candidate.passed is False and candidate.archived
        assert candidate.job.error_code == "qa_failed" and reason in candidate.job.error


def test_a_candidate_used_anyway_shows_in_the_asset_browser_by_default(artist_client, failed_run):
    from projects.models import Asset

    candidate = _failed_candidate(failed_run)
    browser = reverse("projects:asset_list", args=["noir_city"])
    thumb = reverse("projects:asset_thumb", args=["noir_city", candidate.asset_id])
    assert Asset.objects.get(pk=candidate.asset_id).failed
    assert thumb not in artist_client.get(browser).content.decode()  # failed: hidden
    artist_client.post(_pick_url(failed_run, candidate), {"reason": REASON})
    asset = Asset.objects.get(pk=candidate.asset_id)
    assert not asset.failed and asset.metadata["used_anyway"] == REASON
    assert thumb in artist_client.get(browser).content.decode()
