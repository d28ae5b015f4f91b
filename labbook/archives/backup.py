"""Back up the whole instance (database + stored files) to one zip, and restore it.

The database goes as Django JSON fixtures (``dumpdata --natural-foreign --natural-primary``, so
content types and permissions resolve by name in the new database), history, freeze events and
imported-record marks included. The files are MEDIA_ROOT as it is (raw blobs under their SHA-256,
freeze manifests). ``backup.json`` lists every member with its SHA-256; a restore checks them all
before it writes anything, refuses a database that is not empty, and loads everything in one
transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from labbook.archives.eln import ElnError, check_entries
from labbook.projects.models import Project
from labbook.projects.signals import restoring_backup

ROOT = "labbook-backup"
#: archive jobs and their files (MEDIA_ROOT/archive-jobs/) are not backed up: an export is made
#: again in seconds, an upload is removed once imported
EXCLUDE = ["contenttypes", "auth.permission", "sessions", "admin.logentry", "archives.archivejob"]
SKIP_MEDIA = ("archive-jobs",)


class BackupError(ElnError):
    """A backup that cannot be restored; the message says why."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def backup_create(out: Path | str) -> Path:
    """Write the database and MEDIA_ROOT to the zip ``out``; return its path."""
    out = Path(out)
    buf = io.StringIO()
    call_command(
        "dumpdata", natural_foreign=True, natural_primary=True, exclude=EXCLUDE, indent=1, stdout=buf
    )
    db = buf.getvalue().encode()
    members = {"db.json": _sha256(db)}
    media = Path(settings.MEDIA_ROOT)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT}/db.json", db)
        for path in sorted(p for p in media.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(media).as_posix()
            if rel.split("/", 1)[0] in SKIP_MEDIA:
                continue
            h = hashlib.sha256()
            info = zipfile.ZipInfo(f"{ROOT}/media/{rel}", (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    dst.write(chunk)
            members[f"media/{rel}"] = h.hexdigest()
        index = {
            "kind": "labbook backup",
            "format": 1,
            "created": timezone.now().isoformat(),
            "members": members,
        }
        zf.writestr(f"{ROOT}/backup.json", json.dumps(index, indent=1, sort_keys=True))
    tmp.replace(out)
    return out


def backup_restore(path: Path | str) -> dict:
    """Restore the backup at ``path`` into an empty database and MEDIA_ROOT; return counts."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BackupError(f"{path} is not a backup (zip) file: {exc}") from None
    with zf, tempfile.TemporaryDirectory(prefix="labbook-restore-") as tmpdir:
        if check_entries(zf)[0] != ROOT:
            raise BackupError(f"{path} is not a labbook backup (no {ROOT}/ folder)")
        try:
            index = json.loads(zf.read(f"{ROOT}/backup.json"))
            members = index["members"]
        except (KeyError, ValueError) as exc:
            raise BackupError(f"{path} has no readable backup.json ({exc})") from None
        if index.get("kind") != "labbook backup" or index.get("format") != 1:
            raise BackupError(f"unknown backup format {index.get('kind')!r} {index.get('format')!r}")
        staged = Path(tmpdir)
        for name, sha in members.items():
            parts = name.split("/")
            if ".." in parts or name.startswith("/"):
                raise BackupError(f"member {name!r} escapes the backup")
            try:
                data = zf.read(f"{ROOT}/{name}")
            except KeyError:
                raise BackupError(f"member {name!r} is missing from the backup") from None
            if _sha256(data) != sha:
                raise BackupError(f"member {name!r} does not match its sha256 (checksum mismatch)")
            target = staged / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if get_user_model().objects.exists() or Project.objects.exists():
            raise BackupError("the database is not empty; restore into a freshly migrated database")
        media = Path(settings.MEDIA_ROOT)
        written: list[Path] = []
        try:
            with transaction.atomic(), restoring_backup(), override_settings(SIMPLE_HISTORY_ENABLED=False):
                call_command("loaddata", str(staged / "db.json"), verbosity=0)
                for src in sorted((staged / "media").rglob("*")) if (staged / "media").exists() else []:
                    if src.is_file():
                        dst = media / src.relative_to(staged / "media")
                        if not dst.exists():
                            dst.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copyfile(src, dst)
                            written.append(dst)
        except BaseException:
            for dst in written:
                dst.unlink(missing_ok=True)
            raise
        return {"objects": len(json.loads((staged / "db.json").read_text())), "files": len(written)}
