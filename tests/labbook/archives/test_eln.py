""".eln export/import: the consortium's rules, a lossless round trip, another ELN's archive, and
refusal of hostile or broken archives with nothing imported."""

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from rocrate.rocrate import ROCrate

from labbook.archives.eln import ElnError, eln_export, eln_import
from labbook.archives.models import ImportedRecord
from labbook.archives.records import domain_models
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Project
from labbook.synthesis.models import PostTreatment, Synthesis
from labbook.units import Quantity

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]


def graph_of(path: Path) -> tuple[str, list[dict], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        root = names[0].split("/")[0]
        graph = json.loads(zf.read(f"{root}/ro-crate-metadata.json"))["@graph"]
        blobs = {n: zf.read(n) for n in names if not n.endswith(("ro-crate-metadata.json", ".minisig"))}
    return root, graph, blobs


def test_export_follows_the_consortium_rules(series, admin_user, tmp_path):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "series.eln")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        # one root folder, no absolute paths, no "..", no top-level files
        assert {n.split("/")[0] for n in names} == {series.slug}
        assert all(not n.startswith("/") and ".." not in n.split("/") and "/" in n for n in names)
        zf.extractall(tmp_path / "x")
    _, graph, blobs = graph_of(out)
    ids = [n["@id"] for n in graph]
    assert len(ids) == len(set(ids)), "every @id is unique"
    assert all(n.get("@type") for n in graph), "every node has @type"
    nodes = {n["@id"]: n for n in graph}
    descriptor = nodes["ro-crate-metadata.json"]
    assert descriptor["version"] and nodes[descriptor["sdPublisher"]["@id"]]["@type"] == "Organization"
    assert {"name", "url"} <= set(nodes[descriptor["sdPublisher"]["@id"]])
    root = nodes["./"]
    assert {"name", "description", "datePublished", "license"} <= set(root)
    for node in graph:
        types = node["@type"] if isinstance(node["@type"], list) else [node["@type"]]
        if "Dataset" in types or "File" in types:
            assert node.get("name"), node["@id"]
        if "keywords" in node:
            assert isinstance(node["keywords"], str)
        if "dateCreated" in node:
            dt.datetime.fromisoformat(node["dateCreated"])
        if "File" in types:
            data = blobs[f"{series.slug}/{node['@id']}"]
            assert node["sha256"] == hashlib.sha256(data).hexdigest()
            assert node["contentSize"] == str(len(data))
    # the root's hasPart is the table of contents: every record, nothing else
    datasets = {n["@id"] for n in graph if n["@type"] == "Dataset" and n["@id"] != "./"}
    assert {p["@id"] for p in root["hasPart"]} == datasets
    # units travel with both unitText and the UN/CEFACT code
    volume = next(n for n in graph if n["@type"] == "PropertyValue" and n["propertyID"] == "volume_added")
    assert volume["unitText"] == "uL" and volume["unitCode"] == "4G"
    assert {"sha256": "https://schema.org/sha256"} in json.loads(
        zipfile.ZipFile(out).read(f"{series.slug}/ro-crate-metadata.json")
    )["@context"]
    # and ro-crate-py loads it
    crate = ROCrate(tmp_path / "x" / series.slug)
    assert crate.root_dataset["name"] == series.name
    assert len(crate.data_entities) == len(datasets) + RawFile.objects.filter(project=series).count()


def _wipe(project):
    """Make the instance 'empty' of ``project``: its records, files and blobs go."""
    shas = list(RawFile.objects.filter(project=project).values_list("sha256", flat=True))
    for model in reversed(domain_models()):
        model.objects.filter(project=project).delete()
    project.memberships.all().delete()
    project.delete()
    for sha in shas:
        (Path(settings.MEDIA_ROOT) / "raw" / sha[:2] / sha).unlink()


def test_round_trip_export_import_export_is_identical(series, admin_user, tmp_path):
    before = {
        t.code: (t.cl_to_i.magnitude, t.solvent_fraction.magnitude, t.iodide_amount.magnitude)
        for t in PostTreatment.objects.filter(project=series)
    }
    lineage = {
        b.code: sorted(Synthesis.objects.get(pk=a).code for a in b.ancestors())
        for b in Synthesis.objects.filter(project=series)
    }
    first = eln_export(project=series, user=admin_user, out=tmp_path / "first.eln")
    _wipe(series)
    assert not Synthesis.objects.exists()

    imported = eln_import(path=first, user=admin_user)
    assert imported.slug == series.slug
    second = eln_export(project=imported, user=admin_user, out=tmp_path / "second.eln")

    root1, graph1, blobs1 = graph_of(first)
    root2, graph2, blobs2 = graph_of(second)
    drop = lambda g: [  # noqa: E731 - the export time is the one thing that differs
        {
            k: v
            for k, v in n.items()
            if not (n["@id"] in {"./", "ro-crate-metadata.json"} and k in {"datePublished", "dateCreated"})
        }
        for n in g
    ]
    assert drop(graph1) == drop(graph2)
    assert blobs1 == blobs2
    # field by field, derived values and lineage included
    after = {
        t.code: (t.cl_to_i.magnitude, t.solvent_fraction.magnitude, t.iodide_amount.magnitude)
        for t in PostTreatment.objects.filter(project=imported)
    }
    assert after == before
    assert {
        b.code: sorted(Synthesis.objects.get(pk=a).code for a in b.ancestors())
        for b in Synthesis.objects.filter(project=imported)
    } == lineage
    # files are byte-identical in the store
    for raw in RawFile.objects.filter(project=imported):
        with raw.open() as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == raw.sha256
    assert ImportedRecord.objects.filter(project=imported, source="labbook").count() == sum(
        m.objects.filter(project=imported).count() for m in domain_models()
    )


def test_quantities_come_back_as_the_same_pint_quantity(series, admin_user, tmp_path):
    t = PostTreatment.objects.filter(project=series).order_by("code").first()
    t.suspension_volume = "4.000 +/- 0.05 mL"
    t.save()
    out = eln_export(project=series, user=admin_user, out=tmp_path / "q.eln")
    code = t.code
    _wipe(series)
    eln_import(path=out, user=admin_user)
    back = PostTreatment.objects.get(code=code)
    assert back.suspension_volume.value == Quantity(4.0, "mL")
    assert back.suspension_volume.error == Quantity(0.05, "mL")
    assert back.volume_added == t.volume_added


# --- an archive written by another ELN, built by hand from the specification -----------------
PAYLOAD = b"wavelength_nm,absorbance\n500,0.91\n600,0.40\n700,0.05\n"


def foreign_eln(tmp_path: Path, **overrides) -> Path:
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    graph = [
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
            "dateCreated": "2024-03-01T10:00:00+01:00",
            "sdPublisher": {"@id": "https://www.elabftw.net"},
            "version": "1.0",
        },
        {
            "@id": "https://www.elabftw.net",
            "@type": "Organization",
            "name": "eLabFTW",
            "url": "https://www.elabftw.net",
        },
        {
            "@id": "./",
            "@type": "Dataset",
            "name": "eLabFTW export",
            "description": "an experiment",
            "datePublished": "2024-03-01T10:00:00+01:00",
            "license": {"@id": "https://creativecommons.org/licenses/by/4.0/"},
            "hasPart": [{"@id": "./Absorbance-of-MAPI-films - a1b2c3/"}],
        },
        {"@id": "https://creativecommons.org/licenses/by/4.0/", "@type": "CreativeWork", "name": "CC BY 4.0"},
        {"@id": "person://ada", "@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
        {
            "@id": "./Absorbance-of-MAPI-films - a1b2c3/",
            "@type": "Dataset",
            "name": "Absorbance of MAPI films",
            "author": {"@id": "person://ada"},
            "dateCreated": "2024-02-28T09:00:00+01:00",
            "dateModified": "2024-02-29",
            "keywords": ["perovskite", "uv-vis"],
            "text": "<p>Films spin-coated at 3000 rpm.</p>",
            "variableMeasured": [
                {"@type": "PropertyValue", "propertyID": "thickness", "value": 350, "unitText": "nm"},
                {
                    "@id": "#temp",
                },
            ],
            "hasPart": [
                {"@id": "./Absorbance-of-MAPI-films - a1b2c3/abs.csv"},
                {"@id": "https://example.org/remote.pdf"},
            ],
            "comment": [{"@id": "#comment-1"}],
        },
        {
            "@id": "#temp",
            "@type": "PropertyValue",
            "name": "anneal temperature",
            "value": "100",
            "unitCode": "CEL",
        },
        {"@id": "#comment-1", "@type": "Comment", "text": "looks good", "dateCreated": "2024-02-28"},
        {
            "@id": "./Absorbance-of-MAPI-films - a1b2c3/abs.csv",
            "@type": "File",
            "name": "abs.csv",
            "encodingFormat": "text/csv",
            "contentSize": len(PAYLOAD),
            "sha256": sha,
        },
    ]
    doc = {
        "@context": ["https://w3id.org/ro/crate/1.1/context", {"sha256": "https://schema.org/sha256"}],
        "@graph": graph,
    }
    files = {"elabftw-export/Absorbance-of-MAPI-films - a1b2c3/abs.csv": PAYLOAD}
    mutate = overrides.pop("mutate", None)
    if mutate:
        mutate(doc, files)
    path = tmp_path / "foreign.eln"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("elabftw-export/ro-crate-metadata.json", json.dumps(doc))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_import_an_archive_written_by_another_eln(admin_user, tmp_path):
    project = eln_import(path=foreign_eln(tmp_path), user=admin_user)
    entry = NotebookEntry.objects.get(project=project)
    assert entry.title == "Absorbance of MAPI films"
    assert "thickness: 350 nm" in entry.body and "anneal temperature: 100 degC" in entry.body
    (raw,) = entry.raw_files.all()
    with raw.open() as fh:
        assert fh.read() == PAYLOAD
    mark = ImportedRecord.objects.get(project=project, model="notebook.NotebookEntry")
    assert mark.source == "eLabFTW" and mark.record() == entry
    # unmapped content is kept as raw JSON, referenced nodes resolved
    assert mark.raw["comment"][0]["text"] == "looks good"
    assert mark.raw["author"][0]["familyName"] == "Lovelace"
    assert {p["propertyID"] if "propertyID" in p else p["name"] for p in mark.raw["variableMeasured"]} == {
        "thickness",
        "anneal temperature",
    }


# --- hostile and broken archives ----------------------------------------------------------------
def _zip(tmp_path, entries, *, symlink=None):
    path = tmp_path / "bad.eln"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _meta_only(tmp_path):
    return foreign_eln(tmp_path)


def _with(tmp_path, mutate):
    return foreign_eln(tmp_path, mutate=mutate)


def _set_file(doc, key, value):
    for n in doc["@graph"]:
        if n.get("@type") == "File":
            n[key] = value


HOSTILE = {
    "zip slip": (
        lambda p: _zip(p, {"root/ro-crate-metadata.json": "{}", "root/../../evil.txt": "x"}),
        "escapes",
    ),
    "absolute path": (
        lambda p: _zip(p, {"root/ro-crate-metadata.json": "{}", "/etc/cron.d/x": "x"}),
        "absolute",
    ),
    "symlink": (
        lambda p: _zip(p, {"root/ro-crate-metadata.json": "{}"}, symlink="root/link"),
        "symbolic link",
    ),
    "zip bomb": (
        lambda p: _zip(p, {"root/ro-crate-metadata.json": "{}", "root/zeros": b"\0" * (8 << 20)}),
        "zip bomb",
    ),
    "two roots": (lambda p: _zip(p, {"a/ro-crate-metadata.json": "{}", "b/x": "x"}), "one root folder"),
    "top-level file": (lambda p: _zip(p, {"ro-crate-metadata.json": "{}"}), "top level"),
    "not a zip": (lambda p: (p / "bad.eln").write_bytes(b"hello") and p / "bad.eln", "not a .eln"),
    "missing metadata": (lambda p: _zip(p, {"root/data.csv": "x"}), "no ro-crate-metadata.json"),
    "no graph": (lambda p: _zip(p, {"root/ro-crate-metadata.json": '{"@context": []}'}), "no @graph"),
    "unknown RO-Crate version": (
        lambda p: _with(
            p, lambda d, f: d["@graph"][0].update(conformsTo={"@id": "https://w3id.org/ro/crate/9.0"})
        ),
        "unknown RO-Crate version",
    ),
    "unknown .eln version": (
        lambda p: _with(p, lambda d, f: d["@graph"][0].update(version="2.0")),
        "unknown .eln version",
    ),
    "duplicate @id": (
        lambda p: _with(p, lambda d, f: d["@graph"].append({**d["@graph"][-1], "contentSize": "1"})),
        "appears twice",
    ),
    "node without @type": (lambda p: _with(p, lambda d, f: d["@graph"].append({"@id": "#x"})), "no @type"),
    "checksum mismatch": (
        lambda p: _with(p, lambda d, f: _set_file(d, "sha256", "0" * 64)),
        "checksum mismatch",
    ),
    "sha256 not a checksum": (
        lambda p: _with(p, lambda d, f: _set_file(d, "sha256", "abc")),
        "64 hex digits",
    ),
    "file outside the root": (
        lambda p: _with(p, lambda d, f: _set_file(d, "@id", "../../etc/passwd")),
        "not in the metadata|outside",
    ),
    "file missing": (lambda p: _with(p, lambda d, f: f.clear()), "missing from the archive"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_or_broken_archives_are_refused_and_nothing_is_imported(case, admin_user, tmp_path, settings):
    settings.ELN_IMPORT_MAX_RATIO = 200
    build, message = HOSTILE[case]
    path = build(tmp_path)
    blobs_before = sorted(Path(settings.MEDIA_ROOT).rglob("*"))
    with pytest.raises(ElnError, match=message):
        eln_import(path=path, user=admin_user)
    assert (
        not Project.objects.exists() and not NotebookEntry.objects.exists() and not RawFile.objects.exists()
    )
    assert sorted(Path(settings.MEDIA_ROOT).rglob("*")) == blobs_before
    with pytest.raises(CommandError, match=message) as exc:
        call_command("import_eln", str(path), "--user", admin_user.username)
    assert exc.value.returncode == 2 and "\n" not in str(exc.value)


def test_too_many_entries_and_too_large_are_refused(admin_user, tmp_path, settings):
    settings.ELN_IMPORT_MAX_ENTRIES = 2
    with pytest.raises(ElnError, match="entries"):
        eln_import(
            path=_zip(tmp_path, {"r/ro-crate-metadata.json": "{}", "r/a": "1", "r/b": "2"}), user=admin_user
        )
    settings.ELN_IMPORT_MAX_ENTRIES = 100
    settings.ELN_IMPORT_MAX_BYTES = 10
    with pytest.raises(ElnError, match="expands to"):
        eln_import(path=foreign_eln(tmp_path), user=admin_user)


def test_a_failure_late_in_the_import_rolls_back_records_and_new_blobs(series, admin_user, tmp_path):
    """The archive is valid but its project exists already: nothing is written. Under another slug
    it imports (record codes are unique per project). An archive whose last record is broken leaves
    no project, no record and none of the blobs its earlier records brought."""
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln", sign=False)
    n = Synthesis.objects.count()
    with pytest.raises(ElnError, match="exists already"):
        eln_import(path=out, user=admin_user)
    assert Synthesis.objects.count() == n and Project.objects.count() == 1
    copy = eln_import(path=out, user=admin_user, slug="copy")
    assert Synthesis.objects.filter(project=copy).count() == n
    for model in reversed(domain_models()):
        model.objects.filter(project=copy).delete()
    copy.delete()
    _wipe(series)
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]

    broken = tmp_path / "broken.eln"
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(broken, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("ro-crate-metadata.json"):
                doc = json.loads(data)
                genres = {node.get("genre") for node in doc["@graph"]}
                last = [m._meta.label for m in domain_models() if m._meta.label in genres][-1]
                ds = [node for node in doc["@graph"] if node.get("genre") == last][-1]
                ids = {r["@id"] for r in ds["variableMeasured"]}
                for node in doc["@graph"]:
                    if node["@id"] in ids and node.get("propertyID") not in {"raw_files", "treatments"}:
                        node["value"] = {"not": "a value"}
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    with pytest.raises(ElnError, match="expected a single value"):
        eln_import(path=broken, user=admin_user)
    assert not Project.objects.exists() and not RawFile.objects.exists() and not Synthesis.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_export_and_import_commands(series, admin_user, tmp_path):
    out = io.StringIO()
    call_command(
        "export_eln", series.slug, str(tmp_path / "c.eln"), "--user", admin_user.username, stdout=out
    )
    assert "wrote" in out.getvalue()
    with pytest.raises(CommandError, match="no project") as exc:
        call_command("export_eln", "nope", str(tmp_path / "d.eln"), "--user", admin_user.username)
    assert exc.value.returncode == 2
