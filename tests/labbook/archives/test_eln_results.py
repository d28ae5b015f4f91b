"""Results travel with the records: a project's analyses (jobs with their inputs, parameters and
analysis version; blinking analyses with their particles; lifetime fits; XRD results; artifacts)
are exported and restored by an import without re-running anything, queryable as before."""

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labbook.archives.eln import ElnError, eln_export, eln_import
from labbook.archives.eln_checks import eln_problems
from labbook.archives.records import domain_models, record_content
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.projects.models import Project
from labbook.results.models import BlinkingAnalysis, LifetimeFit, Particle, ResultArtifact, XRDResult

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]


def _results(project) -> dict:
    """Every job and result of ``project`` by content, links by what they point to, artifacts by bytes."""
    out = {}
    for model in domain_models():
        if model._meta.app_label not in {"jobs", "results"}:
            continue
        rows = []
        for obj in model._base_manager.filter(project=project).order_by("pk"):
            content = record_content(obj)
            for f in model._meta.concrete_fields:
                if (f.many_to_one or f.one_to_one) and content.get(f.attname) is not None:
                    content[f.attname] = str(getattr(obj, f.name)).split(" #")[0]
            content.pop("storage_name", None), content.pop("preview_name", None)
            if isinstance(obj, AnalysisJob):
                content["inputs"] = sorted((i.role, i.raw_file.sha256) for i in obj.inputs.all())
            if isinstance(obj, ResultArtifact):
                content["array"] = hashlib.sha256(obj.load().tobytes()).hexdigest()
            rows.append(json.dumps(content, sort_keys=True, default=str))
        out[model._meta.label] = sorted(rows)
    return out


def _read(path):
    with zipfile.ZipFile(path) as zf:
        root = zf.namelist()[0].split("/")[0]
        graph = json.loads(zf.read(f"{root}/ro-crate-metadata.json"))["@graph"]
        files = {
            n[len(root) + 1 :]: zf.read(n)
            for n in zf.namelist()
            if not n.endswith(("metadata.json", ".minisig"))
        }
    graph = [n for n in graph if n["@id"] not in {"./", "ro-crate-metadata.json"}]
    return graph, files


def test_results_are_exported_and_restored_without_re_running(analysed, admin_user, tmp_path):
    before = _results(analysed)
    assert before["results.Particle"] and before["results.LifetimeFit"] and before["results.XRDResult"]
    first = eln_export(project=analysed, user=admin_user, out=tmp_path / "a.eln")
    assert eln_problems(first) == []
    jobs_before = AnalysisJob.objects.count()

    copy = eln_import(path=first, user=admin_user, slug="copy")
    # restored, not re-run: every job is there once, succeeded, none queued
    assert AnalysisJob.objects.count() == 2 * jobs_before
    assert not AnalysisJob.objects.filter(project=copy).exclude(status=JobStatus.SUCCEEDED).exists()
    assert _results(copy) == before
    # queryable as before, across the lineage
    analysis = BlinkingAnalysis.objects.get(project=copy)
    assert analysis.n_particles == Particle.objects.filter(analysis__project=copy).count() >= 1
    assert (
        Particle.objects.filter(
            analysis__run__project=copy, analysis__run__sample__treatment__cl_to_i__gte="3 %"
        ).count()
        == analysis.n_particles
    )
    traces = analysis.job.artifacts.get(name="traces").load()
    original = BlinkingAnalysis.objects.get(project=analysed).job.artifacts.get(name="traces").load()
    assert np.array_equal(traces, original)
    assert (
        LifetimeFit.objects.get(project=copy).tau_long == LifetimeFit.objects.get(project=analysed).tau_long
    )
    assert XRDResult.objects.get(project=copy).mapbcl3_detected
    # and the copy exports to the same archive
    second = eln_export(project=Project.objects.get(slug="copy"), user=admin_user, out=tmp_path / "b.eln")
    (graph1, files1), (graph2, files2) = _read(first), _read(second)
    diff = [(a, b) for a, b in zip(graph1, graph2, strict=True) if a != b]
    assert not diff, [
        (a["@id"], {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
        for a, b in diff[:6]
    ]
    assert files1 == files2


def test_an_artifact_that_does_not_match_leaves_nothing_behind(analysed, admin_user, tmp_path, settings):
    out = eln_export(project=analysed, user=admin_user, out=tmp_path / "a.eln", sign=False)
    broken = tmp_path / "broken.eln"
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(broken, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("ro-crate-metadata.json"):
                doc = json.loads(data)
                last = [n for n in doc["@graph"] if n.get("genre") == "results.ResultArtifact"][-1]
                ids = {r["@id"] for r in last["variableMeasured"]}
                pv = next(n for n in doc["@graph"] if n["@id"] in ids and n.get("propertyID") == "sha256")
                pv["value"] = "0" * 64
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    media = Path(settings.MEDIA_ROOT)
    before = sorted(media.rglob("*"))
    with pytest.raises(ElnError, match="does not match its sha256"):
        eln_import(path=broken, user=admin_user, slug="copy")
    assert not Project.objects.filter(slug="copy").exists()
    assert sorted(media.rglob("*")) == before
