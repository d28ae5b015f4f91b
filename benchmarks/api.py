"""API latencies on a large PostgreSQL database, and the comparison endpoint against raw SQL.

Seeds a separate PostgreSQL database (default ``labbook_bench``, created and migrated by this
script; ``--reuse`` keeps an already seeded one) with 1,000 batches, 4,000 treatments, 4,000
samples, 20,000 characterisation runs (5 per sample), 8,000 jobs with 4,000 blinking analyses and
4,000 lifetime fits, 250 devices with photoresponse metrics, and 1,000,000 particles (generated,
written with COPY), then the particle summaries of the 4,000 analyses through the backfill
(``manage.py summarise_results``' code, from the particle rows). Then, as a project member (not a
superuser, so every query carries the project-visibility filter), through the real URL routing,
serializers and JSON rendering (Django's test client), it prints the median and best of N calls of
list pages next to the project list's, each list called alternately with the project list so
that a loaded machine slows both alike (issue 16's targets: a list page of 50 within 3x of it,
``group_by`` over the million particles under 1 s), filtered lists and the comparison endpoint,
the particle CSV export's rate (target >= 100,000 rows/s, streamed), and the comparison endpoint
against the same aggregate written as raw SQL over the particle rows, measured alternately.

    .venv/bin/python benchmarks/api.py                   # seed (several minutes) and measure
    .venv/bin/python benchmarks/api.py --reuse           # measure on the seeded database
    .venv/bin/python benchmarks/api.py --particles 100000  # a smaller seed, for a quick look
    .venv/bin/python benchmarks/api.py --reuse --lists-only --repeat 15  # the list pages alone

A database seeded before the summaries existed gets them (the backfill, timed) on ``--reuse``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_URL = "postgres://postgres@127.0.0.1:5432"
NOMINAL = (0, 3, 9, 17)
TECHNIQUES = ("blinking", "trpl", "pl", "uvvis", "xrd")
CLASSES = [("BB", ""), ("BBB", ""), ("MSB", ""), ("PEB", ""), ("qTSB", "mostly-on"), ("qTSB", "intermediate"), ("qTSB", "mostly-off")]  # fmt: skip

# The URLs the benchmark serves (the API alone, so the HTML pages' state does not matter).
urlpatterns: list = []


def _create_database(name: str, *, reuse: bool) -> bool:
    """Create the benchmark database; return True if it must be seeded."""
    import psycopg

    with psycopg.connect(f"{BASE_URL}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reuse:
            return False
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def seed(*, batches: int, particles: int) -> dict:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labbook.characterization.models import CharacterizationRun
    from labbook.devices.models import Device, DeviceMeasurement
    from labbook.jobs.models import AnalysisJob
    from labbook.projects.models import Membership, Project, Role
    from labbook.results.models import BlinkingAnalysis, DeviceMetrics, LifetimeFit, Particle
    from labbook.synthesis.models import ChlorideStock, PostTreatment, Sample, Synthesis

    rng = np.random.default_rng(20231)
    times = {}
    t0 = time.perf_counter()
    User = get_user_model()
    user = User.objects.create(username="bench")
    project = Project.objects.create(name="bench", slug="bench")
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    common = dict(project=project, created_by=user)
    start = dt.date(2021, 1, 1)

    with transaction.atomic():
        Synthesis.objects.bulk_create(
            [
                Synthesis(
                    **common,
                    code=f"B-{i:05d}",
                    date=start + dt.timedelta(days=i % 900),
                    operator=user,
                    pbi2_amount=0.04,
                    mai_amount=0.12,
                    precursor_solvent_volume=20.0,
                    injection_volume=float(rng.choice([1.0, 1.3, 1.5])),
                    volume=4.0,
                    stirring_time=4.0,
                    temperature=float(rng.uniform(20, 25)),
                    notes=f"batch {i} for the benchmark; injection-precipitation in toluene",
                )
                for i in range(batches)
            ],
            batch_size=2000,
        )
        batch_ids = list(
            Synthesis.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
        )
        stock = ChlorideStock.objects.create(
            **common, code="MACl", salt_amount=200.0, solvent_volume=0.5, date=start
        )
        treatments = []
        for i, b in enumerate(batch_ids):
            for pct in NOMINAL:
                cl = pct * float(rng.uniform(0.9, 1.1))
                treatments.append(
                    PostTreatment(
                        **common,
                        code=f"T-{i:05d}-{pct}",
                        batch_id=b,
                        stock=stock,
                        volume_added=cl / 3.4,
                        date=start + dt.timedelta(days=i % 900 + 1),
                        operator=user,
                        nominal_cl_percent=pct,
                        chloride_amount=cl * 0.078,
                        iodide_amount=7.8,
                        cl_to_i=cl,
                        solvent_fraction=cl / 3.4 / 40,
                    )
                )
        PostTreatment.objects.bulk_create(treatments, batch_size=2000)
        tr = list(
            PostTreatment.objects.filter(project=project)
            .order_by("pk")
            .values_list("pk", "batch_id", "nominal_cl_percent")
        )
        Sample.objects.bulk_create(
            [
                Sample(**common, code=f"S-{k:06d}", kind="film", batch_id=b, treatment_id=t, date=start)
                for k, (t, b, _) in enumerate(tr)
            ],
            batch_size=2000,
        )
        samples = list(
            Sample.objects.filter(project=project).order_by("pk").values_list("pk", "treatment_id")
        )
        pct_of = {t: pct for t, _, pct in tr}
        CharacterizationRun.objects.bulk_create(
            [
                CharacterizationRun(
                    **common,
                    code=f"R-{k:06d}-{tech}",
                    sample_id=s,
                    technique=tech,
                    date=start,
                    excitation_wavelength=485.0 if tech in ("trpl", "blinking", "pl") else None,
                    exposure_time=100.0 if tech == "blinking" else None,
                    notes="",
                )
                for k, (s, _) in enumerate(samples)
                for tech in TECHNIQUES
            ],
            batch_size=4000,
        )
        runs = list(
            CharacterizationRun.objects.filter(project=project, technique__in=["blinking", "trpl"])
            .order_by("pk")
            .values_list("pk", "technique", "sample__treatment_id")
        )
        AnalysisJob.objects.bulk_create(
            [
                AnalysisJob(
                    **common,
                    kind=tech,
                    run_id=r,
                    input_key=f"{r:064x}",
                    analysis_version="bench",
                    status="succeeded",
                    progress=1.0,
                )
                for r, tech, _ in runs
            ],
            batch_size=4000,
        )
        job_of = dict(AnalysisJob.objects.filter(project=project).values_list("run_id", "pk"))
        blink = [(r, t) for r, tech, t in runs if tech == "blinking"]
        trpl = [(r, t) for r, tech, t in runs if tech == "trpl"]
        per = particles // len(blink)
        BlinkingAnalysis.objects.bulk_create(
            [
                BlinkingAnalysis(
                    **common,
                    job_id=job_of[r],
                    run_id=r,
                    frames=6000,
                    height=512,
                    width=512,
                    bin_time=0.1,
                    n_particles=per,
                    on_alpha=1.0 + pct_of[t] / 100,
                    off_alpha=0.9,
                    correlation_mean=0.5,
                )  # fmt: skip
                for r, t in blink
            ],
            batch_size=4000,
        )
        LifetimeFit.objects.bulk_create(
            [
                LifetimeFit(
                    **common,
                    job_id=job_of[r],
                    run_id=r,
                    n_components=2,
                    tau_avg_amp=10 + pct_of[t],
                    tau_avg_int=20 + pct_of[t],
                    tau_long=30.0,
                    chi2_red=1.05,
                )
                for r, t in trpl
            ],
            batch_size=4000,
        )
        # devices: one per 16 samples, each with a photoresponse measurement and its metrics
        devices = Device.objects.bulk_create(
            [
                Device(**common, code=f"D-{i:04d}", active_area=0.1, fabricated_on=start)
                for i in range(len(samples) // 16)
            ]
        )
        Device.samples.through.objects.bulk_create(
            [
                Device.samples.through(device_id=d.pk, sample_id=samples[16 * i + j][0])
                for i, d in enumerate(devices)
                for j in range(0, 16, 4)
            ]
        )
        meas = DeviceMeasurement.objects.bulk_create(
            [
                DeviceMeasurement(**common, device=d, kind="photoresponse", date=start, bias=0.0)
                for d in devices
            ]
        )
        mjobs = AnalysisJob.objects.bulk_create(
            [
                AnalysisJob(
                    **common,
                    kind="photodetector",
                    measurement=m,
                    input_key=f"m{m.pk:063x}",
                    analysis_version="bench",
                    status="succeeded",
                )
                for m in meas
            ]
        )
        DeviceMetrics.objects.bulk_create(
            [
                DeviceMetrics(
                    **common,
                    job=j,
                    measurement=m,
                    photocurrent=float(rng.uniform(1e-9, 1e-8)),
                    dark_current=1e-11,
                    on_off_ratio=float(rng.uniform(10, 1000)),
                    rise_time=0.05,
                    fall_time=0.07,
                )
                for j, m in zip(mjobs, meas, strict=True)
            ]
        )
    times["records"] = time.perf_counter() - t0

    # particles: COPY, generated with numpy in blocks of 100,000 rows
    t1 = time.perf_counter()
    analyses = list(
        BlinkingAnalysis.objects.filter(project=project)
        .order_by("pk")
        .values_list("pk", "run__sample__treatment_id")
    )
    fields = [f for f in Particle._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    now = "2024-01-01 00:00:00+00"
    n_total = per * len(analyses)
    block = 100_000
    with connection.cursor() as cur:
        copy_sql = f"COPY {Particle._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with cur.copy(copy_sql) as copy:
            for lo in range(0, n_total, block):
                n = min(block, n_total - lo)
                idx = np.arange(lo, lo + n)
                a = idx // per
                pct = np.array([pct_of[analyses[i][1]] for i in range(a[0], a[-1] + 1)])[a - a[0]]
                cls = idx % len(CLASSES)
                values = {
                    "project_id": np.full(n, project.pk).astype(str),
                    "created_at": np.full(n, now),
                    "modified_at": np.full(n, now),
                    "created_by_id": np.full(n, user.pk).astype(str),
                    "version": np.full(n, "1"),
                    "analysis_id": np.array([analyses[i][0] for i in range(a[0], a[-1] + 1)])[
                        a - a[0]
                    ].astype(str),
                    "index": (idx % per + 1).astype(str),
                    "centroid_y_px": np.char.mod("%.2f", rng.uniform(0, 512, n)),
                    "centroid_x_px": np.char.mod("%.2f", rng.uniform(0, 512, n)),
                    "area_px": rng.integers(5, 60, n).astype(str),
                    "edge": np.char.mod("%.4f", rng.uniform(0.2, 3.0, n)),
                    "trace_class": np.array([c for c, _ in CLASSES])[cls],
                    "subclass": np.array([s for _, s in CLASSES])[cls],
                    "threshold": np.char.mod("%.1f", rng.uniform(100, 1000, n)),
                    "fraction_on": np.char.mod("%.4f", rng.uniform(0, 1, n)),
                    "mean_on": np.char.mod("%.4f", rng.uniform(0.1, 3, n)),
                    "mean_off": np.char.mod("%.4f", rng.uniform(0.1, 3, n)),
                    "n_on": rng.integers(1, 200, n).astype(str),
                    "n_off": rng.integers(1, 200, n).astype(str),
                    "alpha_on": np.char.mod("%.4f", 1.0 + pct / 100 + rng.normal(0, 0.1, n)),
                    "alpha_on_err": np.char.mod("%.4f", rng.uniform(0.01, 0.1, n)),
                    "mu_on": np.char.mod("%.4f", rng.uniform(0, 0.1, n)),
                    "alpha_off": np.char.mod("%.4f", 0.9 + rng.normal(0, 0.1, n)),
                    "alpha_off_err": np.char.mod("%.4f", rng.uniform(0.01, 0.1, n)),
                    "mu_off": np.char.mod("%.4f", rng.uniform(0, 0.1, n)),
                    "correlation_mean": np.char.mod("%.4f", rng.uniform(0, 1, n)),
                    "on_dwell_s": np.full(n, "[]"),
                    "off_dwell_s": np.full(n, "[]"),
                }
                missing = set(columns) - set(values)
                if missing:
                    raise SystemExit(f"benchmark seed does not know Particle columns {sorted(missing)}")
                rows = zip(*(values[c] for c in columns), strict=True)
                buf = io.StringIO()
                buf.writelines("\t".join(r) + "\n" for r in rows)
                copy.write(buf.getvalue())
        cur.execute("ANALYZE")
    times["particles"] = time.perf_counter() - t1
    return times


def ensure_summaries() -> None:
    """The particle summaries of every analysis (the backfill's code, from the particle rows)."""
    from django.db import connection

    from labbook.jobs.backfill import results_summarise
    from labbook.results.models import BlinkingAnalysis
    from labbook.results.summaries import SUMMARY_VERSION

    missing = BlinkingAnalysis.objects.exclude(summary__format_version=SUMMARY_VERSION).count()
    if not missing:
        return
    t = time.perf_counter()
    done = results_summarise()
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(
        f"particle summaries: {done['particle_summaries']:,} analyses summarised from their particle rows "
        f"in {time.perf_counter() - t:.1f} s (the backfill, once)"
    )


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _fmt(ts: list[float]) -> str:
    return f"median {1000 * statistics.median(ts):8.1f} ms   best {1000 * min(ts):8.1f} ms"


RAW_COMPARISON = {
    "particles": """
        SELECT s.treatment_id, COUNT(p.id),
          {stats}
        FROM {particle} p
        JOIN {analysis} a ON a.id = p.analysis_id
        JOIN {run} r ON r.id = a.run_id
        JOIN {sample} s ON s.id = r.sample_id
        WHERE p.project_id IN (SELECT m.project_id FROM {membership} m WHERE m.user_id = %(user)s)
        GROUP BY s.treatment_id""",
    "classes": """
        SELECT s.treatment_id, p.trace_class, p.subclass, COUNT(p.id)
        FROM {particle} p
        JOIN {analysis} a ON a.id = p.analysis_id
        JOIN {run} r ON r.id = a.run_id
        JOIN {sample} s ON s.id = r.sample_id
        WHERE p.project_id IN (SELECT m.project_id FROM {membership} m WHERE m.user_id = %(user)s)
        GROUP BY s.treatment_id, p.trace_class, p.subclass""",
    "population": """
        SELECT s.treatment_id, COUNT(a.id), AVG(a.on_alpha), AVG(a.on_alpha * a.on_alpha), AVG(a.off_alpha),
               AVG(a.off_alpha * a.off_alpha), AVG(a.correlation_mean)
        FROM {analysis} a JOIN {run} r ON r.id = a.run_id JOIN {sample} s ON s.id = r.sample_id
        WHERE a.project_id IN (SELECT m.project_id FROM {membership} m WHERE m.user_id = %(user)s)
        GROUP BY s.treatment_id""",
    "lifetimes": """
        SELECT s.treatment_id, COUNT(l.id), AVG(l.tau_avg_amp), AVG(l.tau_avg_int), AVG(l.tau_long),
               AVG(l.amplitude_long), AVG(l.chi2_red)
        FROM {lifetime} l JOIN {run} r ON r.id = l.run_id JOIN {sample} s ON s.id = r.sample_id
        WHERE l.project_id IN (SELECT m.project_id FROM {membership} m WHERE m.user_id = %(user)s)
        GROUP BY s.treatment_id""",
    "devices": """
        SELECT s.treatment_id, COUNT(DISTINCT d.id), AVG(d.photocurrent), AVG(d.dark_current), AVG(d.on_off_ratio),
               AVG(d.rise_time), AVG(d.fall_time), AVG(d.responsivity)
        FROM {metrics} d JOIN {measurement} dm ON dm.id = d.measurement_id
        LEFT JOIN {device_samples} ds ON ds.device_id = dm.device_id LEFT JOIN {sample} s ON s.id = ds.sample_id
        WHERE dm.kind = 'photoresponse'
          AND d.project_id IN (SELECT m.project_id FROM {membership} m WHERE m.user_id = %(user)s)
        GROUP BY s.treatment_id""",
    "labels": "SELECT id, code, cl_to_i, nominal_cl_percent, solvent_fraction FROM {treatment} WHERE id = ANY(%(ids)s)",
}


def raw_comparison(user_id: int) -> int:
    """The comparison's aggregate as hand-written SQL (PostgreSQL): the same grouped statistics,
    medians, class counts, population fits, lifetimes, devices and labels; returns the group count."""
    from django.db import connection

    from labbook.characterization.models import CharacterizationRun
    from labbook.devices.models import Device, DeviceMeasurement
    from labbook.projects.models import Membership
    from labbook.results.models import BlinkingAnalysis, DeviceMetrics, LifetimeFit, Particle
    from labbook.results.selectors import PARTICLE_STATS
    from labbook.synthesis.models import PostTreatment, Sample

    stats = ",\n          ".join(
        f"AVG(p.{c}), AVG(p.{c} * p.{c}), COUNT(p.{c}), PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY p.{c})"
        for c in PARTICLE_STATS.values()
    )
    names = dict(
        stats=stats,
        particle=Particle._meta.db_table,
        analysis=BlinkingAnalysis._meta.db_table,
        run=CharacterizationRun._meta.db_table,
        sample=Sample._meta.db_table,
        membership=Membership._meta.db_table,
        lifetime=LifetimeFit._meta.db_table,
        metrics=DeviceMetrics._meta.db_table,
        measurement=DeviceMeasurement._meta.db_table,
        device_samples=Device.samples.through._meta.db_table,
        treatment=PostTreatment._meta.db_table,
    )
    groups: dict = {}
    with connection.cursor() as cur:
        for part in ("particles", "classes", "population", "lifetimes", "devices"):
            cur.execute(RAW_COMPARISON[part].format(**names), {"user": user_id})
            for row in cur.fetchall():
                groups.setdefault(row[0], {})[part] = row[1:]
        cur.execute(RAW_COMPARISON["labels"].format(**names), {"ids": [k for k in groups if k is not None]})
        for row in cur.fetchall():
            groups.setdefault(row[0], {})["label"] = row[1:]
    return len(groups)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_csv(client, url: str, repeat: int) -> None:
    """Rows per second of a streamed CSV export, and how much the process grew while streaming it."""
    rates, growth, n_rows, n_bytes = [], [], 0, 0
    for _ in range(repeat):
        base = _rss_mb()
        peak = base
        t = time.perf_counter()
        r = client.get(url)
        if r.status_code != 200 or not r.streaming:
            raise SystemExit(f"{url}: {r.status_code}, streaming={getattr(r, 'streaming', None)}")
        n_rows = n_bytes = 0
        for i, chunk in enumerate(r.streaming_content):
            n_rows += chunk.count(b"\n")
            n_bytes += len(chunk)
            if i % 64 == 0:
                peak = max(peak, _rss_mb())
        r.close()
        dt_s = time.perf_counter() - t
        rates.append((n_rows - 1) / dt_s)
        growth.append(max(peak, _rss_mb()) - base)
    print(
        f"{url:<58} {n_rows - 1:>9,} rows, {n_bytes / 2**20:6.1f} MB: median {statistics.median(rates):>9,.0f} rows/s, "
        f"best {max(rates):>9,.0f} rows/s; process grew <= {max(growth):.0f} MB while streaming"
    )


def measure_xlsx(client, url: str, repeat: int) -> None:
    """Rows per second of an Excel export (written to a temporary file, then sent)."""
    import openpyxl

    rates = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(url)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code}")
        body = b"".join(r.streaming_content)
        rates.append(time.perf_counter() - t)
    n_rows = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active.max_row - 1
    print(
        f"{url:<58} {n_rows:>9,} rows, {len(body) / 2**20:6.1f} MB: median {n_rows / statistics.median(rates):>9,.0f} rows/s, "
        f"best {n_rows / min(rates):>9,.0f} rows/s"
    )


def measure_lists(get, lists: list[tuple[str, str]], repeat: int) -> None:
    """Each list page against the project list (the first of ``lists``), called alternately, so
    that a machine busy with other work slows both alike; the ratio of the best times is the
    figure (the median ratio beside it)."""
    (ref_label, ref_url), others = lists[0], lists[1:]
    print(
        f"\n{'request':<58} server time over {repeat} calls, each after a call of the project list"
        "   x project list (best, median)"
    )
    refs = []
    rows = []
    for label, url in others:
        get(ref_url)()
        get(url)()
        ref_t, ts = [], []
        for _ in range(repeat):
            ref_t += _timed(get(ref_url), 1)
            ts += _timed(get(url), 1)
        refs += ref_t
        rows.append((label, ts, min(ts) / min(ref_t), statistics.median(ts) / statistics.median(ref_t)))
    print(f"{ref_label:<58} {_fmt(refs)}   1.00x")
    for label, ts, best, median in rows:
        flag = "" if best <= 3 else "   over 3x"
        print(f"{label:<58} {_fmt(ts)}   {best:5.2f}x {median:5.2f}x{flag}")
    worst = max(rows, key=lambda r: r[2])
    print(
        f"  (target: every list page of 50 within 3x of the project list; worst: {worst[0].split('(')[0].strip()} "
        f"{worst[2]:.2f}x)"
    )


def measure(repeat: int, *, lists_only: bool = False) -> None:
    import json

    from django.contrib.auth import get_user_model
    from django.test import Client

    from labbook.synthesis.models import PostTreatment, Synthesis

    user = get_user_model().objects.get(username="bench")
    client = Client()
    client.force_login(user)
    t_ids = ",".join(str(i) for i in PostTreatment.objects.order_by("pk").values_list("pk", flat=True)[:40])
    pool = Synthesis.objects.order_by("pk").values_list("pk", flat=True).first()

    def get(url):
        def call():
            r = client.get(url)
            if r.status_code != 200:
                raise SystemExit(f"{url}: {r.status_code} {r.content[:300]!r}")
            return r

        return call

    lists = [
        ("list  projects (page of 50): the reference", "/api/projects/"),
        ("list  batches (page of 50)", "/api/batches/"),
        ("list  treatments (page of 50)", "/api/treatments/"),
        ("list  samples (page of 50)", "/api/samples/"),
        ("list  runs (page of 50)", "/api/runs/"),
        ("list  jobs (page of 50)", "/api/jobs/"),
        ("list  blinking analyses (page of 50)", "/api/results/blinking/"),
        ("list  lifetime fits (page of 50)", "/api/results/lifetimes/"),
        ("list  device metrics (page of 50)", "/api/results/device-metrics/"),
        ("list  devices (page of 50)", "/api/devices/"),
        ("list  device measurements (page of 50)", "/api/measurements/"),
        ("list  particles (page of 50)", "/api/results/particles/"),
        (
            "list  particles 3 % Cl (lineage filter, page of 50)",
            "/api/results/particles/?treatment_nominal_cl=3",
        ),
    ]
    others = [
        ("list  particles (page of 1000)", "/api/results/particles/?page_size=1000"),
        ("list  particles (page 200 of 50)", "/api/results/particles/?page=200"),
        ("filter treatments cl_to_i 2.5-3.5 %", "/api/treatments/?cl_to_i__gte=2.5 %25&cl_to_i__lte=3.5"),
        (
            "filter runs trpl, excitation >= 480 nm",
            "/api/runs/?technique=trpl&excitation_wavelength__gte=0.48 um",
        ),
        (
            "filter particles 3 % Cl, batch after 2022-06-01",
            "/api/results/particles/?treatment_nominal_cl=3&batch_date__gte=2022-06-01",
        ),
        (
            "filter particles PEB under 1 um, ordered by alpha_on",
            "/api/results/particles/?trace_class=PEB&edge__lt=1000 nm&ordering=-alpha_on",
        ),
        ("filter particles made from batch 1 (lineage)", f"/api/results/particles/?made_from={pool}"),
        ("search batch notes (full text)", "/api/batches/?q=toluene"),
        ("comparison 40 treatments", f"/api/comparisons/?treatments={t_ids}"),
        ("comparison group_by=treatment (4,000 groups)", "/api/comparisons/?group_by=treatment"),
        (
            "comparison group_by=nominal, particle filter edge < 1 um",
            "/api/comparisons/?group_by=nominal_cl_percent&edge__lt=1 um",
        ),
    ]
    measure_lists(get, lists, repeat)
    if lists_only:
        return

    get("/api/comparisons/?group_by=nominal_cl_percent")()
    ts = _timed(get("/api/comparisons/?group_by=nominal_cl_percent"), repeat)
    print(
        f"\n{'group_by=nominal_cl_percent over 1M particles (summaries)':<58} {_fmt(ts)}   (target < 1000 ms)"
    )

    print()
    for label, url in others:
        get(url)()
        print(f"{label:<58} {_fmt(_timed(get(url), repeat))}")

    print("\nparticle CSV export (?format=csv: streamed, filters apply, units in the header)")
    measure_csv(client, "/api/results/particles/?format=csv", repeat)
    measure_csv(client, "/api/results/particles/?format=csv&treatment_nominal_cl=3&edge__lt=1 um", repeat)
    print("  (target >= 100,000 rows/s)")
    print("\nother lists as CSV and Excel (every row the filters select; links flattened to codes)")
    measure_csv(client, "/api/runs/?format=csv", repeat)
    measure_csv(client, "/api/treatments/?format=csv", repeat)
    measure_xlsx(client, "/api/treatments/?format=xlsx", repeat)
    measure_xlsx(client, "/api/results/particles/?format=xlsx&treatment_nominal_cl=3&edge__lt=1 um", 1)

    # the comparison endpoint (every treatment: 4,000 groups) against the raw SQL over the particles
    endpoint = get("/api/comparisons/?group_by=treatment")
    n_groups = len(json.loads(endpoint().content)["groups"])
    n_raw = raw_comparison(user.pk)
    api_t, raw_t = [], []
    for _ in range(repeat):
        api_t += _timed(endpoint, 1)
        raw_t += _timed(lambda: raw_comparison(user.pk), 1)
    print(
        f"\ncomparison group_by=treatment, all treatments ({n_groups} groups via the API, {n_raw} via raw SQL)"
    )
    print(f"  API endpoint (summaries + JSON)    {_fmt(api_t)}")
    print(f"  raw SQL over the particle rows     {_fmt(raw_t)}")
    print(
        f"  ratio API / raw SQL: median {statistics.median(api_t) / statistics.median(raw_t):.2f}x, best {min(api_t) / min(raw_t):.2f}x"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default="labbook_bench")
    p.add_argument("--reuse", action="store_true", help="measure on an already seeded database")
    p.add_argument("--batches", type=int, default=1000)
    p.add_argument("--particles", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--lists-only", action="store_true", help="only the list pages against the project list")
    args = p.parse_args()

    must_seed = _create_database(args.db, reuse=args.reuse)
    work = Path(tempfile.mkdtemp(prefix="labbook-bench-api-"))
    os.environ.update(
        {
            "DATABASE_URL": f"{BASE_URL}/{args.db}",
            "LABBOOK_VAR_DIR": str(work),
            "MEDIA_ROOT": str(work / "media"),
            "DEBUG": "0",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.urls import include, path

    urlpatterns[:] = [
        path("files/", include("labbook.pages.files.urls")),  # the artifact links of results
        path("api/", include("labbook.api.urls")),
    ]
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]

    t = time.perf_counter()
    call_command("migrate", verbosity=0)  # a reused database may predate the latest migrations
    print(f"migrate: {time.perf_counter() - t:.1f} s")
    if must_seed:
        times = seed(batches=args.batches, particles=args.particles)
        print(f"seed: records {times['records']:.1f} s, particles (COPY) {times['particles']:.1f} s")
    from django.db import connection

    with connection.cursor() as cur:
        counts = {}
        for table in (
            "synthesis_synthesis",
            "synthesis_posttreatment",
            "characterization_characterizationrun",
            "results_particle",
        ):
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
    print("rows: " + ", ".join(f"{k.split('_', 1)[1]} {v:,}" for k, v in counts.items()))
    ensure_summaries()
    measure(args.repeat, lists_only=args.lists_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
