"""kroma_ingest: turn run logs into rows, idempotently (backfills logs written elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kroma.lib.errors import UserError
from pipeline.runlog import ingest_run_log
from pipeline.runlog_schema import RunLogError
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
                data = _read_log(path)
                run, was_created = ingest_run_log(data, project=target)
            except UserError as exc:
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


MAX_LOG_BYTES = 64 * 1024 * 1024


def _read_log(path: Path) -> Any:
    """The parsed log, or a RunLogError saying why it cannot be read."""
    try:
        if path.stat().st_size > MAX_LOG_BYTES:
            raise RunLogError(f"larger than {MAX_LOG_BYTES // 2**20} MB; not a run log")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunLogError("no such file") from None
    except IsADirectoryError:
        raise RunLogError("is a folder without run.json files") from None
    except UnicodeDecodeError:
        raise RunLogError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RunLogError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise RunLogError("nested too deeply to be a run log") from None
