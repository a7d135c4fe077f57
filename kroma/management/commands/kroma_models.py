"""kroma_models: which model files Kroma finds, where, and whether they are intact.

For a file that is missing it says where the file comes from, the checksum it must have and
the folders Kroma searches for it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kroma.lib.weights import KNOWN_MODELS, MODEL_ORIGINS, list_models, search_dirs


def _checksum(name: str) -> str:
    if name in KNOWN_MODELS:
        return f"sha256 {KNOWN_MODELS[name]}"
    origin = MODEL_ORIGINS.get(name)
    if origin is not None and origin.md5:
        return f"no sha256 pinned by Kroma; the publisher's md5 is {origin.md5}"
    return "no checksum known"


def _source(name: str) -> str:
    origin = MODEL_ORIGINS.get(name)
    return origin.source if origin is not None else "unknown origin"


class Command(BaseCommand):
    help = (
        "List model files in KROMA_MODELS_DIR and weights/, verify known ones by sha256, and say "
        "where each missing one comes from and where to put it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        dirs = search_dirs()
        searched = ", ".join(str(d) for d in dirs)
        self.stdout.write(f"Searched, in order: {searched}")
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
            self.stdout.write(f"  {name:36s} missing: copy it into {dirs[0]}")
            self.stdout.write(f"      from: {_source(name)}")
            self.stdout.write(f"      {_checksum(name)}")
            self.stdout.write(f"      searched: {searched}")
        from pipeline.postprocess.bg_remove import available_models

        rows = available_models()
        ready = [r["model"] for r in rows if r["present"]]
        absent = [str(r["file"]) for r in rows if not r["present"]]
        self.stdout.write(f"Background removal (rembg) ready: {', '.join(ready) or 'none'}")
        if absent:
            self.stdout.write(
                f"  supported when you add the file (copy it into {dirs[0]}; searched: {searched}):"
            )
            for name in absent:
                self.stdout.write(f"    {name:28s} from {_source(name)} ({_checksum(name)})")
        if bad:
            raise CommandError(f"{bad} model file(s) are corrupt; replace them.")
