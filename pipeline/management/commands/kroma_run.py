"""kroma_run: plan, dry-run or run a pipeline stage from the command line, with progress."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from kroma.lib.providers import image_providers
from pipeline.config import MODELS, QUALITIES, SIZES, STAGES, ConfigError, snapshot_manifest
from pipeline.errors import PipelineError
from pipeline.models import Run, RunJob
from pipeline.services.execute import enqueue_run, execute_run
from pipeline.services.refs import BuildOn
from pipeline.services.runs import submit_run
from projects.models import Project

FAILED_EXIT = {Run.Status.FAILED, Run.Status.PARTIAL, Run.Status.CANCELED}


def _build_on(value: str) -> BuildOn:
    if value in ("pick", "base"):
        return BuildOn(mode=value)
    return BuildOn(mode="run", run_uid=value)


class Command(BaseCommand):
    help = "Plan and run a pipeline stage. Dry by default; --confirm-spend runs it for real."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project slug")
        parser.add_argument("--stage", choices=STAGES)
        parser.add_argument(
            "--panels",
            "--scenes",
            nargs="+",
            metavar="PANEL",
            help="panel keys or ids (default: every panel)",
        )
        parser.add_argument(
            "--candidates", type=int, help="candidates per panel (default: manifest)"
        )
        parser.add_argument("--model", choices=MODELS, help="default: generation.model")
        parser.add_argument("--quality", choices=QUALITIES, help="default: generation.quality")
        parser.add_argument(
            "--size", choices=SIZES, help="default: each panel's aspect (square 1024x1024, …)"
        )
        parser.add_argument(
            "--build-on",
            default="pick",
            metavar="pick|base|RUN_UID",
            help="what each job starts from: the panel's current pick of the previous stage "
            "(default), its base image, or the picks of one run",
        )
        parser.add_argument("--variation", help="time of day or weather for those stages")
        parser.add_argument(
            "--provider",
            choices=[spec.name for spec in image_providers()],
            help="default: the manifest's generation.provider",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--dry", action="store_true", help="plan only, spend nothing (default)")
        mode.add_argument("--confirm-spend", action="store_true", help="run it and pay for it")
        parser.add_argument("--wait", action="store_true", help="wait for the workers to finish")
        parser.add_argument("--inline", action="store_true", help="process here, not in a worker")
        parser.add_argument("--replay", metavar="LOG", help="plan again from a run log")

    def handle(self, *args: Any, **opts: Any) -> None:
        options = self._options(opts)
        try:
            run = submit_run(**options, dispatch="none")
        except (PipelineError, ConfigError) as exc:
            raise CommandError(str(exc)) from None
        self._print_plan(run)
        if run.mode == Run.Mode.DRY:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Dry run {run.uid} written to {run.log_path}. Nothing was spent."
                )
            )
            return
        if opts["inline"]:
            errors: list[BaseException] = []

            def work() -> None:
                try:
                    execute_run(run.pk, inline=True)
                except BaseException as exc:  # reported below, after the progress bar
                    errors.append(exc)
                finally:
                    connection.close()

            worker = threading.Thread(target=work, daemon=True)
            worker.start()
            self._progress(run, until=lambda: not worker.is_alive())
            if errors:
                raise CommandError(f"Run {run.uid} stopped with an error: {errors[0]!r}")
        else:
            enqueue_run(run)
            if not opts["wait"]:
                self.stdout.write(
                    f"Run {run.uid} queued for the workers. Follow it with --wait or the dashboard."
                )
                return
            self._progress(
                run, until=lambda: Run.objects.get(pk=run.pk).status in Run.FINAL_STATUSES
            )
        run.refresh_from_db()
        self._print_summary(run)
        if run.status not in Run.FINAL_STATUSES or run.status in FAILED_EXIT:
            raise CommandError(f"Run {run.uid} ended {run.status}.")

    def _options(self, opts: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {
            "stage": opts["stage"],
            "panels": opts["panels"],
            "candidates": opts["candidates"],
            "model": opts["model"],
            "quality": opts["quality"],
            "size": opts["size"],
            "build_on": _build_on(opts["build_on"]),
            "variation": opts["variation"],
            "provider": opts["provider"],
            # --inline/--wait ask for a real run; the spend guard still wants --confirm-spend
            # for anything that costs money (the local provider costs nothing).
            "mode": "run"
            if opts["confirm_spend"] or (not opts["dry"] and (opts["inline"] or opts["wait"]))
            else "dry",
            "confirm_spend": opts["confirm_spend"],
            "manifest": None,
        }
        slug = opts["project"]
        if opts["replay"]:
            log = self._read_log(opts["replay"])
            meta = log["run"]
            slug = slug or meta["project"]
            options.update(
                stage=options["stage"] or meta["stage"],
                panels=options["panels"] or [job["scene_key"] for job in log["jobs"]],
                candidates=options["candidates"] or meta["candidates_per_job"],
                provider=options["provider"] or meta["provider"],
            )
            try:
                options["manifest"] = snapshot_manifest(
                    log["manifest"], f"run log {opts['replay']}"
                )
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
        if not slug:
            raise CommandError("--project is required (or --replay a run log).")
        if not options["stage"]:
            raise CommandError(f"--stage is required: one of {', '.join(STAGES)}.")
        project = Project.objects.filter(slug=slug).select_related("storage").first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        return {**options, "project": project, "user": project.owner}

    @staticmethod
    def _read_log(path: str) -> dict[str, Any]:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise CommandError(f"{path}: no such run log") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        missing = [
            k for k in ("run", "jobs", "manifest") if not isinstance(data, dict) or k not in data
        ]
        if missing:
            raise CommandError(f"{path}: not a Kroma run log (missing {', '.join(missing)})")
        return data

    def _print_plan(self, run: Run) -> None:
        plan = run.plan
        note = " (prices for this model are estimates)" if plan["prices_estimated"] else ""
        self.stdout.write(
            f"Run {run.uid} · {run.project.slug} · stage {run.stage} · {plan['provider']} "
            f"{plan['model']} · {plan['n']} candidates x {plan['jobs']} panels · "
            f"estimate ${run.estimated_cost_usd:.2f}{note}"
        )
        for warning in plan.get("warnings", []):
            self.stdout.write(self.style.WARNING(f"  ! {warning}"))

    def _progress(self, run: Run, until: Any) -> None:
        tty = sys.stdout.isatty()
        last = None
        while True:
            finished = until()
            counts = dict.fromkeys(RunJob.Status.values, 0)
            for status in RunJob.objects.filter(run=run).values_list("status", flat=True):
                counts[status] += 1
            total = sum(counts.values())
            ended = counts["done"] + counts["failed"] + counts["canceled"]
            bar = "#" * int(20 * ended / max(total, 1))
            line = (
                f"[{bar:<20}] {ended}/{total} jobs · {counts['running']} running · "
                f"{counts['failed']} failed"
            )
            if tty:
                self.stdout.write(f"\r{line}", ending="")
            elif line != last:
                self.stdout.write(line)
            last = line
            if finished:
                break
            time.sleep(0.5)
        if tty:
            self.stdout.write("")

    def _print_summary(self, run: Run) -> None:
        rows = [("scene", "status", "passed", "selected", "error")]
        for job in run.jobs.order_by("index").prefetch_related("candidates"):
            candidates = list(job.candidates.all())
            selected = next((f"c{c.index}" for c in candidates if c.selected), "-")
            passed = f"{sum(1 for c in candidates if c.passed)}/{len(candidates)}"
            rows.append((job.scene_key, job.status, passed, selected, job.error[:60]))
        widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
        for row in rows:
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
        self.stdout.write(
            f"Run {run.uid}: {run.status} · cost ${run.actual_cost_usd:.4f} "
            f"(estimate ${run.estimated_cost_usd:.2f}) · log {run.log_path}"
        )
