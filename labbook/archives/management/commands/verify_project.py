"""``manage.py verify_project SLUG [--manifest FILE] [--public-key KEY] [--rows-only]``: check a
frozen project's live records and stored files against its freeze manifest.

The manifest (the latest freeze's, or ``--manifest``) is first verified against a pinned key
(``--public-key``, else this instance's); then every record's content hash, every raw file row and
the SHA-256 of its stored bytes are recomputed. Prints one line per changed, missing or extra record
or file. Exit code 0 when everything matches, 2 otherwise (a difference, a bad signature, no
manifest).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labbook.archives.signing import BadSignature
from labbook.archives.verification import project_verify
from labbook.projects.models import Project


class Command(BaseCommand):
    help = "Compare a frozen project's database rows and stored files with its signed freeze manifest."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--manifest", type=Path, help="a manifest file (default: the latest freeze's)")
        parser.add_argument("--public-key", help="file with the base64 public key, or the key itself")
        parser.add_argument(
            "--rows-only", action="store_true", help="skip hashing the stored bytes of every file"
        )

    def handle(self, *args, slug, manifest=None, public_key=None, rows_only=False, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project {slug!r}", returncode=2)
        key, signed = None, None
        try:
            if public_key:
                path = Path(public_key)
                key = path.read_text().strip() if path.is_file() else public_key.strip()
            if manifest is not None:
                signed = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {exc}", returncode=2) from None
        try:
            report = project_verify(project=project, signed=signed, public_key=key, check_bytes=not rows_only)
        except BadSignature as exc:
            raise CommandError(f"{slug}: manifest INVALID: {exc}", returncode=2) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages), returncode=2) from None
        for line in report.problems():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(report.summary(), returncode=2)
        self.stdout.write(report.summary())
