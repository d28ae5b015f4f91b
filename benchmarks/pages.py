"""Page speed on the demo (SQLite): the treatment comparison drawn cold, next to the dashboard.

Loads the paper's series with its generated instrument files into a fresh SQLite database (as
``make demo`` does), runs its 26 analyses in-process (the job code path: results, particle
summaries and curves written by the jobs), then, logged in as the demo user, through the real URL
routing, views and templates (Django's test client), measures alternately:

* the dashboard (``/``), the reference;
* the comparison page drawn cold (figures cache cleared before each call): the default 0/3/9/17 %
  series, and a new selection of 3 treatments;
* the comparison page from its cache, and the pages of a particle, a TRPL run and a device.

It prints median and best of N calls and each page's ratio to the dashboard (issue 16's target:
the comparison cold within 5x the dashboard and under 1 s), and the SQL queries of each.

    .venv/bin/python benchmarks/pages.py              # about a minute: demo, analyses, measurements
    .venv/bin/python benchmarks/pages.py --repeat 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _fmt(ts: list[float]) -> str:
    return f"median {1000 * statistics.median(ts):8.1f} ms   best {1000 * min(ts):8.1f} ms"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labbook-bench-pages-"))
    os.environ.update({"LABBOOK_VAR_DIR": str(work), "MEDIA_ROOT": str(work / "media"), "DEBUG": "0"})
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from labbook.demo import demo_user, load_paper_series
    from labbook.devices.models import Device
    from labbook.jobs import runners
    from labbook.jobs.services import job_execute, jobs_submit_for_project
    from labbook.pages.comparison import default_treatment_ids
    from labbook.results.models import LifetimeFit, Particle

    settings.ALLOWED_HOSTS = ["testserver"]
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    user, _ = demo_user()
    project = load_paper_series(user=user, with_files=True)
    jobs = jobs_submit_for_project(project=project, user=user)
    for job in jobs:
        job_execute(job.pk)
    runners.close_dask_client()
    print(
        f"demo: {len(jobs)} analyses run in {time.perf_counter() - t:.1f} s (SQLite, {connection.settings_dict['NAME']})"
    )

    client = Client()
    client.force_login(user)
    three = default_treatment_ids(user)[1:]
    particle = Particle.objects.order_by("pk").first()
    trpl_run = LifetimeFit.objects.order_by("pk").first().run
    device = Device.objects.order_by("pk").first()

    def page(url, *, cold=False):
        def call():
            if cold:
                cache.clear()
            r = client.get(url)
            if r.status_code != 200:
                raise SystemExit(f"{url}: {r.status_code}")
            if cold and r.get("X-Figures-Cached") != "0":
                raise SystemExit(f"{url}: expected figures drawn for this request")
            return r

        return call

    three_url = "/compare/?" + "&".join(f"treatment={i}" for i in three)
    cases = [
        ("dashboard (the reference)", page("/")),
        ("comparison cold, 0/3/9/17 % series", page("/compare/", cold=True)),
        ("comparison cold, a new selection of 3", page(three_url, cold=True)),
        ("comparison from its cache", page("/compare/")),
        ("particle page", page(f"/particles/{particle.pk}/")),
        ("TRPL run page", page(f"/runs/{trpl_run.pk}/")),
        ("device page", page(f"/devices/{device.pk}/")),
    ]
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    queries: dict[str, int] = {}
    for label, call in cases:  # warm-up, and the query count of each
        with CaptureQueriesContext(connection) as ctx:
            call()
        queries[label] = len(ctx.captured_queries)
    for _ in range(args.repeat):  # alternately, so load on the machine hits every page alike
        for label, call in cases:
            if "cache" in label:
                call()  # the cold calls before cleared the cache: draw it once, then time the cached one
            t = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - t)
    ref = statistics.median(times[cases[0][0]])
    print(
        f"\n{'page (server time: request to response)':<42} over {args.repeat} calls           x dashboard  queries"
    )
    for label, _ in cases:
        ts = times[label]
        print(f"{label:<42} {_fmt(ts)}   {statistics.median(ts) / ref:6.2f}x  {queries[label]:6d}")
    cold = statistics.median(times[cases[1][0]])
    verdict = "met" if cold < 1.0 and cold / ref <= 5 else "NOT met"
    print(f"\ntarget (comparison cold within 5x the dashboard and under 1 s): {verdict} "
          f"({1000 * cold:.0f} ms, {cold / ref:.1f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
