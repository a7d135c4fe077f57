"""Write the API's OpenAPI document to openapi/backend-api.openapi.yaml, or check it is current.

The file is JSON, which is YAML too (sorted keys, so a diff shows what changed).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

OPENAPI_FILE = Path(settings.BASE_DIR) / "openapi" / "backend-api.openapi.yaml"


def openapi_text() -> str:
    from kroma.api import api

    return json.dumps(api.get_openapi_schema(), indent=2, sort_keys=True, default=str) + "\n"


class Command(BaseCommand):
    help = "Write openapi/backend-api.openapi.yaml from the code (--check: fail if it differs)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")

    def handle(self, *args, check: bool = False, **options) -> None:
        text = openapi_text()
        current = OPENAPI_FILE.read_text() if OPENAPI_FILE.exists() else ""
        if check:
            if current != text:
                raise CommandError(
                    f"{OPENAPI_FILE} is not what the code serves: run manage.py kroma_openapi."
                )
            self.stdout.write(f"{OPENAPI_FILE.name} is current.")
            return
        OPENAPI_FILE.parent.mkdir(exist_ok=True)
        OPENAPI_FILE.write_text(text)
        self.stdout.write(f"Wrote {OPENAPI_FILE} ({len(text)} bytes).")
