"""kroma_models: which model files Kroma finds, where, and whether they are intact."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kroma.lib.weights import KNOWN_MODELS, list_models, search_dirs


class Command(BaseCommand):
    help = "List model files in KROMA_MODELS_DIR and weights/, and verify known ones by sha256."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Searched, in order: " + ", ".join(str(d) for d in search_dirs()))
        bad = 0
        found = list_models()
        for model in found:
            if model.expected_sha256 is None:
                state = "unknown file (not verified)"
            elif model.sha256() == model.expected_sha256:
                state = "ok (sha256 verified)"
            else:
                state = "CORRUPT: sha256 differs from the published file"
                bad += 1
            self.stdout.write(
                f"  {model.name:36s} {model.size / 1e6:7.1f} MB  {model.path.parent}  {state}"
            )
        for name in sorted(set(KNOWN_MODELS) - {m.name for m in found}):
            self.stdout.write(f"  {name:36s} missing: copy it into {search_dirs()[0]}")
        from pipeline.postprocess.bg_remove import available_models

        rows = available_models()
        ready = [r["model"] for r in rows if r["present"]]
        absent = [r["file"] for r in rows if not r["present"]]
        self.stdout.write(f"Background removal (rembg) ready: {', '.join(ready) or 'none'}")
        self.stdout.write(f"  supported when you add the file: {', '.join(absent)}")
        if bad:
            raise CommandError(f"{bad} model file(s) are corrupt; replace them.")
