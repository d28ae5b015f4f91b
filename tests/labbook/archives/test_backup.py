"""Backups: everything out to one zip, restored into an empty database, compared."""

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from labbook.archives.backup import EXCLUDE, BackupError, backup_restore
from labbook.archives.services import project_freeze
from labbook.files.models import RawFile
from labbook.synthesis.models import Sample, Synthesis


def _dump() -> list:
    buf = io.StringIO()
    call_command("dumpdata", natural_foreign=True, natural_primary=True, exclude=EXCLUDE, stdout=buf)
    # dumpdata cuts a time to milliseconds: 12:00:00.000321 is written "12:00:00.000", and once
    # restored (12:00:00.000000) "12:00:00": the same instant, so both are compared as the latter
    return sorted(
        re.sub(r'(T\d\d:\d\d:\d\d)\.000(Z|[+-]\d\d:\d\d)?"', r'\1\2"', json.dumps(o, sort_keys=True))
        for o in json.loads(buf.getvalue())
    )


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_an_empty_database_gives_everything_back(
    series, admin_user, signing_key, tmp_path
):
    batch = Synthesis.objects.filter(project=series).order_by("code").first()
    batch.notes = "a change kept in history"
    batch.save()
    Sample.objects.filter(project=series, runs__isnull=True).order_by("code").first().delete()
    project_freeze(project=series, user=admin_user, reason="published")
    before = _dump()
    media = Path(settings.MEDIA_ROOT)
    files_before = {p.relative_to(media): p.read_bytes() for p in media.rglob("*") if p.is_file()}
    out = tmp_path / "backup.zip"
    call_command("backup", str(out), stdout=io.StringIO())

    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(media)
    media.mkdir()
    assert not Synthesis.objects.exists()

    msg = io.StringIO()
    call_command("restore", str(out), stdout=msg)
    assert "restored" in msg.getvalue()
    after = _dump()
    assert set(after) ^ set(before) == set()  # records, history, freeze events, users, memberships
    assert after == before
    assert {p.relative_to(media): p.read_bytes() for p in media.rglob("*") if p.is_file()} == files_before
    assert RawFile.objects.count() == 4
    # the restored project is still frozen, with its history
    restored = Synthesis.objects.get(pk=batch.pk)
    assert restored.project.is_frozen
    assert restored.history.count() == 2


@pytest.mark.django_db
def test_restore_refuses_a_database_that_is_not_empty_and_a_tampered_backup(series, tmp_path):
    out = tmp_path / "b.zip"
    call_command("backup", str(out), stdout=io.StringIO())
    with pytest.raises(BackupError, match="not empty"):
        backup_restore(out)
    with pytest.raises(CommandError, match="not empty") as exc:
        call_command("restore", str(out))
    assert exc.value.returncode == 2

    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("db.json"):
                data = data.replace(b"MINI", b"MAXI")
            dst.writestr(info, data)
    with pytest.raises(BackupError, match="checksum mismatch"):  # checked before anything else
        backup_restore(tampered)
    with pytest.raises(BackupError, match="not a backup"):
        (tmp_path / "x.zip").write_bytes(b"nope")
        backup_restore(tmp_path / "x.zip")
