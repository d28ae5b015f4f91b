"""Raw files in: the bench command for instrument folders, and uploads in the admin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES, load_paper_series
from labbook.files.models import RawFile
from labbook.jobs.models import AnalysisJob
from labbook.projects.models import Project
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _series_data(django_db_setup, django_db_blocker):
    """The series, built once for this module (tests/labbook/shared.py)."""
    with rolled_back(django_db_blocker):
        lead = UserFactory(username="lead", is_staff=True, is_superuser=True)
        yield load_paper_series(user=lead, with_files=False).pk


@pytest.fixture
def series(_series_data, db):
    return Project.objects.get(pk=_series_data)


def test_ingest_a_folder_into_a_run_and_queue_its_analysis(series, tmp_path, capsys):
    folder = tmp_path / "fls980"
    folder.mkdir()
    (folder / "pl.csv").write_bytes((DEMO_FILES / "pl_3pct_cl.csv").read_bytes())
    call_command("ingest", str(folder), run="R-3Cl-PL", analyse=True)
    run = CharacterizationRun.objects.get(code="R-3Cl-PL")
    (raw,) = run.raw_files.all()
    assert raw.original_name == "pl.csv" and raw.size == (folder / "pl.csv").stat().st_size
    job = AnalysisJob.objects.get(run=run)
    assert job.kind == "spectrum" and job.parameters == {"kind": "pl"}
    # again: same bytes, nothing new stored, same job
    call_command("ingest", str(folder), run="R-3Cl-PL", analyse=True)
    assert RawFile.objects.count() == 1 and AnalysisJob.objects.count() == 1


def test_ingest_matches_files_to_runs_by_name(series, tmp_path):
    (tmp_path / "R-0Cl-XRD_scan.xrdml").write_bytes((DEMO_FILES / "xrd_0pct_cl.xrdml").read_bytes())
    (tmp_path / "R-17Cl-XRD_scan.xrdml").write_bytes((DEMO_FILES / "xrd_17pct_cl.xrdml").read_bytes())
    (tmp_path / "notes.txt").write_text("no run code here")
    call_command("ingest", str(tmp_path), match=True)
    assert (
        CharacterizationRun.objects.get(code="R-0Cl-XRD").raw_files.get().original_name
        == "R-0Cl-XRD_scan.xrdml"
    )
    assert CharacterizationRun.objects.get(code="R-17Cl-XRD").raw_files.count() == 1
    assert RawFile.objects.count() == 2


def test_ingest_refuses_bad_input_with_exit_code_2(series, tmp_path, settings):
    with pytest.raises(CommandError, match="not a folder") as err:
        call_command("ingest", str(tmp_path / "missing"), run="R-3Cl-PL")
    assert err.value.returncode == 2
    with pytest.raises(CommandError, match="no files matching"):
        call_command("ingest", str(tmp_path), run="R-3Cl-PL")
    (tmp_path / "big.csv").write_text("x" * 100)
    with pytest.raises(CommandError, match="no characterisation run"):
        call_command("ingest", str(tmp_path), run="R-NOPE")
    settings.RAW_FILE_MAX_BYTES = 10
    with pytest.raises(CommandError, match="refused"):
        call_command("ingest", str(tmp_path), run="R-3Cl-PL")
    assert not RawFile.objects.exists()


def test_admin_upload_stores_attaches_and_queues(series, client):
    client.force_login(series_admin := UserFactory(username="lead"))
    assert series_admin.is_superuser
    run = CharacterizationRun.objects.get(code="R-3Cl-TRPL")
    url = reverse("admin:characterization_characterizationrun_change", args=[run.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, (list, dict))}
    data.update(
        {
            "project": run.project_id,
            "sample": run.sample_id,
            "date": "2022-10-06",
            "technique": "trpl",
            "extra_settings": "{}",
            "code": run.code,
            "operator": "",
            "repetition_rate": "1 MHz",
            "excitation_wavelength": "485 nm",
            "photon_fluence": "1.9e14 1/cm^2",
            "analyse": "on",
            "expected_version": run.version,
            "CharacterizationRun_raw_files-TOTAL_FORMS": "0",
            "CharacterizationRun_raw_files-INITIAL_FORMS": "0",
        }
    )
    for key in ("power_density", "exposure_time", "pixel_size", "frame_count"):
        data.setdefault(key, "")
    data["upload"] = [
        SimpleUploadedFile("decay.csv", (DEMO_FILES / "trpl_3pct_cl.csv").read_bytes(), "text/csv"),
        SimpleUploadedFile("irf.csv", (DEMO_FILES / "trpl_irf.csv").read_bytes(), "text/csv"),
    ]
    r = client.post(url, data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    names = sorted(run.raw_files.values_list("original_name", flat=True))
    assert names == ["decay.csv", "irf.csv"]
    job = AnalysisJob.objects.get(run=run)
    assert {i.role: i.raw_file.original_name for i in job.inputs.all()} == {
        "decay": "decay.csv",
        "irf": "irf.csv",
    }
