"""Page speed at scale: one project with 100k assets, 10k runs and 90k candidates (SQLite),
and a story of 60 panels with casts, three of them with picks from every run.

Run: .venv/bin/python bench/pages.py [--assets 100000 --runs 10000]
Builds the database in a temporary KROMA_VAR_DIR (about a minute), then requests each page 30
times through Django's test client and prints the median wall and CPU time and the query count.
`--only assets` measures only the pages whose name contains "assets". Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kroma.settings")
os.environ.setdefault("KROMA_VAR_DIR", tempfile.mkdtemp(prefix="kroma-bench-pages-"))
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.conf import settings as _settings  # noqa: E402

# Pages render without collectstatic (as in the tests): plain static storage.
_settings.STORAGES = {
    **_settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from pipeline.models import QualityReport, Run, RunCandidate, RunJob  # noqa: E402
from projects.models import (  # noqa: E402
    Asset,
    CastMember,
    Chapter,
    Character,
    Outfit,
    Page,
    Panel,
)
from projects.services.projects import create_project  # noqa: E402

BATCH = 5000


def build(assets: int, runs: int) -> tuple[object, object, Run]:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="x")
    project = create_project(owner=user, name="Bench", slug="bench")
    started = time.perf_counter()
    kinds = [Asset.Kind.SCENE_REF] * 1 + [Asset.Kind.CANDIDATE] * 8 + [Asset.Kind.DERIVED]
    stages = ["style", "time", "weather", "characters"]
    with transaction.atomic():
        Asset.objects.bulk_create(
            (
                Asset(
                    project=project,
                    kind=kinds[i % len(kinds)],
                    path=f"assets/x/{i:08d}.png",
                    sha256=f"{i:064x}",
                    size_bytes=1000,
                    width=64,
                    height=48,
                    mime="image/png",
                    title=f"asset {i}",
                    # The browser's columns, as Asset.save() fills them from the recipe.
                    stage=stages[i % 4] if kinds[i % len(kinds)] != Asset.Kind.SCENE_REF else "",
                    panel_key=f"s{i % 60}",
                    run_uid=f"run_bench_{i // 10:06d}",
                    failed=kinds[i % len(kinds)] == Asset.Kind.CANDIDATE and i % 7 == 0,
                    rating=(i % 5) + 1 if i % 13 == 0 else None,
                    search_text=f"asset {i}\nbeat {i % 997}: mara and ines cross the "
                    f"{'flooded' if i % 50 == 0 else 'quiet'} square at dusk, ink and wash",
                )
                for i in range(assets)
            ),
            batch_size=BATCH,
        )
    candidate_ids = list(
        Asset.objects.filter(project=project, kind=Asset.Kind.CANDIDATE).values_list(
            "pk", flat=True
        )
    )
    now = timezone.now()
    with transaction.atomic():
        Run.objects.bulk_create(
            (
                Run(
                    project=project,
                    uid=f"run_bench_{i:06d}",
                    stage="style",
                    mode="run" if i % 5 else "dry",
                    status="done" if i % 5 else "planned",
                    provider="local",
                    model="local",
                    candidates_per_job=3,
                )
                for i in range(runs)
            ),
            batch_size=BATCH,
        )
        run_ids = list(Run.objects.filter(project=project).values_list("pk", flat=True))
        RunJob.objects.bulk_create(
            (
                RunJob(project=project, run_id=rid, index=j, scene_key=f"s{j}", status="done")
                for rid in run_ids
                for j in range(3)
            ),
            batch_size=BATCH,
        )
        jobs = list(RunJob.objects.filter(project=project).values_list("pk", "run_id"))
        RunCandidate.objects.bulk_create(
            (
                RunCandidate(
                    project=project,
                    job_id=jid,
                    index=k,
                    asset_id=candidate_ids[(n * 3 + k) % len(candidate_ids)],
                    passed=True,
                    selected=k == 0,
                    rank=k + 1,
                )
                for n, (jid, _) in enumerate(jobs)
                for k in range(3)
            ),
            batch_size=BATCH,
        )
        candidates = RunCandidate.objects.filter(project=project).values_list("pk", "job__run_id")
        QualityReport.objects.bulk_create(
            (
                QualityReport(project=project, run_id=rid, candidate_id=cid, passed=cid % 7 != 0)
                for cid, rid in candidates
            ),
            batch_size=BATCH,
        )
    _story(project)
    print(
        f"built {assets} assets, {runs} runs, {len(jobs)} jobs, "
        f"{RunCandidate.objects.count()} candidates in {time.perf_counter() - started:.0f} s "
        f"(SQLite at {settings.DATABASES['default']['NAME']}); created {now:%H:%M}"
    )
    return user, project, Run.objects.filter(mode="run").order_by("-created_at").first()


def _story(project: object) -> None:
    """60 panels on 3 pages, each with a cast of two (one in an outfit); the runs' jobs belong
    to the first three panels (s0, s1, s2), so those have picks from every run."""
    chapter = Chapter.objects.create(project=project, position=1)
    pages = [Page.objects.create(project=project, chapter=chapter, position=n) for n in (1, 2, 3)]
    mara = Character.objects.create(project=project, slug="mara", name="Mara")
    ines = Character.objects.create(project=project, slug="ines", name="Ines")
    coat = Outfit.objects.create(character=mara, name="Coat")
    panels = Panel.objects.bulk_create(
        Panel(
            project=project,
            page=pages[n // 20],
            key=f"s{n}",
            title=f"Panel {n}",
            position=n % 20 + 1,
            script=f"Beat {n}: Mara and Ines cross the flooded square.",
        )
        for n in range(60)
    )
    CastMember.objects.bulk_create(
        CastMember(panel=panel, character=who, outfit=outfit, position=k)
        for panel in panels
        for k, (who, outfit) in enumerate(((mara, coat), (ines, None)))
    )
    for panel in panels[:3]:
        RunJob.objects.filter(project=project, scene_key=panel.key).update(panel=panel)


def measure(client: Client, url: str, repeat: int = 30) -> tuple[float, float, int]:
    """Median wall time and median CPU time of this process (ms), and the query count. The CPU
    time (Django and SQLite both run in this process) is steadier on a shared, busy machine."""
    client.get(url)  # warm
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), statistics.median(cpu), len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--only", default="", help="measure only pages whose name contains this")
    args = parser.parse_args()
    user, project, run = build(args.assets, args.runs)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    newest = Asset.objects.filter(project=project).order_by("pk").last()
    panel_s1 = Panel.objects.get(project=project, key="s1")
    pages = {
        "projects": "/projects/",
        "dashboard": f"/projects/{project.slug}/",
        "universe": f"/projects/{project.slug}/universe/",
        "assets": f"/projects/{project.slug}/assets/",
        "run page": f"/projects/{project.slug}/runs/{run.uid}/",
        "runs list": f"/projects/{project.slug}/runs/",
        "runs, page 100": f"/projects/{project.slug}/runs/?plans=on&page=100",
        "runs, a panel": f"/projects/{project.slug}/runs/?panel=s1",
        "review, a run": f"/projects/{project.slug}/runs/{run.uid}/review/",
        "review, a panel": f"/projects/{project.slug}/story/panels/{panel_s1.pk}/review/",
        "reports": f"/projects/{project.slug}/reports/",
        "run QA report": f"/projects/{project.slug}/runs/{run.uid}/report/",
        "pages": f"/projects/{project.slug}/pages/",
        "assets, page 500": f"/projects/{project.slug}/assets/?page=500",
        "assets, a panel": f"/projects/{project.slug}/assets/?panel=s1",
        "assets, a stage": f"/projects/{project.slug}/assets/?stage=weather&kind=candidate",
        "assets, a run": f"/projects/{project.slug}/assets/?run=run_bench_004321",
        "assets, 4★+": f"/projects/{project.slug}/assets/?rating=4",
        "assets, Mara": f"/projects/{project.slug}/assets/?character=mara",
        "assets, search": f"/projects/{project.slug}/assets/?q=flooded",
        "assets, failed": f"/projects/{project.slug}/assets/?failed=on&sort=old",
        "asset detail": f"/projects/{project.slug}/assets/{newest.pk}/",
        "story": f"/projects/{project.slug}/story/",
        "panel": f"/projects/{project.slug}/story/panels/{Panel.objects.get(key='s0').pk}/",
        "new run": f"/projects/{project.slug}/runs/new/",
    }
    pages = {name: url for name, url in pages.items() if args.only in name}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("page               median ms  cpu ms  queries")
    for name, url in pages.items():
        median, cpu, queries = measure(client, url)
        print(f"{name:18s} {median:9.1f}  {cpu:6.1f}  {queries:7d}")
    if os.environ.get("BENCH_SLOWEST"):
        for name, url in pages.items():
            with CaptureQueriesContext(connection) as captured:
                client.get(url)
            slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
            print(f"slowest query of {name}: {slowest['time']} s {slowest['sql'][:300]}")


if __name__ == "__main__":
    main()
