"""Short write transactions, measured: a run's 4 worker threads and 30 x 10 MB uploads at once.

Run: .venv/bin/python bench/write_locks.py [--uploads 30] [--megabytes 10]
On SQLite (a temporary KROMA_VAR_DIR): one thread uploads the images through the universe page
(3 requests of 10 files) while a run of 8 scenes x 3 candidates works in 4 threads (local
provider, upscale and colour on). Prints how long each side took and how many "database is
locked" errors happened anywhere (the goal is zero). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kroma.settings")
os.environ["KROMA_VAR_DIR"] = tempfile.mkdtemp(prefix="kroma-bench-locks-")
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import OperationalError, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from PIL import Image  # noqa: E402

settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOCKED = []


class LockWatch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if "database is locked" in record.getMessage() or (
            record.exc_info and "database is locked" in str(record.exc_info[1])
        ):
            LOCKED.append(record.getMessage()[:200])


def noise_png(megabytes: float, seed: int) -> bytes:
    side = int((megabytes * 1e6 / 3) ** 0.5)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--megabytes", type=float, default=10)
    args = parser.parse_args()
    logging.getLogger().addHandler(LockWatch())
    call_command("migrate", verbosity=0)
    call_command("kroma_seed", "--with-default-user", "--demo", verbosity=0)

    from django.contrib.auth import get_user_model

    from pipeline.services.execute import execute_run
    from pipeline.services.runs import submit_run
    from projects.models import Asset, Project
    from projects.services.assets import store_image

    project = Project.objects.get(slug="demo")
    for i in range(5):  # 8 scenes, so all 4 run threads have work
        store_image(
            project=project,
            data=noise_png(0.05, 100 + i),
            kind=Asset.Kind.SCENE_REF,
            name=f"x{i}.png",
        )
    user = get_user_model().objects.get(username=settings.SINGLE_USER_NAME)
    run = submit_run(
        project=project, user=user, stage="style", provider="local", candidates=3, mode="run",
        dispatch="none",
    )  # fmt: skip
    files = [noise_png(args.megabytes, i) for i in range(args.uploads)]
    print(
        f"{len(files)} uploads of {sum(map(len, files)) / len(files) / 1e6:.1f} MB; run "
        f"{run.uid}: {run.jobs.count()} scenes x 3 candidates, 4 threads, SQLite"
    )
    timings: dict[str, float] = {}
    statuses: list[int] = []

    def upload() -> None:
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        started = time.perf_counter()
        try:
            for first in range(0, len(files), 10):
                batch = [
                    SimpleUploadedFile(f"big-{first + k}.png", data)
                    for k, data in enumerate(files[first : first + 10])
                ]
                url = reverse("projects:add_reference_images", args=["demo"])
                response = client.post(url, {"kind": "scene", "images": batch})
                statuses.append(response.status_code)
        except OperationalError as exc:
            LOCKED.append(f"upload: {exc}")
        finally:
            timings["uploads"] = time.perf_counter() - started
            connection.close()

    def work() -> None:
        started = time.perf_counter()
        try:
            execute_run(run.pk, inline=True)
        except OperationalError as exc:
            LOCKED.append(f"run: {exc}")
        finally:
            timings["run"] = time.perf_counter() - started
            connection.close()

    threads = [threading.Thread(target=upload), threading.Thread(target=work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.refresh_from_db()
    stored = Asset.objects.filter(project=project, title__startswith="big-").count()
    print(f"uploads: HTTP {statuses}, {stored}/{len(files)} stored in {timings['uploads']:.1f} s")
    done = run.jobs.filter(status="done").count()
    print(f"run: {run.status}, {done} scenes done in {timings['run']:.1f} s")
    print(f'"database is locked": {len(LOCKED)}')
    for message in LOCKED[:5]:
        print("  ", message)


if __name__ == "__main__":
    main()
