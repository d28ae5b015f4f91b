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
