"""``manage.py ingest FOLDER --run CODE``: attach an instrument folder's files to a run (or measurement).

Files go through :func:`labbook.files.services.raw_files_attach`, the upload path of every door:
streamed into storage under their SHA-256 with a progress bar, verified, stored once per content,
linked, all or nothing per record (one refused file, too large or of an unknown type, leaves
nothing of that record's files behind; other records' files go in). With ``--match``, each file
goes to the run whose code its name starts with (e.g. ``R-3Cl-TRPL_decay.csv``). With
``--user NAME`` the files are attached as that user (an editor of the project; the history says
so); without it, as the command line. With ``--analyse``, the run's natural analysis is queued
afterwards.
"""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import DeviceMeasurement
from labbook.files.services import Upload, raw_files_attach
from labbook.projects.permissions import RecordNotFound


class Command(BaseCommand):
    help = "Store an instrument folder's files (streamed, hashed, once per content) and attach them to runs."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--run", help="code (or id) of the characterisation run to attach every file to")
        target.add_argument(
            "--measurement", type=int, help="id of the device measurement to attach every file to"
        )
        target.add_argument(
            "--match", action="store_true", help="attach each file to the run whose code starts its name"
        )
        parser.add_argument("--pattern", default="*", help="glob of the files to take (default: all)")
        parser.add_argument("--analyse", action="store_true", help="queue the runs' analyses afterwards")
        parser.add_argument("--user", help="attach as this user (must be an editor of the project)")

    def _run(self, key):
        qs = CharacterizationRun.objects.select_related("project")
        run = qs.filter(code=key).first() or (qs.filter(pk=int(key)).first() if str(key).isdigit() else None)
        if run is None:
            raise CommandError(f"no characterisation run {key!r}", returncode=2)
        return run

    def handle(
        self, *args, folder, run, measurement, match, pattern, analyse, verbosity, user=None, **options
    ):
        root = Path(folder)
        if not root.is_dir():
            raise CommandError(f"{folder}: not a folder", returncode=2)
        files = sorted(p for p in root.glob(pattern) if p.is_file())
        if not files:
            raise CommandError(f"{folder}: no files matching {pattern!r}", returncode=2)
        who = None
        if user:
            from django.contrib.auth import get_user_model

            who = get_user_model().objects.filter(username=user, is_active=True).first()
            if who is None:
                raise CommandError(f"no active user {user!r}", returncode=2)
        targets: dict = {}
        if run:
            targets[self._run(run)] = files
        elif measurement:
            target = DeviceMeasurement.objects.select_related("project").filter(pk=measurement).first()
            if target is None:
                raise CommandError(f"no device measurement {measurement}", returncode=2)
            targets[target] = files
        else:
            runs = sorted(CharacterizationRun.objects.select_related("project"), key=lambda r: -len(r.code))
            for p in files:
                found = next((r for r in runs if p.name.startswith(r.code)), None)
                if found is None:
                    self.stderr.write(f"skipped {p.name}: no run code starts its name")
                else:
                    targets.setdefault(found, []).append(p)
        failed = 0
        touched = []
        for target, paths in targets.items():
            bars = {
                p.name: tqdm(
                    total=p.stat().st_size,
                    unit="B",
                    unit_scale=True,
                    desc=p.name,
                    disable=verbosity == 0 or p.stat().st_size < 2**20,
                    file=self.stderr,
                )
                for p in paths
            }
            seen = dict.fromkeys(bars, 0)

            def progress(name, n, bars=bars, seen=seen):
                bars[name].update(n - seen[name])
                seen[name] = n

            try:
                stored = raw_files_attach(
                    user=who,
                    target=target,
                    files=[Upload(name=p.name, path=p, size=p.stat().st_size) for p in paths],
                    reason=f"manage.py ingest {root.name}",
                    progress=progress,
                )
            except (ValidationError, PermissionDenied, RecordNotFound) as exc:
                failed += len(paths)
                why = "; ".join(getattr(exc, "messages", None) or [str(exc) or "not allowed"])
                self.stderr.write(f"refused {', '.join(p.name for p in paths)} for {target}: {why}")
                continue
            finally:
                for bar in bars.values():
                    bar.close()
            touched.append(target)
            for path, raw in zip(paths, stored, strict=True):
                self.stdout.write(f"{path.name} -> {target} ({raw.sha256[:12]}…, {raw.size} bytes)")
        if analyse:
            from labbook.jobs.services import job_submit_natural, natural_kind

            for target in touched:
                if natural_kind(target) is None:
                    continue
                job = job_submit_natural(target=target, user=who)
                self.stdout.write(f"analysis job {job.pk} ({job.kind}) for {target}: {job.status}")
        if failed:
            raise CommandError(f"{failed} file(s) refused", returncode=2)
