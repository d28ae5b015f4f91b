"""A frozen project is checked against its manifest: rows changed behind the freeze guard, stored
bytes replaced in the media folder, and manifests re-signed by someone else are all caught; the key
that verifies is pinned outside the media folder."""

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from labbook.archives import signing
from labbook.archives.services import project_freeze
from labbook.archives.verification import project_verify
from labbook.files.models import RawFile, blob_name
from labbook.notebook.models import NotebookEntry
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen(series, admin_user, signing_key):
    event = project_freeze(project=series, user=admin_user, reason="paper published")
    series.refresh_from_db()
    return event


def _blob(raw: RawFile) -> Path:
    path = Path(settings.MEDIA_ROOT) / blob_name(raw.sha256)
    path.chmod(0o644)
    return path


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _sql_update(model, pk: int, **values) -> None:
    """What someone with database access does: SQL that no Django code (and no guard) sees."""
    sets = ", ".join(f"{_q(model._meta.get_field(k).column)} = %s" for k in values)
    with connection.cursor() as c:
        c.execute(f"UPDATE {_q(model._meta.db_table)} SET {sets} WHERE id = %s", [*values.values(), pk])


def _sql_delete(table: str, column: str, value) -> None:
    with connection.cursor() as c:
        c.execute(f"DELETE FROM {_q(table)} WHERE {_q(column)} = %s", [value])


def _sql_copy(model, pk: int, **overrides) -> None:
    """INSERT a copy of row ``pk`` with ``overrides`` (a new id)."""
    cols = [f.column for f in model._meta.concrete_fields if f.column != "id"]
    select = ", ".join("%s" if c in overrides else _q(c) for c in cols)
    params = [overrides[c] for c in cols if c in overrides]
    with connection.cursor() as c:
        c.execute(
            f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(map(_q, cols))}) "
            f"SELECT {select} FROM {_q(model._meta.db_table)} WHERE id = %s",
            [*params, pk],
        )


def _verify_project(*args):
    out = io.StringIO()
    call_command("verify_project", *args, stdout=out)
    return out.getvalue()


def _refused(command, *args) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(command, *args, stdout=out)
    assert exc.value.returncode == 2 and "\n" not in str(exc.value)
    return out.getvalue() + str(exc.value)


def test_an_untouched_frozen_project_verifies(series, frozen):
    report = project_verify(project=series)
    assert report.ok and report.records_checked == len(frozen.manifest["payload"]["records"])
    assert report.files_checked == 4
    assert "match" in _verify_project(series.slug)


def test_rows_changed_deleted_or_added_behind_the_freeze_guard_are_reported(series, frozen):
    """A SQL UPDATE/DELETE/INSERT bypasses every service; the manifest's record hashes catch it."""
    batch = Synthesis.objects.filter(project=series).order_by("pk").first()
    _sql_update(Synthesis, batch.pk, notes="quietly edited")
    treatment = PostTreatment.objects.filter(project=series).order_by("pk").first()
    _sql_update(PostTreatment, treatment.pk, volume_added=99.0)
    entry = NotebookEntry.objects.get(project=series)
    through = NotebookEntry.treatments.through._meta.db_table
    _sql_delete(through, "notebookentry_id", entry.pk)  # its links to treatments gone
    raw = RawFile.objects.filter(project=series).order_by("pk").last()
    _sql_update(RawFile, raw.pk, sha256="f" * 64)

    report = project_verify(project=series)
    assert not report.ok
    assert set(report.changed_records) >= {
        f"synthesis.Synthesis {batch.pk}",
        f"synthesis.PostTreatment {treatment.pk}",
        f"notebook.NotebookEntry {entry.pk}",
        f"files.RawFile {raw.pk}",
    }
    assert any(f"raw file {raw.pk}" in line for line in report.changed_files)

    text = _refused("verify_project", series.slug)
    assert f"record changed: synthesis.Synthesis {batch.pk}" in text and "DIFFERS" in text

    # a row inserted behind the guard
    _sql_copy(Synthesis, batch.pk, code="SNUCK-IN")
    report = project_verify(project=series)
    assert any(line.startswith("synthesis.Synthesis ") for line in report.extra_records)


def test_a_deleted_row_is_missing(series, frozen):
    entry = NotebookEntry.objects.get(project=series)
    _sql_delete(NotebookEntry.treatments.through._meta.db_table, "notebookentry_id", entry.pk)
    _sql_delete(NotebookEntry._meta.db_table, "id", entry.pk)
    report = project_verify(project=series)
    assert f"notebook.NotebookEntry {entry.pk}" in report.missing_records


def test_replaced_stored_bytes_are_reported_and_not_served(series, frozen, admin_user, caplog):
    raw = RawFile.objects.filter(project=series, original_name="irf.csv").get()
    original = _blob(raw).read_bytes()
    _blob(raw).write_bytes(original.replace(b"0", b"9"))  # same size, other bytes

    report = project_verify(project=series)
    assert any(line.startswith(f"irf.csv (raw file {raw.pk}") for line in report.changed_files)
    assert "file changed: irf.csv" in _refused("verify_project", series.slug)
    # --rows-only skips the bytes: the rows still match
    assert "match" in _verify_project(series.slug, "--rows-only")

    client = Client()
    client.force_login(admin_user)
    with caplog.at_level(logging.ERROR, logger="labbook.files"):
        page = client.get(f"/files/raw/{raw.pk}/")
    assert page.status_code == 409 and b"no longer match its SHA-256" in page.content
    assert any("refused" in r.getMessage() and "irf.csv" in r.getMessage() for r in caplog.records)
    api = client_for(admin_user).get(f"/api/files/{raw.pk}/download/")
    assert api.status_code == 409 and "SHA-256" in api.json()["detail"]

    _blob(raw).write_bytes(original)
    page = client.get(f"/files/raw/{raw.pk}/")
    assert page.status_code == 200 and b"".join(page.streaming_content) == original


def test_a_truncated_blob_is_refused_even_outside_a_frozen_project(series, admin_user):
    raw = RawFile.objects.filter(project=series, original_name="irf.csv").get()
    _blob(raw).write_bytes(b"0")
    client = Client()
    client.force_login(admin_user)
    assert client.get(f"/files/raw/{raw.pk}/").status_code == 409


def test_the_key_beside_the_manifest_is_never_trusted(series, frozen, settings):
    """Someone who can write to the media folder rewrites the manifest to match the tampering, signs
    it with their own key and replaces the .pub beside it: refused, because the key is pinned."""
    batch = Synthesis.objects.filter(project=series).order_by("pk").first()
    _sql_update(Synthesis, batch.pk, notes="forged")
    from labbook.archives.services import manifest_payload

    forged_key = Ed25519PrivateKey.generate()
    payload = manifest_payload(project=series, user=None, at=frozen.at, reason="paper published")
    forged = {
        "algorithm": "Ed25519",
        "payload": payload,
        "signature": base64.b64encode(forged_key.sign(signing.canonical_json(payload))).decode(),
        "public_key": signing.public_key_b64(forged_key),
    }
    path = Path(settings.MEDIA_ROOT) / frozen.manifest_path
    path.chmod(0o644)
    path.write_text(json.dumps(forged))
    pub = path.with_name(path.name.replace(".manifest.json", ".pub"))
    pub.chmod(0o644)
    pub.write_text(forged["public_key"])

    assert "another key" in _refused("verify_manifest", str(path))
    assert "another key" in _refused("verify_manifest", str(path), "--database")
    assert "another key" in _refused("verify_project", series.slug, "--manifest", str(path))
    # the same manifest in the database (FreezeEvent.manifest) is refused as well
    type(frozen).objects.filter(pk=frozen.pk).update(manifest=forged)
    assert "another key" in _refused("verify_project", series.slug)
    # only when the operator explicitly names that key does it verify (and then says so)
    out = io.StringIO()
    call_command("verify_manifest", str(path), "--public-key", str(pub), stdout=out)
    assert "valid signature" in out.getvalue()


def test_verify_manifest_database_mode_and_the_pinned_key(series, frozen, settings):
    path = Path(settings.MEDIA_ROOT) / frozen.manifest_path
    out = io.StringIO()
    call_command("verify_manifest", str(path), "--database", stdout=out)
    assert "valid signature" in out.getvalue() and "match" in out.getvalue()
    batch = Synthesis.objects.filter(project=series).order_by("pk").first()
    _sql_update(Synthesis, batch.pk, notes="quietly edited")
    text = _refused("verify_manifest", str(path), "--database")
    assert "the database differs" in text and f"synthesis.Synthesis {batch.pk}" in text

    # after a key rotation the old key can still be trusted through ARCHIVE_PUBLIC_KEYS
    old_public = signing.public_key_b64()
    settings.ARCHIVE_SIGNING_KEY = base64.b64encode(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    ).decode()
    assert "another key" in _refused("verify_manifest", str(path))
    settings.ARCHIVE_PUBLIC_KEYS = old_public
    call_command("verify_manifest", str(path), stdout=io.StringIO())


def test_verify_project_without_a_manifest_or_project(series):
    assert "never been frozen" in _refused("verify_project", series.slug)
    assert "no project" in _refused("verify_project", "nope")
