"""Carry work state from RunJob.details and LabJob.outputs (JSON) into columns and step rows."""

from decimal import Decimal, InvalidOperation

from django.db import migrations

from pipeline.steprecords import step_fields


def _usd(value):
    try:
        return Decimal(str(value or 0))
    except InvalidOperation:
        return Decimal(0)


def _errored(item):
    """Before `errored` existed, a bug ended an item `failed` with "internal error (...)"."""
    if item.status != "failed":
        return
    if "internal error" in item.error:
        item.status, item.error_code = "errored", "internal"
    else:
        item.error_code = item.error_code or "pipeline_error"


def forwards(apps, schema_editor):
    RunJob = apps.get_model("pipeline", "RunJob")
    LabJob = apps.get_model("pipeline", "LabJob")
    StepRun = apps.get_model("pipeline", "StepRun")
    Asset = apps.get_model("projects", "Asset")
    for job in RunJob.objects.all().iterator():
        details = job.details if isinstance(job.details, dict) else {}
        source = details.get("input") if isinstance(details.get("input"), dict) else {}
        job.input_path = str(source.get("path") or "")[:500]
        job.input_source = str(source.get("source") or "")[:80]
        job.estimate_usd = _usd(details.get("estimate_usd"))
        final = details.get("final_asset")
        if isinstance(final, dict) and Asset.objects.filter(
            pk=final.get("id") or 0, project_id=job.project_id
        ).exists():
            job.final_asset_id = final["id"]
        _errored(job)
        job.save()
        StepRun.objects.bulk_create(
            StepRun(project_id=job.project_id, item_type="run_job", item_id=str(job.pk), **fields)
            for fields in step_fields(details, attempt=job.attempts)
        )
    for lab in LabJob.objects.all().iterator():
        rows = []
        outputs = lab.outputs if isinstance(lab.outputs, list) else []
        for index, output in enumerate(outputs):
            if not isinstance(output, dict):
                continue
            number = output.get("input")
            rows.append(
                StepRun(
                    item_type="lab_job",
                    item_id=str(lab.pk),
                    attempt=lab.attempts,
                    step="result",
                    subject=str(number) if number is not None else f"generated {index}",
                    status="failed" if output.get("error") else "done",
                    output_file=str(output.get("file") or ""),
                    notes={"log": output.get("log")},
                    error=str(output.get("error") or ""),
                )
            )
        StepRun.objects.bulk_create(rows)
        _errored(lab)
        if lab.operation == "generate":
            lab.max_attempts = 1  # a paid generation is never repeated by itself
        lab.save()
    # A plan claimed by the old confirm view when an unexpected error hit: confirmable again.
    Run = apps.get_model("pipeline", "Run")
    Run.objects.filter(confirmed_as="\u2026").update(confirmed_as="")


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0005_work_engine"), ("projects", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
