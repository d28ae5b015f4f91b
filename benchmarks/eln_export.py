""".eln export and import speed and memory, against a plain copy of the same bytes, side by side.

Builds, in a fresh SQLite database under a temporary folder, the paper's demo series with ~137 MB of
raw files (``--mb``: synthetic EM-CCD TIFF movies from ``analysis.simulate`` as the demo makes them,
plus the demo's small instrument files), as two projects: "full" (every movie) and "small" (one
movie, for the memory comparison). Each measurement runs in a fresh subprocess, so its peak RSS
(``VmHWM`` of /proc/self/status) is its own:

  (a) ``shutil.copyfile`` of the same raw files (the disk's speed, warm page cache);
  (b) ``eln_export`` as it is (large binary files stored, small and text files deflated, every
      file hashed on the way), of "full" and of "small": time, MB/s, archive size, peak RSS;
  (c) the same export with every file deflated at level 6 (what it did before) and at level 1;
  (d) ``eln_import`` of (b)'s archive as a new project.

    .venv/bin/python benchmarks/eln_export.py             # ~137 MB of raw files, ~1 min with set-up
    .venv/bin/python benchmarks/eln_export.py --mb 1000   # a bigger project
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FRAME_BYTES = 96 * 96 * 2  # the demo's movies: 96 x 96 uint16


def _setup_django(work: Path) -> None:
    os.environ.update({"LABBOOK_VAR_DIR": str(work), "MEDIA_ROOT": str(work / "media"), "DEBUG": "0"})
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()


def _memory() -> dict[str, float]:
    status = Path("/proc/self/status").read_text().splitlines()
    values = {line.split(":")[0]: line.split()[1] for line in status if line.startswith(("VmHWM", "VmRSS"))}
    return {k: int(v) / 1024 for k, v in values.items()}  # MB


def build(work: Path, mb: float) -> None:
    """The database and the raw files: "full" (the demo's records, its small instrument files and
    the movies) and "small" (one movie)."""
    _setup_django(work)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from labbook.characterization.models import CharacterizationRun
    from labbook.demo import DEMO_FILES, DEMO_MOVIES, load_paper_series, make_demo_movie
    from labbook.files.services import raw_file_store
    from labbook.projects.models import Membership, Project, Role

    user = get_user_model().objects.create(username="bench", is_superuser=True)
    full = load_paper_series(user=user, with_files=False)
    Project.objects.filter(pk=full.pk).update(slug="full")
    small = Project.objects.create(name="small", slug="small")
    Membership.objects.create(project=small, user=user, role=Role.ADMIN)

    def store(project, path: Path):
        with path.open("rb") as fh:
            return raw_file_store(project=project, fileobj=fh, original_name=path.name, user=user)

    for path in sorted(p for p in DEMO_FILES.iterdir() if p.is_file() and p.suffix != ".txt"):
        store(full, path)  # spectra, decays, XRD scans, I-V logs: small text files
    n = min(len(DEMO_MOVIES), max(1, round(mb * 1e6 / (2400 * FRAME_BYTES))))
    frames = int(mb * 1e6 / n / FRAME_BYTES)
    for i, pct in enumerate(list(DEMO_MOVIES)[:n]):
        path = work / f"blinking_{pct}pct_cl.tif"
        print(f"  generating movie {i + 1}/{n}: {frames} x 96 x 96 uint16 ...", flush=True)
        make_demo_movie(path, pct, frames=frames)
        run = CharacterizationRun.objects.get(project=full, code=f"R-{pct}Cl-BLINK")
        run.raw_files.add(store(full, path))
        if i == 0:
            store(small, path)
        path.unlink()


def measure(work: Path, kind: str, arg: str) -> dict:
    """One measurement (in its own process)."""
    _setup_django(work)
    import zipfile

    from django.contrib.auth import get_user_model

    from labbook.archives import eln
    from labbook.files.models import RawFile
    from labbook.projects.models import Project

    user = get_user_model().objects.get(username="bench")
    before = _memory()
    out: dict = {}
    if kind == "copy":
        project = Project.objects.get(slug=arg)
        target = work / "copy"
        target.mkdir(exist_ok=True)
        raws = list(RawFile.objects.filter(project=project))
        start = time.perf_counter()
        for raw in raws:
            shutil.copyfile(Path(os.environ["MEDIA_ROOT"]) / raw.storage_name, target / raw.sha256)
        out["seconds"] = time.perf_counter() - start
        out["bytes"] = sum(r.size for r in raws)
        shutil.rmtree(target)
    elif kind.startswith("export"):
        project = Project.objects.get(slug=arg)
        if kind != "export":  # export-deflate6 / export-deflate1: every file deflated at that level
            level = int(kind[-1])
            eln.compression_for = lambda name, media_type, size: (zipfile.ZIP_DEFLATED, level)
        path = work / f"{arg}-{kind}.eln"
        marks: dict[str, float] = {}

        def progress(fraction: float, message: str = "") -> None:
            if fraction >= 0.05 and "files" not in marks:  # the records described, the files next
                marks["files"] = time.perf_counter()

        start = time.perf_counter()
        eln.eln_export(project=project, user=user, out=path, progress=progress)
        out["seconds"] = time.perf_counter() - start
        out["describe_s"] = marks["files"] - start
        out["bytes"] = sum(r.size for r in RawFile.objects.filter(project=project))
        out["archive"] = path.stat().st_size
        if kind != "export":
            path.unlink()
    elif kind == "import":
        path = work / f"{arg}-export.eln"
        start = time.perf_counter()
        eln.eln_import(path=path, user=user, slug=f"imported-{int(time.time() * 1000)}")
        out["seconds"] = time.perf_counter() - start
        out["bytes"] = path.stat().st_size
    after = _memory()
    out["rss_before_mb"], out["peak_rss_mb"] = before["VmRSS"], after["VmHWM"]
    return out


def _run(work: Path, kind: str, arg: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, arg, "--work", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {arg} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=137, help="megabytes of raw files (default 137)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest is printed")
    p.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args.work, *args.measure)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="labbook-bench-eln-"))
    try:
        print(f"building the project in {work} ...", flush=True)
        build(work, args.mb)
        rows = [
            ("(a) shutil.copyfile of the raw files", "copy", "full"),
            ("(b) eln_export (as it is)", "export", "full"),
            ("(b) eln_export of 'small' (1 movie)", "export", "small"),
            ("(c) eln_export, all deflated level 6", "export-deflate6", "full"),
            ("(c) eln_export, all deflated level 1", "export-deflate1", "full"),
            ("(d) eln_import of (b)'s archive", "import", "full"),
        ]
        cpus = os.cpu_count()
        print(
            f"machine: {cpus} cores; warm page cache; fastest of {args.repeat} runs, each in a fresh process"
        )
        print(f"{'':42s} {'MB in':>8s} {'seconds':>8s} {'MB/s':>7s} {'archive MB':>10s} {'peak RSS':>9s}")
        results = {}
        for label, kind, arg in rows:
            runs = [_run(work, kind, arg) for _ in range(args.repeat if kind != "import" else 1)]
            best = min(runs, key=lambda r: r["seconds"])
            results[(kind, arg)] = best
            archive = f"{best['archive'] / 1e6:10.1f}" if "archive" in best else f"{'':10s}"
            describe = f"records described in {best['describe_s']:.2f} s; " if "describe_s" in best else ""
            print(
                f"{label:42s} {best['bytes'] / 1e6:8.1f} {best['seconds']:8.2f} "
                f"{best['bytes'] / 1e6 / best['seconds']:7.0f} {archive} "
                f"{best['peak_rss_mb']:6.0f} MB   ({describe}runs {', '.join(f'{r["seconds"]:.2f}' for r in runs)}; "
                f"RSS before {best['rss_before_mb']:.0f} MB)",
                flush=True,
            )
        copy, export = results[("copy", "full")], results[("export", "full")]
        small = results[("export", "small")]
        print(
            f"export / copy = {export['seconds'] / copy['seconds']:.2f} in time; "
            f"peak RSS full / small = {export['peak_rss_mb']:.0f} / {small['peak_rss_mb']:.0f} MB "
            f"for {export['bytes'] / 1e6:.0f} / {small['bytes'] / 1e6:.0f} MB of files"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
