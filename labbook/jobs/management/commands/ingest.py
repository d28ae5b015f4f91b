"""``manage.py ingest FOLDER --run CODE``: attach an instrument folder's files to a run (or measurement).

Files are streamed into storage under their SHA-256 with a progress bar, verified, stored once per
content; a file that fails (too large, unreadable) leaves nothing behind, the others go in. With
``--match``, each file goes to the run whose code its name starts with (e.g. ``R-3Cl-TRPL_decay.csv``).
With ``--analyse``, the run's natural analysis is queued afterwards.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import DeviceMeasurement
from labbook.files.services import raw_file_store


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

    def _run(self, key):
        qs = CharacterizationRun.objects.select_related("project")
        run = qs.filter(code=key).first() or (qs.filter(pk=int(key)).first() if str(key).isdigit() else None)
        if run is None:
            raise CommandError(f"no characterisation run {key!r}", returncode=2)
        return run

    def handle(self, *args, folder, run, measurement, match, pattern, analyse, verbosity, **options):
        root = Path(folder)
        if not root.is_dir():
            raise CommandError(f"{folder}: not a folder", returncode=2)
        files = sorted(p for p in root.glob(pattern) if p.is_file())
        if not files:
            raise CommandError(f"{folder}: no files matching {pattern!r}", returncode=2)
        targets = {}
        if run:
            target = self._run(run)
            targets = {p: target for p in files}
        elif measurement:
            target = DeviceMeasurement.objects.select_related("project").filter(pk=measurement).first()
            if target is None:
                raise CommandError(f"no device measurement {measurement}", returncode=2)
            targets = {p: target for p in files}
        else:
            runs = sorted(CharacterizationRun.objects.select_related("project"), key=lambda r: -len(r.code))
            for p in files:
                found = next((r for r in runs if p.name.startswith(r.code)), None)
                if found is None:
                    self.stderr.write(f"skipped {p.name}: no run code starts its name")
                else:
                    targets[p] = found
        failed = 0
        touched = set()
        for path, target in targets.items():
            size = path.stat().st_size
            with (
                tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc=path.name,
                    disable=verbosity == 0 or size < 2**20,
                    file=self.stderr,
                ) as bar,
                path.open("rb") as fh,
            ):
                seen = [0]

                def progress(n, bar=bar, seen=seen):
                    bar.update(n - seen[0])
                    seen[0] = n

                try:
                    raw = raw_file_store(
                        project=target.project, fileobj=fh, original_name=path.name, progress=progress
                    )
                except ValidationError as exc:
                    failed += 1
                    self.stderr.write(f"refused {path.name}: {'; '.join(exc.messages)}")
                    continue
            target.raw_files.add(raw)
            touched.add(target)
            self.stdout.write(f"{path.name} -> {target} ({raw.sha256[:12]}…, {raw.size} bytes)")
        if analyse:
            from labbook.jobs.services import job_submit_natural, natural_kind

            for target in touched:
                if natural_kind(target) is None:
                    continue
                job = job_submit_natural(target=target)
                self.stdout.write(f"analysis job {job.pk} ({job.kind}) for {target}: {job.status}")
        if failed:
            raise CommandError(f"{failed} file(s) refused", returncode=2)
