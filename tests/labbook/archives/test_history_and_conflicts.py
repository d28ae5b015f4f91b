"""History of every record (who, when, what changed), restore after deletion, and no lost updates."""

import pytest
from django.core.exceptions import ValidationError

from labbook.archives.selectors import deleted_records, record_history
from labbook.archives.services import record_restore, record_update
from labbook.characterization.models import CharacterizationRun
from labbook.projects.models import ConflictError, Role
from labbook.projects.permissions import RecordNotFound, RoleRequired
from labbook.synthesis.models import PostTreatment, Sample, Synthesis
from tests.labbook.factories import MembershipFactory, SynthesisFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(series):
    user = UserFactory(username="editor")
    MembershipFactory(project=series, user=user, role=Role.EDITOR)
    return user


def test_every_create_change_and_delete_is_kept_with_who_and_what(series, admin_user, editor):
    t = PostTreatment.objects.filter(project=series).order_by("code").first()
    record_update(
        obj=t, expected_version=t.version, changes={"volume_added": "3 uL", "notes": "redo"}, user=editor
    )
    entries = record_history(model=PostTreatment, pk=t.pk, user=admin_user)
    assert [e.action for e in entries] == ["changed", "created"]
    latest = entries[0]
    assert latest.user == "editor" and latest.version == t.version + 1
    changed = {c.field: (c.old, c.new) for c in latest.changes}
    assert changed["volume_added"][1] == 3.0 and changed["notes"] == ("", "redo")
    assert "cl_to_i" in changed  # derived values follow, and their change is on record too
    run = CharacterizationRun.objects.filter(project=series).first()
    f = run.raw_files.first()
    run.raw_files.remove(f)
    (latest,) = record_history(model=CharacterizationRun, pk=run.pk, user=admin_user)[:1]
    assert latest.changes[0].field == "raw_files" and f.pk in latest.changes[0].old
    assert entries[1].user == admin_user.username


def test_history_is_invisible_to_outsiders(series):
    batch = Synthesis.objects.filter(project=series).first()
    with pytest.raises(RecordNotFound):
        record_history(model=Synthesis, pk=batch.pk, user=UserFactory())


def test_a_deleted_record_is_restored_from_history_with_its_links(series, admin_user, editor):
    run = CharacterizationRun.objects.filter(project=series, raw_files__isnull=False).distinct().first()
    files = set(run.raw_files.values_list("pk", flat=True))
    pk, code = run.pk, run.code
    run.raw_files.clear()
    run.raw_files.set(files)
    run.delete()
    assert [h.id for h in deleted_records(model=CharacterizationRun, user=editor)] == [pk]
    restored = record_restore(model=CharacterizationRun, pk=pk, user=editor)
    assert restored.pk == pk and restored.code == code
    assert set(CharacterizationRun.objects.get(pk=pk).raw_files.values_list("pk", flat=True)) == files
    entries = record_history(model=CharacterizationRun, pk=pk, user=editor)
    # restored (created again, then its links set), after having been deleted
    assert [e.action for e in entries[:3]] == ["changed", "created", "deleted"]
    assert entries[1].reason.startswith("restored from history") and entries[1].user == "editor"
    with pytest.raises(ValidationError, match="only a deleted record"):
        record_restore(model=CharacterizationRun, pk=pk, user=editor)


def test_restore_needs_the_editor_role(series, admin_user):
    sample = Sample.objects.filter(project=series, runs__isnull=True).first()
    pk = sample.pk
    sample.delete()
    viewer = UserFactory()
    MembershipFactory(project=series, user=viewer, role=Role.VIEWER)
    with pytest.raises(RoleRequired):
        record_restore(model=Sample, pk=pk, user=viewer)
    with pytest.raises(RecordNotFound):
        record_restore(model=Sample, pk=pk, user=UserFactory())


def test_two_people_editing_the_same_record_the_second_is_refused_with_what_changed(
    series, editor, admin_user
):
    batch = Synthesis.objects.filter(project=series).first()
    alice_copy = Synthesis.objects.get(pk=batch.pk)
    bob_copy = Synthesis.objects.get(pk=batch.pk)
    alice_copy.notes = "alice"
    alice_copy.volume = "5 mL"
    alice_copy.save()
    bob_copy.notes = "bob"
    with pytest.raises(ConflictError) as exc:
        bob_copy.save()
    assert set(exc.value.changes) == {"notes", "volume"}
    assert exc.value.changes["notes"] == ("", "alice")
    assert "notes" in str(exc.value) and "version" in str(exc.value)
    assert bob_copy.version == exc.value.expected_version  # unchanged, can be retried after reload
    fresh = Synthesis.objects.get(pk=batch.pk)
    assert fresh.notes == "alice" and fresh.version == alice_copy.version


def test_record_update_refuses_a_stale_version(series, editor):
    batch = Synthesis.objects.filter(project=series).first()
    loaded = batch.version
    record_update(obj=batch, expected_version=loaded, changes={"notes": "first"}, user=editor)
    with pytest.raises(ConflictError) as exc:
        record_update(obj=batch, expected_version=loaded, changes={"notes": "second"}, user=editor)
    assert exc.value.changes == {"notes": ("", "first")}
    assert Synthesis.objects.get(pk=batch.pk).notes == "first"


def test_record_update_checks_role_fields_and_validation(series, editor):
    batch = Synthesis.objects.filter(project=series).first()
    viewer = UserFactory()
    MembershipFactory(project=series, user=viewer, role=Role.VIEWER)
    with pytest.raises(RoleRequired):
        record_update(obj=batch, expected_version=batch.version, changes={"notes": "x"}, user=viewer)
    with pytest.raises(ValidationError, match="not an editable field"):
        record_update(obj=batch, expected_version=batch.version, changes={"version": 99}, user=editor)
    with pytest.raises(ValidationError, match="expected a volume"):
        record_update(obj=batch, expected_version=batch.version, changes={"volume": "5 mg"}, user=editor)


def test_saving_the_same_instance_twice_is_not_a_conflict():
    batch = SynthesisFactory()
    batch.notes = "a"
    batch.save()
    batch.notes = "b"
    batch.save()
    assert batch.version == 3


def test_partial_saves_bump_the_version_and_are_checked_too():
    batch = SynthesisFactory()
    other = Synthesis.objects.get(pk=batch.pk)
    batch.notes = "a"
    batch.save(update_fields=["notes"])
    assert Synthesis.objects.get(pk=batch.pk).version == 2 == batch.version
    other.notes = "b"
    with pytest.raises(ConflictError):
        other.save(update_fields=["notes"])
    batch.notes = "c"
    batch.save(update_fields=["notes"])  # the up-to-date instance goes on saving
    assert Synthesis.objects.get(pk=batch.pk).notes == "c"
