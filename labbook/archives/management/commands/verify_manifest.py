"""``manage.py verify_manifest MANIFEST [--public-key KEY] [--files DIR] [--database]``: check a
freeze manifest.

Verifies the Ed25519 signature against a pinned key: ``--public-key`` (a file holding the base64
public key, or the key itself), else the keys this instance trusts (derived from
``ARCHIVE_SIGNING_KEY`` / ``var/archive_signing_key``, plus ``ARCHIVE_PUBLIC_KEYS``). The ``.pub``
beside the manifest is never used implicitly: whoever can rewrite the manifest can rewrite it too.
No database is needed for that. With ``--files DIR`` it also checks every listed file's SHA-256
against the blobs under ``DIR`` (a MEDIA_ROOT: ``raw/<sha[:2]>/<sha>``); with ``--database`` it
compares the live database (every record's content hash, every raw file row and its stored bytes)
with the manifest. Exit code 0 when everything matches, 2 otherwise.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labbook.archives.signing import BadSignature, verify_trusted


class Command(BaseCommand):
    help = "Verify the Ed25519 signature of a freeze manifest (and the files it lists, or the live database)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path)
        parser.add_argument(
            "--public-key",
            help="file with the base64 public key, or the key itself (default: this instance's)",
        )
        parser.add_argument("--files", type=Path, help="a MEDIA_ROOT whose raw/ blobs to check")
        parser.add_argument(
            "--database",
            action="store_true",
            help="also compare the live database's records and files with the manifest",
        )

    def handle(self, *args, manifest: Path, public_key=None, files=None, database=False, **options):
        try:
            signed = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {manifest}: {exc}", returncode=2) from None
        key = None
        if public_key:
            path = Path(public_key)
            try:
                key = path.read_text().strip() if path.is_file() else public_key.strip()
            except OSError as exc:
                raise CommandError(f"cannot read {public_key}: {exc}", returncode=2) from None
        try:
            payload = verify_trusted(signed, public_key_b64=key)
        except BadSignature as exc:
            raise CommandError(f"{manifest}: INVALID: {exc}", returncode=2) from None
        bad = []
        if files is not None:
            for entry in payload.get("files", []):
                blob = files / "raw" / entry["sha256"][:2] / entry["sha256"]
                if not blob.is_file():
                    bad.append(f"{entry['name']} missing")
                    continue
                h = hashlib.sha256()
                with blob.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                if h.hexdigest() != entry["sha256"]:
                    bad.append(f"{entry['name']} changed")
        if bad:
            raise CommandError(
                f"{manifest}: signature valid but files differ: {', '.join(bad)}", returncode=2
            )
        if database:
            self.compare_database(manifest, payload)
        self.stdout.write(
            f"{manifest}: valid signature; project {payload['project']['slug']}, "
            f"{len(payload.get('files', []))} files, {len(payload.get('records', []))} records, "
            f"frozen {payload['frozen_at']} by {payload['frozen_by']}"
        )

    def compare_database(self, manifest: Path, payload: dict) -> None:
        from labbook.archives.verification import manifest_compare
        from labbook.projects.models import Project

        project = Project.objects.filter(pk=payload["project"]["id"], slug=payload["project"]["slug"]).first()
        if project is None:
            raise CommandError(
                f"{manifest}: signature valid but project {payload['project']['slug']!r} is not in the database",
                returncode=2,
            )
        report = manifest_compare(payload=payload, project=project)
        for line in report.problems():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(
                f"{manifest}: signature valid but the database differs: {report.summary()}", returncode=2
            )
        self.stdout.write(report.summary())
