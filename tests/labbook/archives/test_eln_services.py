"""The .eln import is a door like the others (issue 12): its records are written by the apps'
services, so their history says who imported them and from which archive, derived values are the
services' own, and a record the services refuse (implausible amounts, a code twice in a project)
refuses the whole archive with the services' message: exit 2, nothing imported."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from labbook.archives.eln import WRITERS, eln_export, eln_import
from labbook.archives.records import project_records
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.synthesis import services
from labbook.synthesis.models import ChlorideStock, PostTreatment, Synthesis
from tests.labbook.archives.test_eln import foreign_eln
from tests.labbook.archives.test_eln_malformed import _dataset, _doc, _pv, _rewrite, assert_refused
from tests.labbook.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]


@pytest.fixture
def labbook_eln(series, admin_user, tmp_path):
    return eln_export(project=series, user=admin_user, out=tmp_path / "series.eln", sign=False)


def test_imported_records_are_written_by_the_services_with_who_and_why(labbook_eln, tmp_path):
    importer = UserFactory(username="importer")
    project = eln_import(path=labbook_eln, user=importer, slug="imported")
    seen = set()
    for model, qs in project_records(project):
        if model not in WRITERS and model is not RawFile:
            continue  # jobs and results: written by the job runner, no history
        for obj in qs:
            created = obj.history.filter(history_type="+").get()
            assert created.history_user == importer, (model, obj)
            assert created.history_change_reason == "imported from series.eln", (model, obj)
            assert obj.created_by == importer
            seen.add(model)
    assert {m.__name__ for m in seen} >= {
        "RawFile", "Chemical", "Synthesis", "BatchLink", "ChlorideStock", "PostTreatment", "Sample",
        "CharacterizationRun", "Device", "DeviceMeasurement", "NotebookEntry",
    }  # fmt: skip
    for t in PostTreatment.objects.filter(project=project).select_related("batch", "stock__salt"):
        stored = t.cl_to_i.to("percent").magnitude
        t.compute_derived()  # the services stored what the domain computes
        assert stored == pytest.approx(t.cl_to_i.to("percent").magnitude)
    # another ELN's datasets become entries written by the notebook's service, files linked
    other = eln_import(path=foreign_eln(tmp_path), user=importer)
    entry = NotebookEntry.objects.get(project=other)
    created = entry.history.filter(history_type="+").get()
    assert created.history_user == importer and created.history_change_reason.startswith("imported from ")
    assert entry.raw_files.exists()


def _service_refusal(call) -> list[str]:
    with pytest.raises(ValidationError) as err:
        call()
    return err.value.messages


def test_an_overdrawn_stock_in_an_archive_is_refused_as_the_services_refuse_it(
    series, labbook_eln, admin_user, tmp_path
):
    portion = Synthesis.objects.get(project=series, code="MINI-P1")
    stock = ChlorideStock.objects.get(project=series, code="MACl-1")
    said = _service_refusal(
        lambda: services.treatment_create(
            user=admin_user, batch=portion, stock=stock, code="T-X", date=dt.date(2022, 10, 3),
            volume_added="5000 uL",
        )
    )  # fmt: skip
    doc = _doc(labbook_eln)
    _pv(doc, "synthesis.PostTreatment", "volume_added").update(value=5000, unitText="uL")
    message = assert_refused(_rewrite(labbook_eln, tmp_path / "x.eln", doc=doc), admin_user)
    # the services' words (what other treatments used differs: the archive's come in one by one)
    same = said[0].split(", other treatments")[0]
    assert same == "5000 µL is more than is left of MACl-1: it held 0.5 mL"
    assert f"refused: volume_added: {same}" in message


def test_an_implausible_mass_in_an_archive_is_refused(labbook_eln, admin_user, tmp_path):
    doc = _doc(labbook_eln)
    _pv(doc, "synthesis.Synthesis", "pbi2_mass").update(value=50, unitText="mg")
    message = assert_refused(_rewrite(labbook_eln, tmp_path / "x.eln", doc=doc), admin_user)
    assert "that is 18.4 mg expected" in message


def test_a_code_twice_in_an_archive_is_refused(labbook_eln, admin_user, tmp_path):
    doc = _doc(labbook_eln)
    batches = [n for n in doc["@graph"] if n.get("genre") == "synthesis.Synthesis"]
    codes = {}
    for ds in batches:
        ids = {r["@id"] for r in ds["variableMeasured"]}
        pv = next(n for n in doc["@graph"] if n.get("@id") in ids and n.get("propertyID") == "code")
        codes[ds["@id"]] = pv
    first, second = list(codes.values())[:2]
    second["value"] = first["value"]
    message = assert_refused(_rewrite(labbook_eln, tmp_path / "x.eln", doc=doc), admin_user)
    assert "already exists" in message and "ode" in message
    assert _dataset(doc, "synthesis.Synthesis")  # the archive itself is well formed otherwise


@pytest.mark.parametrize(
    ("genre", "prop"),
    [
        ("synthesis.PostTreatment", "volume_added"),
        ("synthesis.PostTreatment", "batch"),
        ("devices.Device", "code"),
    ],
)
def test_a_field_the_service_needs_missing_from_an_archive_is_named(
    labbook_eln, admin_user, tmp_path, genre, prop
):
    doc = _doc(labbook_eln)
    ds = _dataset(doc, genre)
    gone = _pv(doc, genre, prop)["@id"]
    ds["variableMeasured"] = [r for r in ds["variableMeasured"] if r["@id"] != gone]
    message = assert_refused(_rewrite(labbook_eln, tmp_path / "x.eln", doc=doc), admin_user)
    assert f"refused: {prop}: " in message, message
