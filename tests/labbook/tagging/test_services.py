"""tag_add / tag_remove: the role, the freeze, the history (who, why), names, any record type."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from labbook.archives.services import project_freeze
from labbook.projects.models import ProjectFrozen
from labbook.projects.permissions import RecordNotFound
from labbook.tagging import selectors, services
from labbook.tagging.models import Tag, TaggedRecord


def names(record):
    return [t.name for t in selectors.tags_of(record)]


def test_an_editor_tags_batches_stocks_and_entries_and_the_history_says_who(lab):
    row = services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    services.tag_add(user=lab.editor, record=lab.stock, name="ethanol-wash")
    services.tag_add(user=lab.editor, record=lab.entry, name="MACl-series-2")
    assert names(lab.batch) == ["ethanol-wash"] and names(lab.stock) == ["ethanol-wash"]
    assert names(lab.entry) == ["MACl-series-2"] and names(lab.batch2) == []
    # one tag of the project, used twice; made by the editor, with history
    tag = Tag.objects.get(project=lab.project, name="ethanol-wash")
    assert TaggedRecord.objects.filter(tag=tag).count() == 2
    assert tag.history.get().history_user == lab.editor
    created = row.history.get()
    assert created.history_user == lab.editor and created.history_type == "+"
    assert "ethanol-wash" in created.history_change_reason and "MAPI-A" in created.history_change_reason


def test_adding_twice_or_in_another_case_changes_nothing(lab):
    first = services.tag_add(user=lab.editor, record=lab.batch, name="Ethanol-Wash")
    again = services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    assert first.pk == again.pk and Tag.objects.count() == 1 and TaggedRecord.objects.count() == 1
    assert names(lab.batch) == ["Ethanol-Wash"]  # the name as first written


def test_removing_keeps_history_and_the_projects_tag(lab):
    row = services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    services.tag_remove(user=lab.editor, record=lab.batch, name="ETHANOL-WASH")
    assert names(lab.batch) == [] and Tag.objects.filter(name="ethanol-wash").exists()
    removed = TaggedRecord.history.filter(id=row.pk).order_by("history_date").last()
    assert removed.history_type == "-" and removed.history_user == lab.editor
    with pytest.raises(ValidationError, match="has no tag"):
        services.tag_remove(user=lab.editor, record=lab.batch, name="ethanol-wash")


@pytest.mark.parametrize("bad", ["", "   ", "ethanol wash", "a,b", "x" * 51, None, 7])
def test_bad_names_are_refused_with_a_message(lab, bad):
    with pytest.raises(ValidationError) as exc:
        services.tag_add(user=lab.editor, record=lab.batch, name=bad)
    assert "name" in exc.value.message_dict
    assert not Tag.objects.exists() and not TaggedRecord.objects.exists()


def test_viewers_and_outsiders_cannot_tag(lab):
    with pytest.raises(PermissionDenied, match="editor"):
        services.tag_add(user=lab.viewer, record=lab.batch, name="x")
    with pytest.raises(RecordNotFound):
        services.tag_add(user=lab.outsider, record=lab.batch, name="x")
    services.tag_add(user=lab.editor, record=lab.batch, name="x")
    with pytest.raises(PermissionDenied):
        services.tag_remove(user=lab.viewer, record=lab.batch, name="x")
    assert names(lab.batch) == ["x"]


def test_a_frozen_project_refuses_tags_both_ways(lab):
    services.tag_add(user=lab.editor, record=lab.batch, name="kept")
    admin = lab.editor.__class__.objects.create_superuser("root", password="pw")
    project_freeze(project=lab.project, user=admin, reason="published")
    lab.batch.project.refresh_from_db()
    with pytest.raises(ProjectFrozen, match="frozen"):
        services.tag_add(user=lab.editor, record=lab.batch, name="new")
    with pytest.raises(ProjectFrozen):
        services.tag_remove(user=lab.editor, record=lab.batch, name="kept")
    with pytest.raises(ProjectFrozen):  # nor around the services
        TaggedRecord.objects.filter(project=lab.project).delete()
    assert names(lab.batch) == ["kept"]


def test_only_records_carry_tags(lab):
    with pytest.raises(ValidationError, match="carries no tags"):
        services.tag_add(user=lab.editor, record=lab.project, name="x")


def test_a_deleted_record_takes_its_tags_with_it(lab):
    from labbook.synthesis import services as synthesis

    services.tag_add(user=lab.editor, record=lab.batch2, name="gone")
    synthesis.synthesis_delete(user=lab.editor, batch=lab.batch2)
    assert not TaggedRecord.objects.exists() and Tag.objects.filter(name="gone").exists()


def test_a_frozen_projects_manifest_covers_its_tags_and_templates(lab):
    from labbook.archives.verification import project_verify
    from labbook.recipes import services as recipes

    services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    recipes.template_create(
        user=lab.editor, project=lab.project, name="series", kind="series", fields={"targets": "0, 3, 9, 17"}
    )
    admin = lab.editor.__class__.objects.create_superuser("root", password="pw")
    project_freeze(project=lab.project, user=admin, reason="published")
    report = project_verify(project=lab.project)
    assert report.ok, report.problems()
    # a tag moved to another record behind the services' back is seen
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TaggedRecord._meta.db_table} SET object_id = %s", [lab.batch2.pk])
    report = project_verify(project=lab.project)
    assert not report.ok and any("tagged" in c.lower() for c in report.changed_records), report.problems()
