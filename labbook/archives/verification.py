"""Checking a frozen project against its freeze manifest: the live database rows and the stored
bytes, not only the manifest's signature.

A freeze manifest lists every record's content hash and every raw file's SHA-256. Whoever can
write to the database or to the media folder can change a frozen project behind the freeze guard
(a SQL ``UPDATE``, a replaced blob); :func:`project_verify` recomputes what the manifest states and
reports the records and files that changed, went missing or appeared since. The manifest's
signature is checked first against a pinned key (:func:`labbook.archives.signing.verify_trusted`),
so a manifest rewritten to match the tampering is refused too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from labbook.archives import signing
from labbook.archives.models import FreezeAction, FreezeEvent
from labbook.archives.records import project_records, record_sha256
from labbook.files.models import RawFile, blob_name
from labbook.projects.models import Project

CHUNK = 1 << 20


@dataclass
class VerificationReport:
    """What differs between a project (rows and stored bytes) and a freeze manifest."""

    project: str
    frozen_at: str
    records_checked: int = 0
    files_checked: int = 0
    changed_records: list[str] = field(default_factory=list)
    missing_records: list[str] = field(default_factory=list)
    extra_records: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    extra_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per difference, e.g. ``record changed: synthesis.Synthesis 12``."""
        out = []
        for what, items in (
            ("record changed", self.changed_records),
            ("record missing", self.missing_records),
            ("record not in the manifest", self.extra_records),
            ("file changed", self.changed_files),
            ("file missing", self.missing_files),
            ("file not in the manifest", self.extra_files),
        ):
            out += [f"{what}: {item}" for item in items]
        return out

    def summary(self) -> str:
        counts = {
            "changed records": len(self.changed_records),
            "missing records": len(self.missing_records),
            "extra records": len(self.extra_records),
            "changed files": len(self.changed_files),
            "missing files": len(self.missing_files),
            "extra files": len(self.extra_files),
        }
        head = f"project {self.project} against its manifest of {self.frozen_at}"
        if self.ok:
            return f"{head}: {self.records_checked} records and {self.files_checked} files match"
        return f"{head}: DIFFERS: " + ", ".join(f"{n} {what}" for what, n in counts.items() if n)


def stored_sha256(sha256: str) -> str | None:
    """The SHA-256 of the bytes stored for ``sha256`` (``raw/<sha[:2]>/<sha>``), None when absent."""
    name = blob_name(sha256)
    if not default_storage.exists(name):
        return None
    h = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_compare(*, payload: dict, project: Project, check_bytes: bool = True) -> VerificationReport:
    """Compare ``project``'s live rows (and, with ``check_bytes``, its stored files) with a
    verified manifest ``payload``."""
    report = VerificationReport(project=project.slug, frozen_at=str(payload.get("frozen_at")))
    expected = {(r["model"], r["id"]): r["sha256"] for r in payload.get("records", [])}
    seen = set()
    for model, qs in project_records(project, app_labels=None):
        label = model._meta.label
        for obj in qs:
            key = (label, obj.pk)
            seen.add(key)
            report.records_checked += 1
            if key not in expected:
                report.extra_records.append(f"{label} {obj.pk}")
            elif record_sha256(obj) != expected[key]:
                report.changed_records.append(f"{label} {obj.pk}")
    report.missing_records += [f"{label} {pk}" for (label, pk) in expected if (label, pk) not in seen]

    listed = {f["id"]: f for f in payload.get("files", [])}
    live = {f.pk: f for f in RawFile._base_manager.filter(project=project)}
    for pk, entry in listed.items():
        report.files_checked += 1
        name = f"{entry['name']} (raw file {pk}, sha256 {entry['sha256'][:12]}…)"
        raw = live.get(pk)
        if raw is None:
            report.missing_files.append(name)
        elif raw.sha256 != entry["sha256"] or raw.size != entry["size"]:
            report.changed_files.append(
                f"{name}: the row now says sha256 {raw.sha256[:12]}…, {raw.size} bytes"
            )
        elif check_bytes:
            actual = stored_sha256(entry["sha256"])
            if actual is None:
                report.missing_files.append(f"{name}: no stored bytes")
            elif actual != entry["sha256"]:
                report.changed_files.append(f"{name}: the stored bytes hash to {actual[:12]}…")
    report.extra_files += [
        f"{raw.original_name} (raw file {pk})" for pk, raw in live.items() if pk not in listed
    ]
    return report


def latest_freeze(project: Project) -> FreezeEvent:
    event = (
        FreezeEvent.objects.filter(project=project, action=FreezeAction.FREEZE, manifest__isnull=False)
        .order_by("-at", "-pk")
        .first()
    )
    if event is None:
        raise ValidationError(f"project {project.slug} has never been frozen: there is no manifest to verify")
    return event


def project_verify(
    *, project: Project, signed: dict | None = None, public_key: str | None = None, check_bytes: bool = True
) -> VerificationReport:
    """Verify ``project`` against its latest freeze manifest (or ``signed``).

    The signature is checked against ``public_key`` or the instance's pinned keys
    (:func:`~labbook.archives.signing.trusted_public_keys`); a bad signature raises
    :class:`~labbook.archives.signing.BadSignature`. Differences are reported, not raised."""
    if signed is None:
        signed = latest_freeze(project).manifest
    payload = signing.verify_trusted(signed, public_key_b64=public_key)
    if payload.get("project", {}).get("id") != project.pk:
        raise signing.BadSignature(
            f"the manifest is of project {payload.get('project', {}).get('slug')!r}, not {project.slug!r}"
        )
    return manifest_compare(payload=payload, project=project, check_bytes=check_bytes)
