"""kroma_postprocess: the post-processing chain in batch, for a run's selections or for files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kroma.lib.errors import UserError
from kroma.lib.images import ImageRejectedError
from pipeline.config import ConfigError
from pipeline.errors import PipelineError
from pipeline.models import Run, RunJob
from pipeline.postprocess.base import ChainContext
from pipeline.postprocess.chain import run_chain, step_names
from pipeline.postprocess.outputs import FolderOutputs
from pipeline.services.credentials import credentials
from pipeline.services.postprocess import chain_config, cost_recorder, postprocess_asset
from pipeline.services.runs import postprocess_run
from projects.models import Asset, Project
from projects.services.assets import store_image


class Command(BaseCommand):
    help = "Run bg_remove / refine / upscale / color on a run's selected outputs or on files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project slug (outputs become its derived assets)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--run", metavar="RUN_ID", help="post-process this run's selections")
        source.add_argument("--input", nargs="+", metavar="FILE", help="image files")
        parser.add_argument(
            "--steps",
            help=f"comma-separated, in chain order: {','.join(step_names())} "
            "(default: the steps enabled in settings)",
        )
        parser.add_argument("--profile", help="colour profile for the color step")
        parser.add_argument("--scale", type=int, choices=[2, 4], help="upscale factor")
        parser.add_argument("--out", help="folder for results when there is no --project")
        parser.add_argument("--confirm-spend", action="store_true", help="allow paid steps")

    def handle(self, *args: Any, **opts: Any) -> None:
        steps = self._steps(opts["steps"])
        overrides: dict[str, Any] = {}
        if opts["profile"]:
            overrides["color"] = {"profile": opts["profile"]}
        if opts["scale"]:
            overrides["upscale"] = {"scale": opts["scale"]}
        project = self._project(opts["project"])
        try:
            config = chain_config(project, overrides)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        if opts["run"]:
            if project is None:
                raise CommandError("--run needs --project.")
            failures = self._run(project, opts["run"], config, steps, opts["confirm_spend"])
        elif project is not None:
            failures = self._files_into_project(project, opts["input"], config, steps, opts)
        else:
            if not opts["out"]:
                raise CommandError("Without --project, say where results go with --out DIR.")
            failures = self._files_into_folder(
                Path(opts["out"]), opts["input"], config, steps, opts
            )
        if failures:
            raise CommandError(f"{failures} image(s) failed; see the messages above.")

    def _steps(self, value: str | None) -> list[str] | None:
        if not value:
            return None
        steps = [s.strip() for s in value.split(",") if s.strip()]
        unknown = [s for s in steps if s not in step_names()]
        if unknown:
            raise CommandError(
                f"Unknown step(s) {', '.join(unknown)}; steps: {', '.join(step_names())}."
            )
        return steps

    def _project(self, slug: str | None) -> Project | None:
        if not slug:
            return None
        project = Project.objects.filter(slug=slug).select_related("storage").first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        return project

    def _progress(self, done: int, total: int, label: str) -> None:
        bar = "#" * int(20 * done / max(total, 1))
        line = f"[{bar:<20}] {done}/{total} {label}"
        self.stdout.write(
            f"\r{line}" if sys.stdout.isatty() else line, ending="" if sys.stdout.isatty() else "\n"
        )

    def _one(self, label: str, work: Any) -> bool:
        try:
            final, log = work()
        except (PipelineError, ConfigError, ImageRejectedError) as exc:
            self.stderr.write(f"\n{label}: {exc}")
            return False
        steps = ", ".join(
            f"{e['step']}{' (kept)' if e.get('skipped') == 'output exists' else ''}" for e in log
        )
        self.stdout.write(f"\n{label}: {steps or 'no step enabled'} -> {final}")
        return True

    def _run(
        self, project: Project, uid: str, config: dict, steps: list[str] | None, confirm: bool
    ) -> int:
        """The run's picks through `postprocess_run`, the same service as the run page."""
        run = Run.objects.filter(project=project, uid=uid).first()
        if run is None:
            raise CommandError(f"No run {uid!r} in project {project.slug}.")
        try:
            items = postprocess_run(
                run=run,
                user=None,
                config=config,
                only=steps,
                confirm_spend=confirm,
                dispatch="inline",
                progress=lambda done, total: self._progress(done, total, "images"),
            )
        except UserError as exc:
            raise CommandError(str(exc)) from None
        failures = 0
        for item in items:
            job = RunJob.objects.select_related("final_asset").get(pk=item.job_id)
            if item.status == item.Status.DONE:
                final = job.final_asset.path if job.final_asset else "no output"
                self.stdout.write(f"\n{job.scene_key}: {item.status} -> {final}")
            else:
                failures += 1
                self.stderr.write(f"\n{job.scene_key}: {item.status}: {item.error}")
        return failures

    def _files_into_project(
        self, project: Project, files: list[str], config: dict, steps: list[str] | None, opts: dict
    ) -> int:
        failures = 0
        for done, name in enumerate(files):
            self._progress(done, len(files), "images")

            def work(name: str = name) -> tuple:
                data = _read(name)
                asset = store_image(
                    project=project, data=data, kind=Asset.Kind.UPLOAD, name=Path(name).name
                )
                final, log = postprocess_asset(
                    project=project,
                    asset=asset,
                    config=config,
                    steps=steps,
                    confirm_spend=opts["confirm_spend"],
                    record_cost=cost_recorder(project=project, prefix="postprocess/"),
                )
                return final.ref.path if isinstance(final.ref, Asset) else "", log

            failures += not self._one(name, work)
        self._progress(len(files), len(files), "images")
        return failures

    def _files_into_folder(
        self, out: Path, files: list[str], config: dict, steps: list[str] | None, opts: dict
    ) -> int:
        out.mkdir(parents=True, exist_ok=True)
        failures = 0
        for done, name in enumerate(files):
            self._progress(done, len(files), "images")

            def work(name: str = name) -> tuple:
                ctx = ChainContext(
                    outputs=FolderOutputs(out / ".steps"),
                    credentials=lambda provider: credentials(None, provider),
                    confirm_spend=opts["confirm_spend"],
                )
                final = run_chain(data=_read(name), source=None, config=config, ctx=ctx, only=steps)
                target = out / f"{Path(name).stem}.kroma.png"
                if isinstance(final.ref, Path):
                    shutil.copyfile(final.ref, target)
                else:
                    target.write_bytes(final.data)
                return target, ctx.log

            failures += not self._one(name, work)
        self._progress(len(files), len(files), "images")
        return failures


def _read(name: str) -> bytes:
    path = Path(name)
    if not path.is_file():
        raise PipelineError(f"no such file: {name}")
    if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
        raise PipelineError(f"{name} is larger than KROMA_MAX_UPLOAD_BYTES")
    return path.read_bytes()
