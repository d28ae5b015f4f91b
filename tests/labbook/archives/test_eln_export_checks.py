"""Our .eln export passes the ELN Consortium's checks (ported from TheELNFileFormat's tests/checks.py)
and loads with the ``rocrate`` library, so another ELN can read it; the checks themselves catch
what they are meant to."""

import json
import zipfile

import pytest
from rocrate.rocrate import ROCrate

from labbook.archives.eln import eln_export
from labbook.archives.eln_checks import eln_problems

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]


@pytest.mark.parametrize("fixture", ["series", "paper_series"])
def test_our_export_passes_the_consortium_checks(fixture, request, admin_user, tmp_path):
    project = request.getfixturevalue(fixture)
    out = eln_export(project=project, user=admin_user, out=tmp_path / "x.eln")
    assert eln_problems(out) == []
    # and what another ELN reads through ro-crate-py: names, types, authors, dates, keywords
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "x")
    crate = ROCrate(tmp_path / "x" / project.slug)
    assert crate.root_dataset["name"] == project.name and crate.root_dataset["license"]
    entities = list(crate.data_entities)
    assert entities
    for e in entities:
        assert e["name"] and e.type in {"Dataset", "File"}
        if e.type == "Dataset":
            assert isinstance(e["keywords"], str) and e["dateCreated"] and e["author"]["name"]


def _rewrite(src, dst, mutate):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("ro-crate-metadata.json"):
                doc = json.loads(data)
                mutate(doc)
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    return dst


def _first(doc, kind):
    return next(n for n in doc["@graph"] if n["@type"] == kind and n["@id"] != "./")


BROKEN = {
    "keywords an array": (lambda d: _first(d, "Dataset").update(keywords=["a", "b"]), "keywords"),
    "dataset without name": (lambda d: _first(d, "Dataset").pop("name"), "no name"),
    "file without name": (lambda d: _first(d, "File").pop("name"), "no name"),
    "date not ISO": (lambda d: _first(d, "Dataset").update(dateCreated="07:12:23:16:11:11"), "ISO 8601"),
    "duplicate @id": (lambda d: d["@graph"].append(dict(_first(d, "File"))), "not unique"),
    "no version": (lambda d: d["@graph"][0].pop("version"), "no version"),
    "no sdPublisher": (lambda d: d["@graph"][0].pop("sdPublisher"), "no sdPublisher"),
    "root without license": (lambda d: d["@graph"][1].pop("license"), "no license"),
    "node without @type": (lambda d: _first(d, "PropertyValue").pop("@type"), "no @type"),
    "sha256 wrong": (lambda d: _first(d, "File").update(sha256="0" * 64), "sha256 does not match"),
    "contentSize wrong": (lambda d: _first(d, "File").update(contentSize="1"), "contentSize"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_the_checks_find_what_breaks_the_rules(case, series, admin_user, tmp_path):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "x.eln")
    mutate, expected = BROKEN[case]
    problems = eln_problems(_rewrite(out, tmp_path / "broken.eln", mutate), with_rocrate=False)
    assert any(expected in p for p in problems), problems
