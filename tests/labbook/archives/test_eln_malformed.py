"""Malformed .eln archives: every one is refused with one line and exit code 2, nothing imported;
duplicate zip entries are refused; an archive cannot attribute records to an existing account."""

import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from labbook.archives.eln import ElnError, eln_export, eln_import
from labbook.archives.models import ImportedRecord
from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Project
from labbook.synthesis.models import Synthesis
from tests.labbook.archives.test_eln import foreign_eln
from tests.labbook.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

METADATA = "ro-crate-metadata.json"


def _rewrite(src: Path, out: Path, *, doc=None, text=None, extra: list[tuple[str, bytes]] = ()) -> Path:
    """A copy of the archive ``src`` with its metadata replaced by ``doc`` (JSON) or ``text`` (raw),
    and ``extra`` entries appended (zipfile allows the same name twice)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/" + METADATA):
                if doc is not None:
                    data = json.dumps(doc).encode()
                elif text is not None:
                    data = text if isinstance(text, bytes) else text.encode()
            zout.writestr(info.filename, data)
        for name, data in extra:
            zout.writestr(name, data)
    return out


def _doc(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/" + METADATA))
        return json.loads(zf.read(name))


def _node(doc, pred):
    return next(n for n in doc["@graph"] if pred(n))


def _dataset(doc, genre):
    return _node(doc, lambda n: n.get("genre") == genre)


def _pv(doc, genre, prop):
    ds = _dataset(doc, genre)
    ids = {r["@id"] for r in ds["variableMeasured"]}
    return _node(doc, lambda n: n.get("@id") in ids and n.get("propertyID") == prop)


def assert_refused(path: Path, user, match: str | None = None) -> str:
    """eln_import raises a one-line ElnError, the command exits 2 with one line, nothing is written."""
    projects = set(Project.objects.values_list("pk", flat=True))
    counts = (RawFile.objects.count(), NotebookEntry.objects.count(), ImportedRecord.objects.count())
    blobs = sorted(Path(settings.MEDIA_ROOT).rglob("*"))
    with pytest.raises(ElnError) as exc:
        eln_import(path=path, user=user, slug="imported")
    message = "; ".join(exc.value.messages)
    assert "\n" not in message and "Traceback" not in message
    if match:
        assert match in message
    with pytest.raises(CommandError) as cmd:
        call_command("import_eln", str(path), "--user", user.username, "--slug", "imported")
    assert cmd.value.returncode == 2 and "\n" not in str(cmd.value)
    assert set(Project.objects.values_list("pk", flat=True)) == projects
    assert (RawFile.objects.count(), NotebookEntry.objects.count(), ImportedRecord.objects.count()) == counts
    assert sorted(Path(settings.MEDIA_ROOT).rglob("*")) == blobs
    return message


@pytest.fixture
def labbook_eln(series, admin_user, tmp_path):
    """Our export, unsigned: these tests alter its metadata (a signed one is refused then)."""
    return eln_export(project=series, user=admin_user, out=tmp_path / "series.eln", sign=False)


def _truncated(p: Path) -> Path:
    data = foreign_eln(p).read_bytes()
    (p / "t.eln").write_bytes(data[: len(data) // 2])
    return p / "t.eln"


def _corrupt_member(p: Path) -> Path:
    """The central directory is intact but the metadata's compressed bytes are not."""
    src = foreign_eln(p)
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(f"elabftw-export/{METADATA}")
    start = info.header_offset + 30 + len(info.filename.encode())
    for i in range(start + 5, start + min(info.compress_size, 60)):
        data[i] ^= 0xFF
    (p / "c.eln").write_bytes(bytes(data))
    return p / "c.eln"


def _foreign(mutate):
    def build(p: Path) -> Path:
        src = foreign_eln(p)
        doc = _doc(src)
        mutate(doc)
        return _rewrite(src, p / "m.eln", doc=doc)

    return build


def _foreign_text(text):
    return lambda p: _rewrite(foreign_eln(p), p / "m.eln", text=text)


def _descriptor(doc):
    return _node(doc, lambda n: n["@id"] == METADATA)


def _root(doc):
    return _node(doc, lambda n: n["@id"] == "./")


def _file(doc):
    return _node(doc, lambda n: n["@type"] == "File")


def _foreign_ds(doc):
    return _node(doc, lambda n: n["@id"].startswith("./Absorbance"))


FOREIGN = {
    "not a zip": (lambda p: (p / "x.eln").write_bytes(b"PK\x03\x04 nothing") and p / "x.eln", "not a .eln"),
    "empty file": (lambda p: (p / "x.eln").write_bytes(b"") or p / "x.eln", "not a .eln"),
    "truncated zip": (_truncated, None),
    "corrupt member": (_corrupt_member, None),
    "metadata not JSON": (_foreign_text("{"), "not valid JSON"),
    "metadata not UTF-8": (_foreign_text(b"\xff\xfe\xfa{}"), None),
    "metadata deeply nested": (_foreign_text("[" * 200_000 + "]" * 200_000), None),
    "JSON a list": (_foreign_text("[]"), "no @graph"),
    "JSON a string": (_foreign_text('"ro-crate"'), "no @graph"),
    "@graph not a list": (_foreign(lambda d: d.update({"@graph": {"a": 1}})), "no @graph"),
    "a node not a dict": (_foreign(lambda d: d["@graph"].append(["x"])), "no @id"),
    "@id not a string": (_foreign(lambda d: d["@graph"].append({"@id": 7, "@type": "Thing"})), "no @id"),
    "about not a reference": (_foreign(lambda d: _descriptor(d).update(about=5)), "root dataset"),
    "about @id a list": (_foreign(lambda d: _descriptor(d).update(about={"@id": ["./"]})), None),
    "conformsTo @id a list": (
        _foreign(lambda d: _descriptor(d).update(conformsTo={"@id": ["https://w3id.org/ro/crate/1.1"]})),
        None,
    ),
    "hasPart not a list of references": (_foreign(lambda d: _root(d).update(hasPart=5)), None),
    "hasPart @id a list": (_foreign(lambda d: _root(d).update(hasPart=[{"@id": ["./a/"]}])), None),
    "dataset parts a number": (_foreign(lambda d: _foreign_ds(d).update(hasPart=[3])), None),
    "sha256 a list": (_foreign(lambda d: _file(d).update(sha256=["0" * 64])), "64 hex digits"),
    "contentSize wrong": (_foreign(lambda d: _file(d).update(contentSize="12")), "contentSize"),
    "a NUL in a name": (_foreign(lambda d: _foreign_ds(d).update(name="bad\x00name")), "NUL"),
    "duplicate zip entry": (
        lambda p: _rewrite(
            foreign_eln(p),
            p / "d.eln",
            extra=[("elabftw-export/Absorbance-of-MAPI-films - a1b2c3/abs.csv", b"other bytes")],
        ),
        "twice",
    ),
    "duplicate metadata": (
        lambda p: _rewrite(foreign_eln(p), p / "d.eln", extra=[(f"elabftw-export/{METADATA}", b"{}")]),
        "twice",
    ),
}


@pytest.mark.parametrize("case", list(FOREIGN), ids=list(FOREIGN))
def test_malformed_archives_are_refused_in_one_line(case, admin_user, tmp_path):
    build, match = FOREIGN[case]
    assert_refused(build(tmp_path), admin_user, match)


def _labbook(mutate):
    def build(src: Path, p: Path) -> Path:
        doc = _doc(src)
        mutate(doc)
        return _rewrite(src, p / "m.eln", doc=doc)

    return build


LABBOOK = {
    "genre a list": _labbook(
        lambda d: _dataset(d, "synthesis.Chemical").update(genre=["synthesis.Chemical"])
    ),
    "propertyID a list": _labbook(lambda d: _pv(d, "synthesis.Chemical", "name").update(propertyID=["name"])),
    "quantity not a number": _labbook(
        lambda d: _pv(d, "synthesis.Synthesis", "temperature").update(value="hot")
    ),
    "quantity a dict": _labbook(
        lambda d: _pv(d, "synthesis.Synthesis", "temperature").update(value={"a": 1})
    ),
    "quantity infinite": _labbook(lambda d: _pv(d, "synthesis.Synthesis", "temperature").update(value="inf")),
    "unit unknown": _labbook(
        lambda d: _pv(d, "synthesis.Synthesis", "temperature").update(unitText="furlong")
    ),
    "date not a date": _labbook(lambda d: _pv(d, "synthesis.Synthesis", "date").update(value="yesterday")),
    "date a number": _labbook(lambda d: _pv(d, "synthesis.Synthesis", "date").update(value=20221003)),
    "JSON field not JSON": _labbook(
        lambda d: _pv(d, "characterization.CharacterizationRun", "extra_settings").update(value="{")
    ),
    "name a dict": _labbook(lambda d: _pv(d, "synthesis.Chemical", "name").update(value={"x": 1})),
    "reference a list of lists": _labbook(
        lambda d: _pv(d, "synthesis.Synthesis", "pbi2").update(value=[["x"]], valueReference={"@id": [1]})
    ),
    "m2m references not objects": _labbook(
        lambda d: _pv(d, "devices.Device", "samples").update(valueReference=[5, None])
    ),
    "raw file record without a file": _labbook(lambda d: _dataset(d, "files.RawFile").update(hasPart=[])),
}


@pytest.mark.parametrize("case", list(LABBOOK), ids=list(LABBOOK))
def test_malformed_labbook_records_are_refused_in_one_line(case, labbook_eln, admin_user, tmp_path):
    assert_refused(LABBOOK[case](labbook_eln, tmp_path), admin_user)


# a fuzzer: any JSON value put anywhere in a valid archive's metadata is imported or refused in one
# line; never a traceback, never a half-written project
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_KEYS = ["@id", "@type", "name", "hasPart", "about", "conformsTo", "version", "genre", "author", "sha256",
         "contentSize", "variableMeasured", "value", "valueReference", "unitText", "unitCode", "propertyID",
         "dateCreated", "dateModified", "identifier", "description", "encodingFormat", "text"]  # fmt: skip


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_metadata_is_imported_or_refused_in_one_line(data, labbook_eln, admin_user, tmp_path_factory):
    doc = _doc(labbook_eln)
    for _ in range(data.draw(st.integers(1, 3))):
        node = data.draw(st.sampled_from(doc["@graph"]))
        node[data.draw(st.sampled_from(_KEYS))] = data.draw(_json)
    path = _rewrite(labbook_eln, tmp_path_factory.mktemp("fuzz") / "f.eln", doc=doc)
    before = Project.objects.count()
    slug = f"fuzz-{before}"
    try:
        eln_import(path=path, user=admin_user, slug=slug)
    except ElnError as exc:
        assert "\n" not in "; ".join(exc.messages)
        assert Project.objects.count() == before
    else:
        assert Project.objects.count() == before + 1


def test_imported_records_belong_to_the_importing_user(labbook_eln, admin_user, tmp_path):
    """An archive naming an existing superuser as author/creator does not attribute anything to
    that account: the importing user owns the records; the archive's people are kept as text."""
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True, email="boss@lab.example")
    importer = UserFactory(username="student")
    doc = _doc(labbook_eln)
    for n in doc["@graph"]:
        if n.get("@type") == "Person":
            n["@id"], n["name"] = "#person-boss", "The Boss"
        for key in ("author", "creator"):
            if isinstance(n.get(key), dict):
                n[key] = {"@id": "#person-boss"}
        if n.get("@type") == "PropertyValue" and str(n.get("value", "")).startswith("#person-"):
            n["value"], n["valueReference"] = "#person-boss", {"@id": "#person-boss"}
    path = _rewrite(labbook_eln, tmp_path / "boss.eln", doc=doc)
    from labbook.projects.models import Membership

    Project.objects.filter(slug="mini-chloride").update(slug="original", name="original")
    project = eln_import(path=path, user=importer)
    assert Membership.objects.filter(project=project, user=importer).exists()
    records = [
        *Synthesis.objects.filter(project=project),
        *CharacterizationRun.objects.filter(project=project),
        *Device.objects.filter(project=project),
        *NotebookEntry.objects.filter(project=project),
        *RawFile.objects.filter(project=project),
    ]
    assert records and all(r.created_by_id == importer.pk for r in records)
    entry = NotebookEntry.objects.get(project=project)
    assert entry.author_id == importer.pk
    assert not [
        (type(r).__name__, f.name)
        for r in records
        for f in type(r)._meta.concrete_fields
        if f.many_to_one and f.related_model is type(boss) and getattr(r, f.attname) == boss.pk
    ]
    mark = ImportedRecord.objects.get(project=project, model="notebook.NotebookEntry")
    assert "The Boss" in json.dumps(mark.raw["people"])
    # an import creates no accounts either
    assert set(type(boss).objects.values_list("username", flat=True)) == {"curator", "boss", "student"}


def test_unicode_names_are_imported(admin_user, tmp_path):
    name = "Absorbance µ-films ü 🧪 שלום"

    def mutate(doc, files):
        ds = next(n for n in doc["@graph"] if n["@id"].startswith("./Absorbance"))
        ds["name"] = name
        f = next(n for n in doc["@graph"] if n["@type"] == "File")
        f["name"] = "données µ.csv"

    project = eln_import(path=foreign_eln(tmp_path, mutate=mutate), user=admin_user)
    entry = NotebookEntry.objects.get(project=project)
    assert entry.title == name and entry.raw_files.get().original_name == "données µ.csv"
