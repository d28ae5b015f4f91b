"""Round trip in one instance: export a project, import the archive into the same instance as a new
project (``--slug other``), export that: the same records, field by field, and byte-identical files.
Runs on SQLite and PostgreSQL alike (CI runs the suite on both)."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command

from labbook.archives.eln import eln_export
from labbook.archives.models import ElnImport, ImportedRecord
from labbook.archives.records import domain_models, record_content
from labbook.files.models import RawFile
from labbook.projects.models import Project
from labbook.synthesis.models import PostTreatment, Synthesis

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

#: what differs between two projects by design: the project's own name, slug and the export time
PROJECT_KEYS = {"name", "identifier", "description", "datePublished", "dateCreated"}


def _read(path: Path) -> tuple[list[dict], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        root = zf.namelist()[0].split("/")[0]
        graph = json.loads(zf.read(f"{root}/ro-crate-metadata.json"))["@graph"]
        files = {
            n[len(root) + 1 :]: zf.read(n)
            for n in zf.namelist()
            if not n.endswith(("ro-crate-metadata.json", ".minisig"))
        }
    return graph, files


def _records(graph: list[dict]) -> list[dict]:
    """The graph without the project's own node and the descriptor (which name the project)."""
    return [
        {
            k: v
            for k, v in n.items()
            if not (n["@id"] in {"./", "ro-crate-metadata.json"} and k in PROJECT_KEYS)
        }
        for n in graph
    ]


def _contents(project) -> dict[str, list]:
    """Every record's content (fields and quantities in the column's unit, links by code), per model."""
    out = {}
    for model in domain_models():
        rows = []
        for obj in model._base_manager.filter(project=project).order_by("pk"):
            content = record_content(obj)
            for f in model._meta.concrete_fields:  # links by what they point to, not by pk
                if f.many_to_one and f.attname in content and content[f.attname] is not None:
                    content[f.attname] = str(getattr(obj, f.name))
            for m2m in model._meta.many_to_many:
                content[m2m.name] = sorted(str(o) for o in getattr(obj, m2m.name).all())
            rows.append(content)
        out[model._meta.label] = rows
    return out


@pytest.mark.parametrize("fixture", ["series", "paper_series"])
def test_export_import_as_a_new_project_export_gives_the_same_records_and_files(
    fixture, request, admin_user, tmp_path
):
    project = request.getfixturevalue(fixture)
    first = eln_export(project=project, user=admin_user, out=tmp_path / "first.eln")
    out = io.StringIO()
    call_command("import_eln", str(first), "--user", admin_user.username, "--slug", "other", stdout=out)
    assert "as project 'other'" in out.getvalue() and "unverified" not in out.getvalue()
    other = Project.objects.get(slug="other")
    assert other.pk != project.pk and Project.objects.count() == 2
    second = eln_export(project=other, user=admin_user, out=tmp_path / "second.eln")

    graph1, files1 = _read(first)
    graph2, files2 = _read(second)
    assert _records(graph1) == _records(graph2)
    assert files1 == files2, "byte-identical files"
    # field by field, quantities and derived values included, in both projects side by side
    assert _contents(other) == _contents(project)
    derived = lambda p: {  # noqa: E731
        t.code: (t.cl_to_i.magnitude, t.solvent_fraction.magnitude, t.iodide_amount.magnitude)
        for t in PostTreatment.objects.filter(project=p)
    }
    assert derived(other) == derived(project)
    lineage = lambda p: {  # noqa: E731
        b.code: sorted(Synthesis.objects.get(pk=a).code for a in b.ancestors())
        for b in Synthesis.objects.filter(project=p)
    }
    assert lineage(other) == lineage(project)
    # the two projects share the stored blobs, each file verified against the archive's sha256
    assert sorted(RawFile.objects.filter(project=other).values_list("sha256", flat=True)) == sorted(
        RawFile.objects.filter(project=project).values_list("sha256", flat=True)
    )
    assert set(
        ImportedRecord.objects.filter(project=other, model="files.RawFile").values_list("checksum", flat=True)
    ) <= {"verified"}
    assert ElnImport.objects.get(project=other).source == "labbook"
    # and the original is untouched
    assert _contents(project) == _contents(Project.objects.get(pk=project.pk))


# --- the same round trip through the web: the API's background jobs, run as the worker runs them ---
from tests.labbook.archives.test_eln_results import _results  # noqa: E402


def _api_export(client, project, tmp_path, name):
    from labbook.archives.jobs import archive_job_execute

    response = client.post("/api/archive-jobs/export/", {"project": project.pk}, format="json")
    assert response.status_code == 202, response.content
    assert archive_job_execute(response.json()["id"]) == "succeeded"
    job = client.get(response.json()["url"]).json()
    assert job["progress"] == 1.0 and job["download_url"]
    download = client.get(job["download_url"])
    assert download.status_code == 200
    path = tmp_path / name
    with path.open("wb") as fh:
        for chunk in download.streaming_content:  # streamed, as a browser receives it
            fh.write(chunk)
    return path


def test_the_round_trip_through_the_api_jobs_gives_the_same_records_results_and_files(
    analysed, admin_user, tmp_path
):
    """Export -> download -> upload as a new project -> export -> download, each a job of the API
    run as the worker runs it: the same records, the same analysis results and byte-identical files.
    (The importer must be allowed to create projects: the project's admin is a superuser here, so
    the records' authors, who become the importing user, are the same people on both sides.)"""
    from rest_framework.test import APIClient

    from labbook.archives.jobs import archive_job_execute

    admin_user.is_superuser = True
    admin_user.save()
    api = APIClient()
    api.force_authenticate(admin_user)
    first = _api_export(api, analysed, tmp_path, "first.eln")
    with first.open("rb") as fh:
        response = api.post("/api/archive-jobs/import/", {"file": fh, "slug": "web-copy"}, format="multipart")
    assert response.status_code == 202, response.content
    assert archive_job_execute(response.json()["id"]) == "succeeded"
    job = api.get(response.json()["url"]).json()
    assert (
        job["status"] == "succeeded" and job["progress"] == 1.0 and job["imported_project_slug"] == "web-copy"
    )
    other = Project.objects.get(slug="web-copy")
    second = _api_export(api, other, tmp_path, "second.eln")

    graph1, files1 = _read(first)
    graph2, files2 = _read(second)
    assert _records(graph1) == _records(graph2)
    assert files1 == files2, "byte-identical files"
    records = lambda p: {k: v for k, v in _contents(p).items() if not k.startswith(("jobs.", "results."))}  # noqa: E731
    assert records(other) == records(analysed)
    # the analyses and their results by content (a job's name carries its id: compared without it)
    assert _results(other) == _results(analysed) and _results(other)["results.Particle"]
