"""Export a project to a ``.eln`` file (the ELN Consortium's RO-Crate based format) and import one.

Export (:func:`eln_export`): a ZIP with one root folder named after the project slug, holding
``ro-crate-metadata.json`` and one folder per record. Each record is a ``Dataset`` whose ``genre``
is its model (``synthesis.Synthesis``) and whose fields are ``PropertyValue`` nodes: quantities with
``value`` in the column's unit, ``unitText`` (pint syntax) and the UN/CEFACT ``unitCode`` where one
exists; links to other records (lineage, a treatment's batch, a run's files) as ``valueReference``.
Raw files are ``File`` nodes with ``sha256`` and ``contentSize``. Ids are positional
(``synthesis.synthesis-0003/``), so export -> import -> export gives the same graph.

Import (:func:`eln_import`): refuses hostile or broken archives before anything is written (see
:func:`open_archive`), then creates the project and its records in one transaction; files are
checked against their ``sha256`` first, and blobs new to the store are removed again if the
import fails. Datasets written by another ELN (no labbook ``genre``) become notebook entries with
their files; every imported record is marked by an :class:`ImportedRecord` that keeps the raw
JSON of what could not be mapped.

Why JSON by hand rather than ``rocrate`` for writing: the output must be byte-stable for the
round trip and the graph fully flattened (ro-crate-py crashes on un-flattened PropertyValues,
TheELNFileFormat#89); ``rocrate`` is used to load and check archives in the tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import DatabaseError, models, transaction
from django.utils import timezone

from labbook.archives.models import ImportedRecord
from labbook.archives.records import content_fields, domain_models, project_records
from labbook.files.models import RawFile, blob_name
from labbook.files.services import raw_file_store
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Membership, Project, ProjectRecord, Role
from labbook.projects.permissions import require_role
from labbook.units import Quantity, QuantityField, to_quantity

METADATA = "ro-crate-metadata.json"
ELN_VERSION = "1.0"
RO_CRATE_VERSIONS = {"https://w3id.org/ro/crate/1.1", "https://w3id.org/ro/crate/1.2"}
CONTEXT = ["https://w3id.org/ro/crate/1.1/context", {"sha256": "https://schema.org/sha256"}]
PUBLISHER = {
    "@id": "#publisher",
    "@type": "Organization",
    "name": "labbook",
    "url": "https://github.com/labbook",
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

#: UN/CEFACT Common Codes (Recommendation 20) for the units our columns are declared in
UNIT_CODES = {
    "uL": "4G",
    "mL": "MLT",
    "L": "LTR",
    "mg": "MGM",
    "g": "GRM",
    "umol": "FH",
    "mmol": "C18",
    "mol": "C34",
    "g/mol": "A94",
    "mol/L": "C38",
    "percent": "P1",
    "s": "SEC",
    "ms": "C26",
    "min": "MIN",
    "h": "HUR",
    "rpm": "RPM",
    "degC": "CEL",
    "K": "KEL",
    "nm": "C45",
    "um": "4H",
    "cm^2": "CMK",
    "MHz": "MHZ",
    "Hz": "HTZ",
    "V": "VLT",
    "A": "AMP",
}
UNITS_BY_CODE = {code: unit for unit, code in UNIT_CODES.items()}


class ElnError(ValidationError):
    """An archive that cannot be imported; the message says why, in one line."""


logger = logging.getLogger("labbook.archives")

#: what a malformed archive makes the standard library, the ORM or pint raise while it is read
_MALFORMED = (
    ValueError, TypeError, KeyError, AttributeError, IndexError, ArithmeticError, RecursionError,
    UnicodeError, EOFError, zipfile.BadZipFile, zlib.error, DatabaseError,
)  # fmt: skip


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------
def _is_uncertainty(model, f: models.Field) -> bool:
    """Is ``f`` the ``<name>_err`` companion column of a QuantityField?"""
    if not f.name.endswith("_err") or isinstance(f, QuantityField):
        return False
    try:
        return isinstance(model._meta.get_field(f.name[:-4]), QuantityField)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist
        return False


def _person_id(user) -> str:
    return f"#person-{user.get_username()}"


def _person(user) -> dict:
    return {"@id": _person_id(user), "@type": "Person", "name": user.get_full_name() or user.get_username()}


def _iso(value) -> str:
    return value.isoformat() if value is not None else None


def _dataset_ids(project) -> dict[tuple[str, int], str]:
    ids = {}
    for model, qs in project_records(project):
        for i, pk in enumerate(qs.values_list("pk", flat=True), start=1):
            ids[(model._meta.label, pk)] = f"./{model._meta.label_lower}-{i:04d}/"
    return ids


def _property(node_id: str, f: models.Field, obj, ids, persons) -> dict:
    pv = {"@id": f"#{node_id.strip('./')}/{f.name}", "@type": "PropertyValue", "propertyID": f.name}
    pv["name"] = str(f.verbose_name)
    if isinstance(f, QuantityField):
        value = obj.__dict__.get(f.attname)
        pv["unitText"] = f.unit
        if f.unit in UNIT_CODES:
            pv["unitCode"] = UNIT_CODES[f.unit]
        if value is not None:
            pv["value"] = value
        return pv
    if _is_uncertainty(type(obj), f):
        base = type(obj)._meta.get_field(f.name[:-4])
        pv["unitText"] = base.unit
        if base.unit in UNIT_CODES:
            pv["unitCode"] = UNIT_CODES[base.unit]
        pv["description"] = f"uncertainty of {f.name[:-4]}"
    value = getattr(obj, f.attname)
    if value is None:
        return pv
    if f.many_to_one:
        if issubclass(f.related_model, ProjectRecord):
            target = ids[(f.related_model._meta.label, value)]
        else:  # a user
            user = getattr(obj, f.name)
            persons[user.pk] = _person(user)
            target = _person_id(user)
        pv["value"] = target
        pv["valueReference"] = {"@id": target}
    elif isinstance(f, models.JSONField):
        pv["value"] = json.dumps(value, sort_keys=True)
        pv["encodingFormat"] = "application/json"
    elif isinstance(value, dt.date | dt.datetime):
        pv["value"] = value.isoformat()
    else:
        pv["value"] = value
    return pv


def build_graph(project: Project) -> tuple[list[dict], list[tuple[str, RawFile]]]:
    """The RO-Crate graph of ``project`` and the (path in crate, RawFile) pairs to add to the zip."""
    ids = _dataset_ids(project)
    persons: dict[int, dict] = {}
    datasets, properties, files = [], [], []
    payload: list[tuple[str, RawFile]] = []
    for model, qs in project_records(project):
        m2ms = model._meta.many_to_many
        for obj in qs.select_related("created_by").prefetch_related(*[m.name for m in m2ms]):
            node_id = ids[(model._meta.label, obj.pk)]
            pvs = [_property(node_id, f, obj, ids, persons) for f in content_fields(model)]
            for m2m in m2ms:
                targets = [ids[(m2m.related_model._meta.label, o.pk)] for o in getattr(obj, m2m.name).all()]
                pvs.append(
                    {
                        "@id": f"#{node_id.strip('./')}/{m2m.name}",
                        "@type": "PropertyValue",
                        "propertyID": m2m.name,
                        "name": str(m2m.verbose_name),
                        "value": ", ".join(sorted(targets)),
                        "valueReference": [{"@id": t} for t in sorted(targets)],
                    }
                )
            properties.extend(pvs)
            ds = {
                "@id": node_id,
                "@type": "Dataset",
                "name": str(obj),
                "genre": model._meta.label,
                "keywords": f"labbook, {model._meta.verbose_name}",
                "dateCreated": _iso(obj.created_at),
                "dateModified": _iso(obj.modified_at),
                "variableMeasured": [{"@id": pv["@id"]} for pv in pvs],
                "hasPart": [],
            }
            if obj.created_by_id:
                persons[obj.created_by_id] = _person(obj.created_by)
                ds["author"] = {"@id": _person_id(obj.created_by)}
            if isinstance(obj, RawFile):
                file_id = f"{node_id[2:]}{obj.original_name}"
                files.append(
                    {
                        "@id": file_id,
                        "@type": "File",
                        "name": obj.original_name,
                        "encodingFormat": obj.media_type,
                        "contentSize": str(obj.size),
                        "sha256": obj.sha256,
                    }
                )
                ds["hasPart"].append({"@id": file_id})
                payload.append((file_id, obj))
            datasets.append(ds)
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": project.name,
        "identifier": project.slug,
        "description": project.description or f"labbook project {project.name}",
        "datePublished": timezone.now().replace(microsecond=0).isoformat(),
        "license": {"@id": "https://creativecommons.org/licenses/by/4.0/"},
        "hasPart": [{"@id": ds["@id"]} for ds in datasets],
    }
    descriptor = {
        "@id": METADATA,
        "@type": "CreativeWork",
        "about": {"@id": "./"},
        "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
        "dateCreated": root["datePublished"],
        "sdPublisher": {"@id": PUBLISHER["@id"]},
        "version": ELN_VERSION,
    }
    license_node = {"@id": root["license"]["@id"], "@type": "CreativeWork", "name": "CC BY 4.0"}
    graph = [descriptor, root, PUBLISHER, license_node, *sorted(persons.values(), key=lambda p: p["@id"])]
    graph += datasets + files + properties
    return graph, payload


def eln_export(*, project: Project, user, out: Path | str) -> Path:
    """Write ``project`` to the ``.eln`` file ``out``. Needs the viewer role."""
    require_role(user, project, Role.VIEWER)
    out = Path(out)
    graph, payload = build_graph(project)
    metadata = json.dumps({"@context": CONTEXT, "@graph": graph}, indent=1, ensure_ascii=False).encode()
    root = project.slug
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(f"{root}/{METADATA}", _ZIP_TIME), metadata, zipfile.ZIP_DEFLATED)
        for path, raw in payload:
            info = zipfile.ZipInfo(f"{root}/{path}", _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with raw.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(out)
    return out


# ----------------------------------------------------------------------------------------------
# import: checks
# ----------------------------------------------------------------------------------------------
@dataclass
class Archive:
    """A checked archive: its zip, the root folder, the graph by @id and the root's parts."""

    zf: zipfile.ZipFile
    root: str
    nodes: dict[str, dict]
    parts: list[dict] = field(default_factory=list)

    def member(self, node_id: str) -> zipfile.ZipInfo:
        """The zip entry of a File node, resolved inside the root folder only."""
        if node_id.startswith(("http://", "https://")):
            raise ElnError(f"file {node_id!r} is remote; only files inside the archive can be imported")
        rel = posixpath.normpath(node_id.removeprefix("./"))
        if rel.startswith(("/", "..")) or "\\" in node_id or ":" in rel.split("/")[0]:
            raise ElnError(f"file {node_id!r} points outside the archive")
        try:
            return self.zf.getinfo(f"{self.root}/{rel}")
        except KeyError:
            raise ElnError(
                f"file {node_id!r} is listed in the metadata but missing from the archive"
            ) from None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_entries(zf: zipfile.ZipFile) -> str:
    """Refuse zip slip, absolute paths, links, top-level files, several roots and zip bombs;
    return the root folder's name."""
    infos = zf.infolist()
    if len(infos) > settings.ELN_IMPORT_MAX_ENTRIES:
        raise ElnError(
            f"the archive has {len(infos)} entries; at most {settings.ELN_IMPORT_MAX_ENTRIES} are accepted"
        )
    roots, total, packed, seen = set(), 0, 0, set()
    for info in infos:
        name = info.filename
        if name.rstrip("/") in seen:
            raise ElnError(f"entry {name!r} appears twice in the archive")
        seen.add(name.rstrip("/"))
        if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
            raise ElnError(f"entry {name!r} has an absolute path")
        parts = name.rstrip("/").split("/")
        if ".." in parts or "." in parts or "" in parts:
            raise ElnError(f"entry {name!r} escapes the archive's folder")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ElnError(f"entry {name!r} is a symbolic link")
        if len(parts) == 1 and not info.is_dir():
            raise ElnError(f"entry {name!r} is a file at the top level; a .eln has one root folder")
        roots.add(parts[0])
        total += info.file_size
        packed += info.compress_size
        if (
            info.file_size > settings.ELN_IMPORT_MAX_RATIO * max(info.compress_size, 1)
            and info.file_size > 1 << 20
        ):
            raise ElnError(
                f"entry {name!r} expands {info.file_size / max(info.compress_size, 1):.0f}-fold: refused as a zip bomb"
            )
    if total > settings.ELN_IMPORT_MAX_BYTES:
        raise ElnError(
            f"the archive expands to {total} bytes; at most {settings.ELN_IMPORT_MAX_BYTES} are accepted"
        )
    if total > 1 << 20 and total > settings.ELN_IMPORT_MAX_RATIO * max(packed, 1):
        raise ElnError(f"the archive expands {total / max(packed, 1):.0f}-fold: refused as a zip bomb")
    if len(roots) != 1:
        raise ElnError(f"a .eln has exactly one root folder; this one has {len(roots)}")
    return roots.pop()


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise ElnError(f"{info.filename} cannot be read: the archive is damaged ({_one_line(exc)})") from None
    if len(data) > limit:
        raise ElnError(f"{info.filename} is larger than it claims")
    return data


def check_metadata(zf: zipfile.ZipFile, root: str) -> Archive:
    try:
        info = zf.getinfo(f"{root}/{METADATA}")
    except KeyError:
        raise ElnError(f"no {METADATA} in the archive's root folder {root!r}") from None
    try:
        doc = json.loads(_read_limited(zf, info, info.file_size))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ElnError(f"{METADATA} is not valid JSON ({_one_line(exc)})") from None
    except RecursionError:
        raise ElnError(f"{METADATA} is nested too deeply") from None
    graph = doc.get("@graph") if isinstance(doc, dict) else None
    if not isinstance(graph, list):
        raise ElnError(f"{METADATA} has no @graph")
    nodes: dict[str, dict] = {}
    for node in graph:
        if not isinstance(node, dict) or not isinstance(node.get("@id"), str):
            raise ElnError(f"a node of {METADATA} has no @id")
        if node["@id"] in nodes:
            raise ElnError(f"@id {node['@id']!r} appears twice in {METADATA}")
        types = node.get("@type")
        if not types or not all(isinstance(t, str) for t in _as_list(types)):
            raise ElnError(f"node {node['@id']!r} has no @type")
        nodes[node["@id"]] = node
    if "\\u0000" in json.dumps(doc):  # PostgreSQL cannot store it; no ELN writes it
        raise ElnError(f"{METADATA} contains a NUL character")
    descriptor = nodes.get(METADATA)
    if descriptor is None:
        raise ElnError(f"{METADATA} does not describe itself (no descriptor node)")
    conforms = {_ref(c) for c in _as_list(descriptor.get("conformsTo"))}
    if not conforms & RO_CRATE_VERSIONS:
        raise ElnError(f"unknown RO-Crate version {sorted(map(str, conforms))}; 1.1 and 1.2 are supported")
    version = str(descriptor.get("version", "1.0"))
    if not version.startswith("1."):
        raise ElnError(f"unknown .eln version {version!r}; version 1.x is supported")
    root_id = _root_id(descriptor)
    root_node = nodes.get(root_id)
    if root_node is None or "Dataset" not in _as_list(root_node.get("@type")):
        raise ElnError("the root dataset is missing from the metadata")
    parts = []
    for ref in _as_list(root_node.get("hasPart")):
        node = nodes.get(_ref(ref))
        if node is None:
            raise ElnError(f"the root lists {ref!r}, which is not in the metadata")
        parts.append(node)
    return Archive(zf=zf, root=root, nodes=nodes, parts=parts)


def open_archive(path: Path | str) -> Archive:
    """Open and check ``path``; raise ElnError for anything hostile or broken."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ElnError(f"{path} is not a .eln (zip) file: {exc}") from None
    try:
        root = check_entries(zf)
        return check_metadata(zf, root)
    except BaseException:
        zf.close()
        raise


# ----------------------------------------------------------------------------------------------
# import: records
# ----------------------------------------------------------------------------------------------
def _ref(value) -> str | None:
    """The ``@id`` a reference names (``{"@id": ...}`` or a bare string), None for anything else."""
    if isinstance(value, dict):
        value = value.get("@id")
    return value if isinstance(value, str) else None


def _root_id(descriptor: dict) -> str | None:
    about = descriptor.get("about")
    return "./" if about is None else _ref(about)


def _parse_time(text):
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None  # lenient: other ELNs write dates we cannot read; keep ours
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


class _Importer:
    def __init__(self, archive: Archive, user, tmpdir: Path):
        self.a = archive
        self.user = user
        self.tmpdir = tmpdir
        self.by_node: dict[str, ProjectRecord] = {}
        self.new_blobs: list[str] = []
        self.publisher = ""

    # files -------------------------------------------------------------------------------
    def extract_checked(self, node: dict) -> Path:
        """Copy a File node's bytes to a temporary file, checking its sha256 and size."""
        info = self.a.member(node["@id"])
        expected = str(node.get("sha256") or "").lower()
        if len(expected) != 64:
            raise ElnError(f"file {node['@id']!r} has no sha256; it cannot be verified")
        target = self.tmpdir / f"{len(list(self.tmpdir.iterdir())):06d}"
        h, size = hashlib.sha256(), 0
        with self.a.zf.open(info) as src, target.open("wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                size += len(chunk)
                if size > info.file_size:
                    raise ElnError(f"file {node['@id']!r} is larger than the archive says")
                h.update(chunk)
                dst.write(chunk)
        if h.hexdigest() != expected:
            raise ElnError(f"file {node['@id']!r} does not match its sha256 (checksum mismatch)")
        declared = node.get("contentSize")
        if declared not in (None, "") and str(declared).isdigit() and int(declared) != size:
            raise ElnError(f"file {node['@id']!r} has {size} bytes, not the {declared} its contentSize says")
        return target

    def store(self, project, node: dict, path: Path, **extra) -> RawFile:
        sha = node["sha256"].lower()
        if not default_storage.exists(blob_name(sha)):
            self.new_blobs.append(blob_name(sha))
        with path.open("rb") as fh:
            return raw_file_store(
                project=project,
                fileobj=fh,
                original_name=extra.pop("original_name", None)
                or node.get("name")
                or node["@id"].rsplit("/", 1)[-1],
                user=self.user,
                media_type=extra.pop("media_type", None) or node.get("encodingFormat"),
                **extra,
            )

    # people ------------------------------------------------------------------------------
    def person(self, person_id: str | None):
        """The account a person reference of the archive becomes: the importing user, always.

        An archive is not proof of who did what on this instance: matching its people to
        accounts by name or e-mail would let it attribute records to anyone (a superuser
        included). The archive's people are kept as text (:meth:`person_text`) in the
        record's ImportedRecord, and no account is created."""
        return self.user if person_id else None

    def person_text(self, person_id: str) -> str:
        node = self.a.nodes.get(person_id)
        if isinstance(node, dict):
            name = node.get("name") or " ".join(
                str(node.get(k)) for k in ("givenName", "familyName") if node.get(k)
            )
            email = node.get("email")
            text = " ".join(str(x) for x in (name, f"<{email}>" if email else "") if x)
            if text:
                return _one_line(f"{text} ({person_id})", 500)
        return _one_line(person_id, 500)

    # records -----------------------------------------------------------------------------
    def properties(self, node: dict) -> dict[str, dict]:
        out = {}
        for ref in _as_list(node.get("variableMeasured")):
            pv = self.a.nodes.get(_ref(ref)) if _ref(ref) in self.a.nodes else ref
            if isinstance(pv, dict) and isinstance(pv.get("propertyID"), str) and pv["propertyID"]:
                out[pv["propertyID"]] = pv
        return out

    def field_value(self, model, f: models.Field, pv: dict, people: dict[str, str]):
        if "value" not in pv or pv["value"] is None:
            return None
        value = pv["value"]
        name = f"{model._meta.label}.{f.name}"
        if isinstance(f, QuantityField) or _is_uncertainty(model, f):
            unit = pv.get("unitText") or UNITS_BY_CODE.get(pv.get("unitCode"))
            target = f.unit if isinstance(f, QuantityField) else model._meta.get_field(f.name[:-4]).unit
            try:
                number = float(value)
                if not math.isfinite(number) or isinstance(value, bool):
                    raise ValueError("not a finite number")
                if not unit or unit == target:
                    return number
                return float(
                    to_quantity(Quantity(number, str(unit)), unit=target, name=name).to(target).magnitude
                )
            except Exception as exc:  # noqa: BLE001 - float() and pint raise many kinds
                raise ElnError(
                    f"{name}: cannot read {_one_line(repr(value), 60)} {_one_line(repr(unit), 40)} as {target} "
                    f"({_one_line(exc, 120)})"
                ) from None
        if f.many_to_one:
            target = _ref(pv.get("valueReference")) or _ref(value)
            if issubclass(f.related_model, ProjectRecord):
                if target not in self.by_node:
                    raise ElnError(
                        f"{name} points to {_one_line(repr(target or value), 80)}, which is not a record of this archive"
                    )
                return self.by_node[target]
            if target:
                people[f.name] = self.person_text(target)
            return self.person(target)
        if isinstance(value, dict | list) and not isinstance(f, models.JSONField):
            raise ElnError(f"{name}: expected a single value, not {_one_line(repr(value), 60)}")
        try:
            if isinstance(f, models.JSONField):
                return json.loads(value) if isinstance(value, str) else value
            if isinstance(f, models.DateTimeField):
                return _parse_time(value)
            if isinstance(f, models.DateField):
                if not isinstance(value, str):
                    raise ValueError("expected an ISO date")
                return dt.date.fromisoformat(value[:10])
        except (ValueError, RecursionError) as exc:
            raise ElnError(
                f"{name}: cannot read {_one_line(repr(value), 60)} ({_one_line(exc, 120)})"
            ) from None
        return value

    def import_labbook_record(self, project, model, node: dict, files: list[dict]):
        pvs = self.properties(node)
        values, people = {}, {}
        if _ref(node.get("author")):
            people["author"] = self.person_text(_ref(node.get("author")))
        for f in content_fields(model):
            if f.name in pvs:
                values[f.name] = self.field_value(model, f, pvs[f.name], people)
        if model is RawFile:
            if len(files) != 1:
                raise ElnError(f"raw file record {node['@id']!r} must have exactly one file")
            path = self.extract_checked(files[0])
            obj = self.store(
                project,
                files[0],
                path,
                original_name=values.get("original_name"),
                media_type=values.get("media_type"),
                description=values.get("description", ""),
            )
        else:
            obj = model(project=project, created_by=self.user, **values)
            obj.full_clean(validate_unique=True)
            obj.save()
        m2m = {}
        for rel in model._meta.many_to_many:
            if rel.name in pvs:
                refs = [_ref(r) for r in _as_list(pvs[rel.name].get("valueReference"))]
                missing = [r for r in refs if r not in self.by_node]
                if missing:
                    raise ElnError(
                        f"{model._meta.label}.{rel.name} points to {_one_line(repr(missing[0]), 80)}, "
                        "not in this archive"
                    )
                m2m[rel.name] = [self.by_node[r] for r in refs]
        self.by_node[node["@id"]] = obj
        known = {f.name for f in content_fields(model)} | {m.name for m in model._meta.many_to_many}
        raw = {k: v for k, v in node.items() if k not in {"variableMeasured", "hasPart"}}
        unmapped = [pv for name, pv in pvs.items() if name not in known]
        if unmapped:  # properties this labbook has no field for (another version's): kept, not dropped
            raw["unmapped"] = unmapped
        if people:  # who the archive says did it, as text: the records belong to the importing user
            raw["people"] = people
        return obj, m2m, raw

    def import_foreign_dataset(self, project, node: dict, files: list[dict]):
        """A dataset from another ELN: a notebook entry with its text, properties and files."""
        lines = [str(node.get("text") or node.get("description") or "")]
        raw_props = []
        for ref in _as_list(node.get("variableMeasured")):
            pv = (
                self.a.nodes.get(_ref(ref), ref) if isinstance(ref, dict) else self.a.nodes.get(_ref(ref), {})
            )
            if isinstance(pv, dict):
                raw_props.append(pv)
                unit = pv.get("unitText") or UNITS_BY_CODE.get(pv.get("unitCode"), pv.get("unitCode", ""))
                lines.append(
                    f"- {pv.get('name') or pv.get('propertyID')}: {pv.get('value', '')} {unit}".rstrip()
                )
        entry = NotebookEntry(
            project=project,
            created_by=self.user,
            author=self.user,
            title=str(node.get("name") or node["@id"])[:200],
            body="\n".join(line for line in lines if line),
        )
        entry.full_clean()
        entry.save()
        raws = [self.store(project, f, self.extract_checked(f)) for f in files]
        self.by_node[node["@id"]] = entry
        raw = dict(node)
        raw["variableMeasured"] = raw_props
        raw["hasPart"] = [self.a.nodes.get(_ref(p), p) for p in _as_list(node.get("hasPart"))]
        for key in ("author", "creator", "comment", "mentions", "about"):  # resolve the referenced nodes
            if key in node:
                raw[key] = [self.a.nodes.get(_ref(r), r) for r in _as_list(node[key])]
        return entry, {"raw_files": raws}, raw


def _files_of(archive: Archive, node: dict) -> list[dict]:
    out = []
    for ref in _as_list(node.get("hasPart")):
        part = archive.nodes.get(_ref(ref))
        if part is None:
            if _ref(ref) is None:
                raise ElnError(
                    f"{node['@id']!r} lists a part that is not a reference: {_one_line(repr(ref), 80)}"
                )
            if not _ref(ref).startswith(("http://", "https://")):
                raise ElnError(f"{node['@id']!r} lists part {_ref(ref)!r}, which is not in the metadata")
            continue
        if "File" in _as_list(part.get("@type")):
            if part["@id"].startswith(("http://", "https://")):
                continue  # a remote file: nothing to import
            out.append(part)
    return out


def eln_import(*, path: Path | str, user, slug: str | None = None) -> Project:
    """Import the ``.eln`` at ``path`` as a new project administered by ``user``.

    Everything is checked first and written in one transaction: a refused archive (ElnError, a
    ValidationError) leaves no project, no record and no new blob behind."""
    try:
        return _eln_import(path=path, user=user, slug=slug)
    except ElnError:
        raise
    except ValidationError as exc:  # a record or the project refused by full_clean()
        raise ElnError(f"refused: {_one_line('; '.join(exc.messages))}") from None
    except _MALFORMED as exc:  # whatever a malformed archive makes the readers raise: one line
        logger.warning("import of %s refused", path, exc_info=True)
        raise ElnError(
            f"{Path(path).name} is malformed and was not imported ({type(exc).__name__}: {_one_line(exc, 200)})"
        ) from None


def _eln_import(*, path: Path | str, user, slug: str | None) -> Project:
    archive = open_archive(path)
    labels = {m._meta.label: m for m in domain_models()}
    root = archive.nodes[_root_id(archive.nodes[METADATA])]
    publisher = archive.nodes.get(_ref(archive.nodes[METADATA].get("sdPublisher")) or "", {})
    source = str(publisher.get("name") or archive.nodes[METADATA].get("sdPublisher") or "unknown ELN")[:200]
    name = str(root.get("name") or slug or archive.root)[:180]
    if slug:  # a copy under another slug: name it after the slug too, names are unique
        name = f"{name} ({slug})"
    slug = slug or str(root.get("identifier") or archive.root)[:80]
    importer = _Importer(archive, user, Path(tempfile.mkdtemp(prefix="eln-import-")))
    try:
        with transaction.atomic():
            if Project.objects.filter(models.Q(slug=slug) | models.Q(name=name)).exists():
                raise ElnError(
                    f"a project {name!r} ({slug}) exists already; import into an instance without it"
                )
            project = Project(name=name, slug=slug, description=str(root.get("description") or ""))
            project.full_clean()
            project.save()
            Membership.objects.create(project=project, user=user, role=Role.ADMIN)
            # ours first, in dependency order, so links resolve; then other ELNs' datasets
            ours = [
                n
                for n in archive.parts
                if isinstance(n.get("genre"), str)
                and n["genre"] in labels
                and "Dataset" in _as_list(n.get("@type"))
            ]
            order = {label: i for i, label in enumerate(labels)}
            ours.sort(key=lambda n: order[n["genre"]])
            foreign = [n for n in archive.parts if n not in ours and "Dataset" in _as_list(n.get("@type"))]
            created = []
            for node in ours:
                created.append(
                    importer.import_labbook_record(
                        project, labels[node["genre"]], node, _files_of(archive, node)
                    )
                )
            for node in foreign:
                created.append(importer.import_foreign_dataset(project, node, _files_of(archive, node)))
            for obj, m2m, raw in created:
                for rel, targets in m2m.items():
                    getattr(obj, rel).set(targets)
                node = archive.nodes.get(raw.get("@id"), raw)
                stamps = {
                    k: v
                    for k, v in {
                        "created_at": _parse_time(node.get("dateCreated")),
                        "modified_at": _parse_time(node.get("dateModified")),
                    }.items()
                    if v is not None
                }
                if stamps:
                    type(obj)._base_manager.filter(pk=obj.pk).update(**stamps)
                ImportedRecord.objects.create(
                    project=project,
                    model=type(obj)._meta.label,
                    object_id=obj.pk,
                    source=source,
                    source_id=str(raw.get("@id"))[:500],
                    raw=raw,
                    imported_by=user,
                )
            return project
    except BaseException:
        for name in importer.new_blobs:
            if not RawFile.objects.filter(sha256=name.rsplit("/", 1)[-1]).exists():
                default_storage.delete(name)
        raise
    finally:
        archive.zf.close()
        shutil.rmtree(importer.tmpdir, ignore_errors=True)
