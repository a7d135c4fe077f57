"""kroma_ingest: turn run logs into rows, idempotently (backfills logs written elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.runlog import RunLogError, ingest_run_log
from projects.models import Project


class Command(BaseCommand):
    help = "Ingest run logs (runs/<uid>/run.json) into the database; re-ingesting adds nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("logs", nargs="+", metavar="LOG", help="run log files or folders")
        parser.add_argument("--project", help="ingest into this project instead of the log's")

    def handle(self, *args: Any, logs: list[str], project: str | None, **opts: Any) -> None:
        target = None
        if project:
            target = Project.objects.filter(slug=project).first()
            if target is None:
                raise CommandError(f"No project with slug {project!r}.")
        files = []
        for name in logs:
            path = Path(name)
            files.extend(sorted(path.rglob("run.json")) if path.is_dir() else [path])
        created = existing = failed = 0
        for path in files:
            try:
                data = json.loads(path.read_text())
                run, was_created = ingest_run_log(data, project=target)
            except FileNotFoundError:
                self.stderr.write(f"{path}: no such file")
                failed += 1
                continue
            except json.JSONDecodeError as exc:
                self.stderr.write(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})")
                failed += 1
                continue
            except (RunLogError, KeyError) as exc:
                self.stderr.write(f"{path}: {exc}")
                failed += 1
                continue
            created += was_created
            existing += not was_created
            self.stdout.write(
                f"{path}: run {run.uid} {'ingested' if was_created else 'already known'}"
            )
        self.stdout.write(f"{created} ingested, {existing} already known, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} log(s) could not be ingested.")
