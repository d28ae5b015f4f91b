"""Real .eln archives exported by other ELNs (the ELN Consortium's examples, in
``../shared/validation/eln/``) import, with every dataset, file, author, date, keyword and comment,
and the exporting ELN recorded as their source. The expectations are read from each archive's own
metadata, so any archive dropped into that folder is checked the same way."""

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from labbook.archives.eln import ElnError, _parse_time, eln_import, keyword_list
from labbook.archives.models import Checksum, ElnImport, ImportedRecord
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from tests.labbook.archives.test_eln import PAYLOAD, foreign_eln

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

SHARED = Path(settings.BASE_DIR).parent / "shared" / "validation" / "eln"
ARCHIVES = sorted(SHARED.glob("*.eln")) if SHARED.is_dir() else []
#: the exporting ELN each of the four known archives names (others: whatever their descriptor says)
PUBLISHERS = {
    "elabftw_export.eln": "eLabFTW",
    "kadi4mat_records-example.eln": "Kadi4Mat",
    "SampleDB_sampledb_export.eln": "SampleDB",
    "RSpace_export.eln": "RSpace",
}


def _graph(path: Path) -> tuple[dict[str, dict], dict[str, bytes]]:
    """The archive's nodes by @id (duplicates merged) and its files by path below the root folder."""
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        meta = next(n for n in names if n.count("/") == 1 and n.endswith("/ro-crate-metadata.json"))
        nodes = {}
        for node in json.loads(zf.read(meta))["@graph"]:
            nodes[node["@id"]] = {**nodes.get(node["@id"], {}), **node}
        files = {"/".join(p for p in n.split("/")[1:] if p not in ("", ".")): zf.read(n) for n in names}
    return nodes, files


def _types(node) -> list:
    return node["@type"] if isinstance(node["@type"], list) else [node["@type"]]


def _refs(value) -> list[str]:
    value = value if isinstance(value, list) else [value] if value is not None else []
    return [v["@id"] if isinstance(v, dict) else v for v in value if isinstance(v, dict | str)]


def _person_words(node: dict) -> list[str]:
    return [str(node[k]) for k in ("name", "givenName", "familyName") if isinstance(node.get(k), str)]


@pytest.mark.skipif(not ARCHIVES, reason=f"no shared .eln archives in {SHARED}")
@pytest.mark.parametrize("path", ARCHIVES, ids=[p.name for p in ARCHIVES])
def test_an_archive_of_another_eln_imports_with_everything_in_it(path, admin_user):
    nodes, files = _graph(path)
    project = eln_import(path=path, user=admin_user, slug="other-eln")
    record = ElnImport.objects.get(project=project)
    if path.name in PUBLISHERS:
        assert record.source == PUBLISHERS[path.name]
    assert record.source != "unknown ELN"
    marks = {m.source_id: m for m in ImportedRecord.objects.filter(project=project)}
    assert {m.source for m in marks.values()} == {record.source}, "every record says where it came from"

    # every dataset reachable from the root became a notebook entry
    root = nodes[nodes["ro-crate-metadata.json"]["about"]["@id"]]
    todo, datasets = _refs(root.get("hasPart")), []
    while todo:
        node = nodes.get(todo.pop(0))
        if node and "Dataset" in _types(node) and node not in datasets:
            datasets.append(node)
            todo += _refs(node.get("hasPart"))
    assert datasets
    for ds in datasets:
        mark = marks[ds["@id"]]
        entry = mark.record()
        assert isinstance(entry, NotebookEntry) and entry.project == project
        if isinstance(ds.get("name"), str) and ds["name"].strip():
            assert entry.title == ds["name"].strip()[:200]
        # authors, as text
        for ref in _refs(ds.get("author")):
            for word in _person_words(nodes.get(ref, {})):
                assert word in mark.raw["people"]["author"] and word in entry.body
        # dates: the record's own when readable, the archive's text always
        created = _parse_time(ds.get("dateCreated"))
        if created is not None:
            assert entry.created_at == created
        for key in ("dateCreated", "dateModified"):
            if isinstance(ds.get(key), str):
                assert mark.raw[key] == ds[key] and ds[key] in entry.body
        # keywords, whether a string or an array
        assert mark.raw["keyword_list"] == keyword_list(ds.get("keywords"))
        for word in keyword_list(ds.get("keywords")):
            assert word in entry.body
        # comments, with their authors
        for ref in _refs(ds.get("comment")):
            comment = nodes.get(ref, {})
            if isinstance(comment.get("text"), str):
                assert comment["text"] in entry.body
            for word in _person_words(nodes.get((_refs(comment.get("author")) or [""])[0], {})):
                assert word in entry.body
        # every file the dataset lists is attached
        listed = [nodes[r] for r in _refs(ds.get("hasPart")) if r in nodes and "File" in _types(nodes[r])]
        names = {(r.original_name, r.size) for r in entry.raw_files.all()}
        for f in listed:
            if not f["@id"].startswith(("http://", "https://")):
                rel = "/".join(p for p in f["@id"].split("/") if p not in ("", "."))
                assert (f.get("name") or rel.rsplit("/", 1)[-1], len(files[rel])) in names

    # every file of the archive is kept, byte-identical; checked against its sha256 when it has one
    described = {
        "/".join(p for p in n["@id"].split("/") if p not in ("", ".")): n
        for n in nodes.values()
        if "File" in _types(n) and not n["@id"].startswith(("http://", "https://"))
    }
    stored = {}
    for raw in RawFile.objects.filter(project=project):
        with raw.open() as fh:
            stored[raw.sha256] = fh.read()
    vouched = {n["sha256"].lower() for n in described.values() if isinstance(n.get("sha256"), str)}
    crate = {"ro-crate-metadata.json", "ro-crate-metadata.json.minisig", "ro-crate-preview.html"}
    for rel, data in files.items():
        if rel in crate:
            continue
        sha = hashlib.sha256(data).hexdigest()
        assert stored.get(sha) == data, f"{rel} was not imported byte-identical"
        file_marks = [m for m in marks.values() if m.model == "files.RawFile" and m.record().sha256 == sha]
        assert file_marks, rel
        node = described.get(rel)
        if node is not None and isinstance(node.get("sha256"), str):
            assert node["sha256"].lower() == sha
        if sha in vouched:
            assert file_marks[0].checksum == Checksum.VERIFIED
        else:
            assert file_marks[0].checksum == Checksum.UNVERIFIED
            assert any(rel in i for i in record.summary["unverified_files"])


def test_the_four_known_archives_are_there():
    """The validation folder is part of this checkout's neighbourhood (the clone sits beside
    ../shared, as CI's does): when it is missing the other ELNs' archives are not tested, so fail."""
    assert SHARED.is_dir(), f"{SHARED} is absent: clone labbook beside ../shared"
    assert set(PUBLISHERS) <= {p.name for p in ARCHIVES}


def test_dates_other_elns_write_are_read():
    utc = dt.UTC
    assert _parse_time("2024-11-19T13:44:35.476888+00:00") == dt.datetime(
        2024, 11, 19, 13, 44, 35, 476888, utc
    )
    assert _parse_time("2025-10-15T14:24:28") == dt.datetime(2025, 10, 15, 14, 24, 28, tzinfo=utc)
    assert _parse_time("2023-12-08") == dt.datetime(2023, 12, 8, tzinfo=utc)
    assert _parse_time("07:12:23:16:11:11") == dt.datetime(2023, 12, 7, 16, 11, 11, tzinfo=utc)  # RSpace
    assert _parse_time("last Tuesday") is None and _parse_time(5) is None
    assert keyword_list("a, b,c") == ["a", "b", "c"] and keyword_list(["a", "b, c"]) == ["a", "b", "c"]


def test_what_the_format_allows_is_imported_and_marked(admin_user, tmp_path):
    """No sha256 (unverified, said so), ``//`` and ``./`` in paths, a node written twice, contentSize
    as a string, keywords as a string, a file only the root lists and one no node describes."""

    def mutate(doc, files):
        graph = doc["@graph"]
        f = next(n for n in graph if n["@type"] == "File")
        del f["sha256"]
        f["contentSize"] = str(len(PAYLOAD))
        ds = next(n for n in graph if n["@id"].startswith("./Absorbance"))
        ds["keywords"] = "perovskite, uv-vis"
        graph.append(dict(graph[4]))  # the Person, again, identical
        root = next(n for n in graph if n["@id"] == "./")
        root["hasPart"].append({"@id": "./notes.txt"})
        graph.append({"@id": "./notes.txt", "@type": "File", "name": "notes.txt", "sha256": NOTES_SHA})
        data = files.pop("elabftw-export/Absorbance-of-MAPI-films - a1b2c3/abs.csv")
        files["elabftw-export/./Absorbance-of-MAPI-films - a1b2c3//abs.csv"] = data
        files["elabftw-export/notes.txt"] = NOTES
        files["elabftw-export/Absorbance-of-MAPI-films - a1b2c3/extra.dat"] = b"not described"

    project = eln_import(path=foreign_eln(tmp_path, mutate=mutate), user=admin_user)
    entry = NotebookEntry.objects.get(project=project, title="Absorbance of MAPI films")
    assert sorted(r.original_name for r in entry.raw_files.all()) == ["abs.csv", "extra.dat"]
    assert "Keywords: perovskite, uv-vis" in entry.body and "Ada Lovelace" in entry.body
    files = {
        m.record().original_name: m
        for m in ImportedRecord.objects.filter(project=project, model="files.RawFile")
    }
    assert files["abs.csv"].checksum == files["extra.dat"].checksum == Checksum.UNVERIFIED
    assert files["notes.txt"].checksum == Checksum.VERIFIED
    assert files["abs.csv"].record().sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    record = ElnImport.objects.get(project=project)
    assert len(record.summary["unverified_files"]) == 2 and record.summary["unlisted_files"] == 1
    archive_entry = NotebookEntry.objects.get(project=project, title__endswith="files of the archive")
    assert [r.original_name for r in archive_entry.raw_files.all()] == ["notes.txt"]


NOTES = b"lab notes\n"
NOTES_SHA = hashlib.sha256(NOTES).hexdigest()


def test_the_import_command_says_what_was_not_verified(admin_user, tmp_path):
    def mutate(doc, files):
        next(n for n in doc["@graph"] if n["@type"] == "File").pop("sha256")

    out = io.StringIO()
    call_command(
        "import_eln", str(foreign_eln(tmp_path, mutate=mutate)), "--user", admin_user.username, stdout=out
    )
    text = out.getvalue()
    assert "from eLabFTW" in text and "1 dataset" in text and "1 file" in text
    assert "1 file without a sha256 (unverified)" in text and "unsigned" in text


def test_windows_separators_and_prefixed_checksums_are_read_and_escapes_still_refused(admin_user, tmp_path):
    def windows(doc, files):
        data = files.pop("elabftw-export/Absorbance-of-MAPI-films - a1b2c3/abs.csv")
        files["elabftw-export\\Absorbance-of-MAPI-films - a1b2c3\\abs.csv"] = data
        f = next(n for n in doc["@graph"] if n["@type"] == "File")
        f["sha256"] = "sha256:" + f["sha256"].upper()

    project = eln_import(path=foreign_eln(tmp_path, mutate=windows), user=admin_user)
    (mark,) = ImportedRecord.objects.filter(project=project, model="files.RawFile")
    assert mark.checksum == Checksum.VERIFIED and mark.record().size == len(PAYLOAD)

    def escape(doc, files):
        files["elabftw-export\\..\\..\\evil.txt"] = b"x"

    with pytest.raises(ElnError, match="escapes"):
        eln_import(path=foreign_eln(tmp_path, mutate=escape), user=admin_user, slug="evil")


def test_the_admin_shows_unverified_files_and_the_import(admin_user, client, tmp_path):
    from django.urls import reverse

    def mutate(doc, files):
        next(n for n in doc["@graph"] if n["@type"] == "File").pop("sha256")

    project = eln_import(path=foreign_eln(tmp_path, mutate=mutate), user=admin_user)
    client.force_login(admin_user)
    html = client.get(reverse("admin:archives_importedrecord_changelist")).content.decode()
    assert "unverified: the archive gives no sha256" in html
    record = ElnImport.objects.get(project=project)
    html = client.get(reverse("admin:archives_elnimport_changelist")).content.decode()
    assert "foreign.eln" in html and "eLabFTW" in html and "unsigned" in html
    page = client.get(reverse("admin:archives_elnimport_change", args=[record.pk]))
    assert page.status_code == 200 and "unverified_files" in page.content.decode()
