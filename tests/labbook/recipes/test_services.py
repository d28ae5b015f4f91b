"""Template services: each kind's fields checked, role, freeze, version and history; save as
template; the series planned by the planner and applied all or nothing."""

import datetime as dt
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from labbook.archives.services import project_freeze
from labbook.projects.models import ConflictError, ProjectFrozen
from labbook.recipes import services
from labbook.recipes.models import Template, TemplateKind
from labbook.synthesis import services as synthesis
from labbook.synthesis.models import PostTreatment

SERIES = {"targets": "0, 3, 9, 17", "stirring_time": "30 min", "stirring_speed": "600 rpm"}


def series_template(bench, name="0/3/9/17 % Cl from one pool", **fields):
    return services.template_create(
        user=bench.editor,
        project=bench.project,
        name=name,
        kind=TemplateKind.SERIES,
        fields={**SERIES, **fields},
    )


def test_templates_of_each_kind_are_checked_and_kept_with_history(bench):
    t = series_template(bench)
    assert t.targets == [0, 3, 9, 17] and t.history.get().history_user == bench.editor
    recipe = services.template_create(
        user=bench.editor,
        project=bench.project,
        name="paper recipe",
        kind=TemplateKind.SYNTHESIS,
        fields={"injection_volume": "1.3 mL", "pbi2_amount": "0.04 mmol", "washes": "2"},
    )
    entry = services.template_create(
        user=bench.editor,
        project=bench.project,
        name="TRPL log",
        kind=TemplateKind.ENTRY,
        fields={"title": "TRPL of ...", "body": "## Settings\n\n- laser: 405 nm"},
    )
    assert {x.kind for x in Template.objects.all()} == {"series", "synthesis", "entry"} and recipe and entry


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("series", {"targets": "0, 3, x"}, "targets"),
        ("series", {"targets": "0, 150"}, "targets"),
        ("series", {"targets": ""}, "targets"),
        ("series", {"targets": "3, 3"}, "targets"),
        ("series", {"targets": "3", "stirring_time": "5 mL"}, "stirring_time"),
        ("series", {"targets": "3", "suspension_volume": "40 L"}, "suspension_volume"),
        ("synthesis", {"injection_volume": "13 mg"}, "injection_volume"),
        ("synthesis", {"injection_volume": "-1 mL"}, "injection_volume"),
        ("synthesis", {"temperature": "2 parsecs"}, "temperature"),
        ("synthesis", {"washes": "-2"}, "washes"),
        ("synthesis", {"pbi2": "999999"}, "pbi2"),
        ("synthesis", {"code": "B-1"}, "fields"),
        ("entry", {"title": "x" * 201}, "title"),
        ("entry", {"title": ["not", "text"]}, "title"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(bench, kind, fields, field):
    with pytest.raises(ValidationError) as exc:
        services.template_create(
            user=bench.editor, project=bench.project, name="bad", kind=kind, fields=fields
        )
    assert field in exc.value.message_dict, exc.value.message_dict
    assert not Template.objects.exists()


def test_names_are_unique_in_a_project_and_kinds_are_known(bench):
    series_template(bench)
    with pytest.raises(ValidationError, match="already has a template") as exc:
        series_template(bench)
    assert list(exc.value.message_dict) == ["name"]
    with pytest.raises(ValidationError) as exc:
        services.template_create(user=bench.editor, project=bench.project, name="x", kind="poem", fields={})
    assert "kind" in exc.value.message_dict


def test_role_freeze_version_and_conflicts(bench):
    with pytest.raises(PermissionDenied):
        services.template_create(
            user=bench.viewer, project=bench.project, name="x", kind="entry", fields={"title": "t"}
        )
    t = series_template(bench)
    t = services.template_update(
        user=bench.editor, template=t, version=1, fields={**SERIES, "targets": "0, 5"}
    )
    assert t.version == 2 and t.targets == [0, 5]
    assert t.history.order_by("-history_date").first().history_user == bench.editor
    with pytest.raises(ConflictError):
        services.template_update(user=bench.editor, template=t, version=1, name="stale")
    with pytest.raises(ValidationError, match="keeps its kind"):
        services.template_update(user=bench.editor, template=t, version=2, kind="entry")
    admin = bench.editor.__class__.objects.create_superuser("root", password="pw")
    project_freeze(project=bench.project, user=admin, reason="published")
    t.project.refresh_from_db()
    with pytest.raises(ProjectFrozen):
        services.template_delete(user=bench.editor, template=t)
    with pytest.raises(ProjectFrozen):
        services.series_apply(
            user=bench.editor, template=t, batch=bench.pool, stock=bench.stock, date=dt.date(2022, 10, 5)
        )


def test_save_as_template_from_a_batch_and_an_entry(bench):
    from labbook.notebook import services as notebook

    fields = services.template_fields_from_batch(bench.pool)
    assert fields["injection_volume"] == "1.3 mL" and fields["pbi2_amount"] == "0.04 mmol"
    assert "code" not in fields and "date" not in fields and "kind" not in fields
    t = services.template_create(
        user=bench.editor, project=bench.project, name="from pool", kind="synthesis", fields=fields
    )
    query = parse_qs(services.new_record_query(t))
    assert query["project"] == [str(bench.project.pk)] and query["injection_volume"] == ["1.3 mL"]
    entry = notebook.entry_create(user=bench.editor, project=bench.project, title="PL map", body="**405 nm**")
    assert services.template_fields_from_entry(entry) == {"title": "PL map", "body": "**405 nm**"}


def test_the_series_is_planned_by_the_planner_and_applied_all_at_once(bench):
    t = series_template(bench)
    plan = services.series_plan(template=t, batch=bench.pool, stock=bench.stock)
    assert [(p.target_cl_percent, p.portion.code) for p in plan] == [
        (0, "MAPI-POOL-P1"), (3, "MAPI-POOL-P2"), (9, "MAPI-POOL-P3"), (17, "MAPI-POOL-P4"),
    ]  # fmt: skip
    made = services.series_apply(
        user=bench.editor, template=t, batch=bench.pool, stock=bench.stock, date=dt.date(2022, 10, 5)
    )
    assert [m.code for m in made] == [
        "MAPI-POOL-P1-0Cl",
        "MAPI-POOL-P2-3Cl",
        "MAPI-POOL-P3-9Cl",
        "MAPI-POOL-P4-17Cl",
    ]
    for treatment, target in zip(made, [0, 3, 9, 17], strict=True):
        expected = synthesis.treatment_plan(
            batch=treatment.batch, stock=bench.stock, target_cl_percent=target
        )
        treatment.refresh_from_db()
        assert treatment.volume_added.to("uL").magnitude == pytest.approx(
            expected.to("uL").magnitude, rel=1e-9
        )
        assert treatment.nominal_cl_percent == target
        assert treatment.cl_to_i.to("percent").magnitude == pytest.approx(target, abs=1e-6)
        assert treatment.stirring_time.to("min").magnitude == pytest.approx(30)
        assert treatment.history.get().history_user == bench.editor
    # once treated, the same portions are refused (the planner counts no earlier treatment)
    with pytest.raises(ValidationError, match="already treated"):
        services.series_plan(template=t, batch=bench.pool, stock=bench.stock)


def test_a_series_that_cannot_be_made_whole_makes_nothing(bench):
    t = series_template(bench)
    # the last code is taken: refused before anything is written
    synthesis.treatment_create(
        user=bench.editor, batch=bench.pool, stock=bench.stock, code="MAPI-POOL-P4-17Cl",
        date=dt.date(2022, 10, 5), volume_added="0 uL",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="codes already used"):
        services.series_apply(
            user=bench.editor, template=t, batch=bench.pool, stock=bench.stock, date=dt.date(2022, 10, 5)
        )
    assert PostTreatment.objects.count() == 1
    # a viewer makes nothing either
    PostTreatment.objects.all().delete()
    with pytest.raises(PermissionDenied):
        services.series_apply(
            user=bench.viewer, template=t, batch=bench.pool, stock=bench.stock, date=dt.date(2022, 10, 5)
        )
    assert not PostTreatment.objects.exists()


def test_a_series_needs_one_portion_per_target(bench):
    t = series_template(bench)
    with pytest.raises(ValidationError, match="no portions"):
        services.series_plan(template=t, batch=bench.portions[0], stock=bench.stock)
    single = series_template(bench, name="single", targets="9")
    plan = services.series_plan(template=single, batch=bench.portions[0], stock=bench.stock)
    assert [p.portion for p in plan] == [bench.portions[0]]
    wide = services.template_create(
        user=bench.editor, project=bench.project, name="five", kind="series", fields={"targets": "0,1,2,3,4"}
    )
    with pytest.raises(ValidationError, match="has 4 portions; this series needs 5"):
        services.series_plan(template=wide, batch=bench.pool, stock=bench.stock)
