"""``manage.py verify_manifest MANIFEST [--public-key KEY] [--files DIR]``: check a freeze manifest.

Verifies the Ed25519 signature offline (no database needed), pinned to ``--public-key`` (a file
holding the base64 public key, e.g. the ``.pub`` written beside the manifest, or the key itself);
with ``--files DIR`` also checks every listed file's SHA-256 against the blobs under ``DIR``
(a MEDIA_ROOT: ``raw/<sha[:2]>/<sha>``). Exit code 0 when valid, 2 otherwise, one line each way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labbook.archives.signing import BadSignature, verify


class Command(BaseCommand):
    help = "Verify the Ed25519 signature of a freeze manifest (and optionally the files it lists)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path)
        parser.add_argument("--public-key", help="file with the base64 public key, or the key itself")
        parser.add_argument("--files", type=Path, help="a MEDIA_ROOT whose raw/ blobs to check")

    def handle(self, *args, manifest: Path, public_key=None, files=None, **options):
        try:
            signed = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {manifest}: {exc}", returncode=2) from None
        key = None
        if public_key:
            path = Path(public_key)
            key = path.read_text().strip() if path.exists() else public_key.strip()
        try:
            payload = verify(signed, public_key_b64=key)
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
        pinned = "" if key else " (key taken from the manifest: pass --public-key to check who signed)"
        self.stdout.write(
            f"{manifest}: valid signature; project {payload['project']['slug']}, "
            f"{len(payload.get('files', []))} files, {len(payload.get('records', []))} records, "
            f"frozen {payload['frozen_at']} by {payload['frozen_by']}{pinned}"
        )
