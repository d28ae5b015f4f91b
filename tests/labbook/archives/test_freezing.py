"""Freezing: only project admins freeze, nothing changes afterwards by any path, the manifest is
signed and verifiable offline, only superusers unfreeze and the reason is kept."""

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from labbook.archives.models import FreezeAction, FreezeEvent
from labbook.archives.services import project_freeze, project_unfreeze, record_update
from labbook.characterization.models import CharacterizationRun
from labbook.files.models import RawFile
from labbook.files.services import raw_file_store
from labbook.projects.models import ProjectFrozen, Role
from labbook.projects.permissions import RecordNotFound, RoleRequired
from labbook.synthesis.models import PostTreatment, Sample, Synthesis
from tests.labbook.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen(series, admin_user, signing_key):
    event = project_freeze(project=series, user=admin_user, reason="paper published")
    series.refresh_from_db()
    return event


def test_only_a_project_admin_can_freeze(series, signing_key):
    editor, stranger = UserFactory(), UserFactory()
    MembershipFactory(project=series, user=editor, role=Role.EDITOR)
    with pytest.raises(RoleRequired, match="admin role"):
        project_freeze(project=series, user=editor, reason="done")
    with pytest.raises(RecordNotFound):
        project_freeze(project=series, user=stranger, reason="done")
    series.refresh_from_db()
    assert not series.is_frozen and not FreezeEvent.objects.exists()


def test_a_freeze_needs_a_reason(series, admin_user, signing_key):
    with pytest.raises(ValidationError, match="give a reason"):
        project_freeze(project=series, user=admin_user, reason="  ")


def test_freeze_records_who_when_why_and_a_signed_manifest_of_every_file(series, admin_user, frozen):
    assert series.is_frozen and series.frozen_by == admin_user and series.freeze_reason == "paper published"
    assert frozen.action == FreezeAction.FREEZE and frozen.user == admin_user
    payload = frozen.manifest["payload"]
    files = RawFile.objects.filter(project=series)
    assert files.count() == 4
    assert {(f["sha256"], f["size"]) for f in payload["files"]} == {(f.sha256, f.size) for f in files}
    assert {r["model"] for r in payload["records"]} >= {"synthesis.Synthesis", "synthesis.PostTreatment"}
    assert all(len(r["sha256"]) == 64 for r in payload["records"])
    path = Path(settings.MEDIA_ROOT) / frozen.manifest_path
    assert path.exists() and path.with_name(path.name.replace(".manifest.json", ".pub")).exists()


def test_verify_manifest_command_checks_the_signature_and_files_offline(frozen):
    path = Path(settings.MEDIA_ROOT) / frozen.manifest_path
    pub = path.with_name(path.name.replace(".manifest.json", ".pub"))
    out = io.StringIO()
    call_command(
        "verify_manifest", str(path), "--public-key", str(pub), "--files", settings.MEDIA_ROOT, stdout=out
    )
    assert "valid signature" in out.getvalue()

    tampered = json.loads(path.read_text())
    tampered["payload"]["files"][0]["sha256"] = "0" * 64
    bad = path.with_name("tampered.json")
    bad.write_text(json.dumps(tampered))
    with pytest.raises(CommandError, match="INVALID") as exc:
        call_command("verify_manifest", str(bad), "--public-key", str(pub))
    assert exc.value.returncode == 2

    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with pytest.raises(CommandError, match="another key"):
        call_command("verify_manifest", str(path), "--public-key", base64.b64encode(other).decode())

    blob = Path(settings.MEDIA_ROOT) / "raw" / frozen.manifest["payload"]["files"][0]["sha256"][:2]
    target = blob / frozen.manifest["payload"]["files"][0]["sha256"]
    target.chmod(0o644)
    target.write_bytes(b"altered")
    with pytest.raises(CommandError, match="files differ"):
        call_command("verify_manifest", str(path), "--files", settings.MEDIA_ROOT)


def test_nothing_in_a_frozen_project_can_change_by_any_path(series, admin_user, frozen):
    batch = Synthesis.objects.filter(project=series).first()
    run = CharacterizationRun.objects.filter(project=series).first()
    some_file = RawFile.objects.filter(project=series).exclude(runs=run).first()
    batch.notes = "changed"
    with pytest.raises(ProjectFrozen, match="paper published"):
        batch.save()
    with pytest.raises(ProjectFrozen):
        batch.delete()
    with pytest.raises(ProjectFrozen):
        Synthesis.objects.filter(project=series).update(notes="bulk")
    with pytest.raises(ProjectFrozen):
        Sample.objects.filter(project=series).delete()
    with pytest.raises(ProjectFrozen):
        Synthesis.objects.bulk_create([Synthesis(project=series, code="BULK-1", date=batch.date)])
    with pytest.raises(ProjectFrozen):
        Sample.objects.bulk_update(list(Sample.objects.filter(project=series)), ["notes"])
    # many-to-many writes run in the caller's transaction: refused inside it, like a request's
    with pytest.raises(ProjectFrozen), transaction.atomic():
        run.raw_files.add(some_file)
    with pytest.raises(ProjectFrozen), transaction.atomic():
        run.raw_files.clear()
    with pytest.raises(ProjectFrozen), transaction.atomic():
        some_file.runs.add(run)  # the reverse side
    with pytest.raises(ProjectFrozen):
        raw_file_store(project=series, fileobj=io.BytesIO(b"new data"), original_name="x.csv")
    with pytest.raises(ProjectFrozen):
        record_update(obj=batch, expected_version=batch.version, changes={"notes": "x"}, user=admin_user)
    t = PostTreatment.objects.filter(project=series).first()
    with pytest.raises(ProjectFrozen):
        t.batch.treatments.update(notes="via a related manager")
    assert not Synthesis.objects.filter(notes__in=["changed", "bulk"]).exists()
    assert run.raw_files.count() == CharacterizationRun.objects.get(pk=run.pk).raw_files.count()


def test_other_projects_stay_writable(series, frozen):
    from tests.labbook.factories import SynthesisFactory

    other = SynthesisFactory()
    Synthesis.objects.filter(pk=other.pk).update(notes="fine")
    other.refresh_from_db()
    other.notes = "still fine"
    other.save()


def test_only_a_superuser_unfreezes_and_the_reason_is_kept(series, admin_user, frozen):
    with pytest.raises(PermissionDenied, match="superuser"):
        project_unfreeze(project=series, user=admin_user, reason="typo")
    boss = UserFactory(is_superuser=True)
    with pytest.raises(ValidationError, match="reason"):
        project_unfreeze(project=series, user=boss, reason="")
    event = project_unfreeze(project=series, user=boss, reason="erratum: wrong date on T-3Cl")
    series.refresh_from_db()
    assert not series.is_frozen
    assert list(FreezeEvent.objects.filter(project=series).values_list("action", "reason")) == [
        ("unfreeze", "erratum: wrong date on T-3Cl"),
        ("freeze", "paper published"),
    ]
    assert event.user == boss
    batch = Synthesis.objects.filter(project=series).first()
    batch.notes = "corrected"
    batch.save()


def test_signing_key_is_generated_once_in_development(settings, tmp_path):
    from labbook.archives import signing

    settings.ARCHIVE_SIGNING_KEY = ""
    settings.VAR_DIR = tmp_path
    first = signing.public_key_b64()
    assert (tmp_path / "archive_signing_key").exists()
    assert signing.public_key_b64() == first


def test_through_rows_base_manager_and_job_inputs_of_a_frozen_project_cannot_change(
    series, admin_user, signing_key
):
    """Issue 13 item 15: the shell's side doors (a many-to-many through model, ``_base_manager``,
    JobInput) are guarded like the front doors."""
    from labbook.jobs.models import AnalysisJob, JobInput
    from labbook.jobs.services import job_submit
    from labbook.notebook.models import NotebookEntry

    run = CharacterizationRun.objects.filter(project=series, raw_files__isnull=False).first()
    raw = run.raw_files.first()
    other_file = RawFile.objects.filter(project=series).exclude(runs=run).first()
    entry = NotebookEntry.objects.filter(project=series).first()
    batch = Synthesis.objects.filter(project=series).exclude(entries=entry).first()
    job = job_submit(
        kind="spectrum", files={"data": raw}, parameters={"kind": "pl"}, run=run, user=admin_user
    )
    project_freeze(project=series, user=admin_user, reason="paper published")
    linked = list(run.raw_files.order_by("pk"))

    Link = CharacterizationRun.raw_files.through
    link = Link.objects.get(characterizationrun=run, rawfile=raw)
    for attempt in [
        lambda: Link.objects.create(characterizationrun=run, rawfile=other_file),
        lambda: Link.objects.bulk_create([Link(characterizationrun=run, rawfile=other_file)]),
        lambda: Link.objects.filter(characterizationrun=run).update(rawfile=other_file),
        lambda: Link.objects.filter(characterizationrun=run).delete(),
        lambda: Link._base_manager.filter(characterizationrun=run).delete(),
        lambda: link.delete(),
        lambda: NotebookEntry.batches.through.objects.create(notebookentry=entry, synthesis=batch),
        lambda: NotebookEntry.treatments.through.objects.filter(notebookentry=entry).delete(),
    ]:
        with pytest.raises(ProjectFrozen), transaction.atomic():
            attempt()
    link.rawfile = other_file
    with pytest.raises(ProjectFrozen), transaction.atomic():
        link.save()

    # _base_manager is the guarded queryset too
    with pytest.raises(ProjectFrozen):
        Synthesis._base_manager.filter(project=series).update(notes="via the base manager")
    with pytest.raises(ProjectFrozen):
        Sample._base_manager.filter(project=series).delete()
    with pytest.raises(ProjectFrozen):
        Synthesis._base_manager.bulk_create([Synthesis(project=series, code="BASE-1", date=batch.date)])

    # a job's inputs
    job_input = JobInput.objects.get(job=job)
    job_input.role = "other"
    for attempt in [
        job_input.save,
        job_input.delete,
        lambda: JobInput.objects.filter(job=job).update(raw_file=other_file),
        lambda: JobInput.objects.filter(job=job).delete(),
        lambda: JobInput._base_manager.filter(job=job).delete(),
        lambda: JobInput.objects.create(job=job, raw_file=other_file, role="irf"),
        lambda: JobInput.objects.bulk_create([JobInput(job=job, raw_file=other_file, role="irf")]),
    ]:
        with pytest.raises(ProjectFrozen), transaction.atomic():
            attempt()
    # a job's parameters are the study's data; its status is bookkeeping (it may still stop)
    with pytest.raises(ProjectFrozen):
        AnalysisJob.objects.filter(pk=job.pk).update(parameters={"changed": True})
    assert AnalysisJob.objects.filter(pk=job.pk).update(status="cancelled") == 1

    assert list(run.raw_files.order_by("pk")) == linked
    assert list(JobInput.objects.filter(job=job).values_list("role", "raw_file")) == [("data", raw.pk)]
    assert not Synthesis.objects.filter(notes="via the base manager").exists()
    assert not entry.batches.filter(pk=batch.pk).exists()
