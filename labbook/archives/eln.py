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
import fails. The records are written by their apps' services (:data:`WRITERS`), as at every other
door: role, freeze, plausibility, codes per project, links within the project, and history saying
who imported them and from which archive; one refusal refuses the whole archive. Datasets written by another ELN (no labbook ``genre``) become notebook entries with
their files; every imported record is marked by an :class:`ImportedRecord` that keeps the raw
JSON of what could not be mapped.

Why JSON by hand rather than ``rocrate`` for writing: the output must be byte-stable for the
round trip and the graph fully flattened (ro-crate-py crashes on un-flattened PropertyValues,
TheELNFileFormat#89); ``rocrate`` is used to load and check archives in the tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import logging
import math
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from labbook.archives.models import Checksum, ElnImport, ImportedRecord, Signature
from labbook.archives.records import content_fields, domain_models, project_records
from labbook.archives.signing import BadSignature, minisign_sign, minisign_verify
from labbook.characterization import services as characterization
from labbook.characterization.models import CharacterizationRun
from labbook.devices import services as devices
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.models import RawFile, blob_name
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobInput
from labbook.notebook import services as notebook
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Membership, Project, ProjectRecord, Role
from labbook.projects.permissions import require_role
from labbook.projects.writes import RecordWriters, authorise
from labbook.results.models import ResultArtifact
from labbook.synthesis import services as synthesis
from labbook.synthesis.models import BatchLink, Chemical, ChlorideStock, PostTreatment, Sample, Synthesis
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

#: bytes per read and write while copying files into or out of an archive
CHUNK = 4 << 20

#: formats that are compressed already (deflating them again costs time and saves nothing)
COMPRESSED_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".zip",
    ".7z", ".npz", ".eln", ".pdf", ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".mp4", ".mkv", ".h5",
)  # fmt: skip
#: text formats: deflated (fast, level 1) whatever their size; they shrink 3-10 fold
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".json", ".xy", ".xrdml", ".xml", ".md", ".html", ".asc")
#: a binary file this large is stored as it is: deflating a TIFF movie runs at ~15 MB/s (level 6)
#: or ~75 MB/s (level 1) for a 45 % saving, storing it at the disk's speed (benchmarks/eln_export.py)
STORE_ABOVE = 1 << 20

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


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


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
    """A Person as other ELNs write one: ``name``, and ``givenName``/``familyName`` when known (no
    e-mail: an archive travels further than the instance)."""
    person = {"@id": _person_id(user), "@type": "Person", "name": user.get_full_name() or user.get_username()}
    for key, value in (("givenName", user.first_name), ("familyName", user.last_name)):
        if value:
            person[key] = value
    return person


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
    if f.many_to_one or f.one_to_one:
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


@dataclass(frozen=True)
class Payload:
    """A file to copy into the archive: its path in the crate, how to open it, its size and the
    SHA-256 its File node states (checked again while the bytes are copied)."""

    path: str
    open: Callable
    size: int
    sha256: str
    media_type: str = ""


def _stored_file(node_id: str, storage_name: str, media_type: str) -> tuple[dict, Payload]:
    """The File node of a file in the default storage (an analysis artifact) and its payload."""
    h, size = hashlib.sha256(), 0
    with default_storage.open(storage_name, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
            size += len(chunk)
    name = posixpath.basename(storage_name)
    node = {
        "@id": f"{node_id[2:]}{name}",
        "@type": "File",
        "name": name,
        "encodingFormat": media_type,
        "contentSize": str(size),
        "sha256": h.hexdigest(),
    }
    opener = lambda: default_storage.open(storage_name, "rb")  # noqa: E731
    return node, Payload(node["@id"], opener, size, node["sha256"], media_type)


def _job_inputs(node_id: str, job: AnalysisJob, ids) -> dict:
    """A job's input files (JobInput rows: role -> raw file) as one PropertyValue."""
    roles = {i.role: ids[(RawFile._meta.label, i.raw_file_id)] for i in job.inputs.all()}
    return {
        "@id": f"#{node_id.strip('./')}/inputs",
        "@type": "PropertyValue",
        "propertyID": "inputs",
        "name": "input files by role",
        "value": json.dumps(roles, sort_keys=True),
        "encodingFormat": "application/json",
        "valueReference": [{"@id": roles[r]} for r in sorted(roles)],
    }


def _record_name(obj) -> str:
    """A record's name in the archive: its ``str()``, but without this instance's ids (a job's
    ``#pk``), so the same records have the same names in every instance."""
    if isinstance(obj, AnalysisJob):
        return f"{obj.get_kind_display()} of {obj.run or obj.measurement} ({obj.status})"
    if isinstance(obj, ResultArtifact):
        return f"{obj.name} of {_record_name(obj.job)}"
    return str(obj)


def build_graph(project: Project) -> tuple[list[dict], list[Payload]]:
    """The RO-Crate graph of ``project`` and the files (:class:`Payload`) to add to the zip.

    Raw files travel as File nodes of their RawFile dataset; analysis results (jobs with their
    inputs, parameters and analysis version, blinking analyses, particles, fits, device metrics)
    as datasets of their own, and their artifacts (``.npy`` arrays, PNG previews) as File nodes of
    the ResultArtifact dataset, so an import restores them without re-running anything."""
    ids = _dataset_ids(project)
    persons: dict[int, dict] = {}
    datasets, properties, files = [], [], []
    payload: list[Payload] = []
    for model, qs in project_records(project):
        m2ms = model._meta.many_to_many
        for obj in qs.select_related("created_by").prefetch_related(*[m.name for m in m2ms]):
            node_id = ids[(model._meta.label, obj.pk)]
            pvs = [_property(node_id, f, obj, ids, persons) for f in content_fields(model)]
            if isinstance(obj, AnalysisJob):
                pvs.append(_job_inputs(node_id, obj, ids))
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
                "name": _record_name(obj),
                "genre": model._meta.label,
                "keywords": f"labbook, {model._meta.verbose_name}",
                "dateCreated": _iso(obj.created_at),
                "dateModified": _iso(obj.modified_at),
                "variableMeasured": [{"@id": pv["@id"]} for pv in pvs],
                "hasPart": [],
            }
            if isinstance(obj, NotebookEntry) and obj.body:  # the entry's text, where other ELNs look
                ds["text"] = obj.body
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
                payload.append(Payload(file_id, obj.open, obj.size, obj.sha256, obj.media_type))
            if isinstance(obj, ResultArtifact):
                for key, media_type in (("storage_name", "application/x-npy"), ("preview_name", "image/png")):
                    if getattr(obj, key):
                        node, item = _stored_file(node_id, getattr(obj, key), media_type)
                        files.append(node)
                        ds["hasPart"].append({"@id": node["@id"]})
                        payload.append(item)
                        # where it is in the archive, not in this instance's storage
                        pv = next(p for p in pvs if p["propertyID"] == key)
                        pv["value"], pv["valueReference"] = node["@id"], {"@id": node["@id"]}
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


def compression_for(name: str, media_type: str, size: int) -> tuple[int, int | None]:
    """(zip compress type, level) of a file in an export: small files deflated; text deflated
    fast; compressed formats and large binary files (TIFF movies, arrays) stored as they are."""
    lower = name.lower()
    if lower.endswith(COMPRESSED_SUFFIXES):
        return zipfile.ZIP_STORED, None
    if size < STORE_ABOVE:
        return zipfile.ZIP_DEFLATED, 6
    if lower.endswith(TEXT_SUFFIXES) or (media_type or "").startswith("text/"):
        return zipfile.ZIP_DEFLATED, 1
    return zipfile.ZIP_STORED, None


class ExportError(ValidationError):
    """A project that cannot be exported as it is (a stored file damaged); the message says why."""


#: a progress report: (fraction done 0..1, what is being done)
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str = "") -> None:
    pass


def _copy_into(
    zf: zipfile.ZipFile, root: str, item: Payload, done: int, total: int, progress: Progress
) -> int:
    """Copy one file into the zip in chunks (never whole in memory), hashing it on the way: a stored
    file whose bytes are not the ones its record states is refused rather than exported."""
    info = zipfile.ZipInfo(f"{root}/{item.path}", _ZIP_TIME)
    info.compress_type, level = compression_for(item.path, item.media_type, item.size)
    info._compresslevel = level  # compress_level on Python 3.13+, _compresslevel before; both set it
    info.file_size = item.size  # lets zipfile choose ZIP64 up front for files over 4 GiB
    h, size = hashlib.sha256(), 0
    with item.open() as src, zf.open(info, "w", force_zip64=item.size >= zipfile.ZIP64_LIMIT) as dst:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            h.update(chunk)
            dst.write(chunk)
            size += len(chunk)
            progress(0.05 + 0.95 * (done + size) / max(total, 1), f"{item.path.rsplit('/', 1)[-1]}")
    if size != item.size or h.hexdigest() != item.sha256:
        raise ExportError(
            f"{item.path}: the stored bytes ({size} bytes, sha256 {h.hexdigest()[:12]}...) are not the "
            f"recorded ones ({item.size} bytes, sha256 {item.sha256[:12]}...); restore the file from a "
            "backup before exporting"
        )
    return size


def eln_export(
    *, project: Project, user, out: Path | str, sign: bool = True, progress: Progress | None = None
) -> Path:
    """Write ``project`` to the ``.eln`` file ``out``. Needs the viewer role.

    Streaming: each file is copied into the zip in chunks of :data:`CHUNK` and hashed on the way
    (a file whose bytes no longer match its recorded SHA-256 stops the export: ExportError), so
    memory does not grow with the archive; large binary files are stored, small and text files
    deflated (:func:`compression_for`), so the speed approaches the disk's. ``progress(fraction,
    message)`` is called as the bytes go (fraction by bytes written). The archive is written to
    ``out.part`` and renamed when complete.

    ``sign``: add ``ro-crate-metadata.json.minisig``, a minisign signature of the metadata by the
    archive signing key (the format's proposal); the metadata holds every file's sha256, so the
    signature covers the files too."""
    require_role(user, project, Role.VIEWER)
    progress = progress or _no_progress
    out = Path(out)
    progress(0.0, "describing the records")
    graph, payload = build_graph(project)
    metadata = json.dumps({"@context": CONTEXT, "@graph": graph}, indent=1, ensure_ascii=False).encode()
    root = project.slug
    total = sum(item.size for item in payload)
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo(f"{root}/{METADATA}", _ZIP_TIME), metadata, zipfile.ZIP_DEFLATED)
            if sign:
                comment = (
                    f"timestamp:{int(timezone.now().timestamp())} file:{METADATA} labbook project:{root}"
                )
                zf.writestr(
                    zipfile.ZipInfo(f"{root}/{METADATA}.minisig", _ZIP_TIME),
                    minisign_sign(metadata, trusted_comment=comment),
                    zipfile.ZIP_DEFLATED,
                )
            progress(0.05, f"{len(payload)} files, {total} bytes")
            done = 0
            for item in payload:
                done += _copy_into(zf, root, item, done, total, progress)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    progress(1.0, f"{out.name}: {out.stat().st_size} bytes")
    return out


# ----------------------------------------------------------------------------------------------
# import: checks
# ----------------------------------------------------------------------------------------------
#: members that belong to the RO-Crate itself, not to its data
_CRATE_FILES = {METADATA, METADATA + ".minisig", "ro-crate-preview.html"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _clean_parts(path: str) -> list[str] | None:
    """The segments of a relative path with the harmless forms (``//``, ``./``, Windows' ``\\``)
    normalised; None for an absolute path, a ``..`` segment or a URI scheme."""
    path = path.replace("\\", "/")
    if path.startswith("/") or _SCHEME.match(path):
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return None if ".." in parts else parts


@dataclass
class Archive:
    """A checked archive: its zip, the root folder, its files by normalised path, the graph by @id
    and the root's parts (``missing``: parts the root lists but the metadata does not describe)."""

    zf: zipfile.ZipFile
    root: str
    members: dict[str, zipfile.ZipInfo]
    nodes: dict[str, dict]
    parts: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def relative(self, node_id: str) -> str:
        """The normalised path of a File node inside the root folder; refuses anything outside it."""
        if node_id.startswith(("http://", "https://")):
            raise ElnError(f"file {node_id!r} is remote; only files inside the archive can be imported")
        parts = _clean_parts(node_id)
        if not parts:
            raise ElnError(f"file {node_id!r} points outside the archive")
        return "/".join(parts)

    def find(self, node_id: str) -> zipfile.ZipInfo | None:
        """The zip entry of a File node (its @id as written, else percent-decoded), or None."""
        rel = self.relative(node_id)
        for candidate in (rel, unquote(rel)):
            info = self.members.get(f"{self.root}/{candidate}")
            if info is not None:
                return info
        return None

    def member(self, node_id: str) -> zipfile.ZipInfo:
        info = self.find(node_id)
        if info is None:
            raise ElnError(f"file {node_id!r} is listed in the metadata but missing from the archive")
        return info


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_entries(zf: zipfile.ZipFile) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """Refuse zip slip, absolute paths, links, top-level files, several roots and zip bombs;
    return the root folder's name and the files by normalised name (``a//b`` and ``a/./b`` are
    ``a/b``: harmless forms some exporters write)."""
    infos = zf.infolist()
    if len(infos) > settings.ELN_IMPORT_MAX_ENTRIES:
        raise ElnError(
            f"the archive has {len(infos)} entries; at most {settings.ELN_IMPORT_MAX_ENTRIES} are accepted"
        )
    roots, total, packed, seen = set(), 0, 0, set()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name.replace("\\", "/").startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise ElnError(f"entry {name!r} has an absolute path")
        parts = _clean_parts(name)
        if parts is None:
            raise ElnError(f"entry {name!r} escapes the archive's folder")
        if not parts:
            raise ElnError(f"entry {name!r} has no name")
        key = "/".join(parts)
        if key in seen:
            raise ElnError(f"entry {name!r} appears twice in the archive")
        seen.add(key)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise ElnError(f"entry {name!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ElnError(f"entry {name!r} is not a regular file")
        if len(parts) == 1 and not info.is_dir():
            raise ElnError(f"entry {name!r} is a file at the top level; a .eln has one root folder")
        roots.add(parts[0])
        if not info.is_dir():
            members[key] = info
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
    return roots.pop(), members


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise ElnError(f"{info.filename} cannot be read: the archive is damaged ({_one_line(exc)})") from None
    if len(data) > limit:
        raise ElnError(f"{info.filename} is larger than it claims")
    return data


def check_metadata(zf: zipfile.ZipFile, root: str, members: dict[str, zipfile.ZipInfo]) -> Archive:
    info = members.get(f"{root}/{METADATA}")
    if info is None:
        raise ElnError(f"no {METADATA} in the archive's root folder {root!r}")
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
        types = node.get("@type")
        if not types or not all(isinstance(t, str) for t in _as_list(types)):
            raise ElnError(f"node {node['@id']!r} has no @type")
        previous = nodes.get(node["@id"])
        if previous is not None:  # the same node written twice is harmless; a conflicting one is not
            clash = sorted(k for k in previous.keys() & node.keys() if previous[k] != node[k])
            if clash:
                raise ElnError(f"@id {node['@id']!r} appears twice in {METADATA} with different {clash[0]!r}")
            node = {**previous, **node}
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
    for node in nodes.values():  # refused before anything is written, listed or not
        if "File" in _as_list(node.get("@type")) and not node["@id"].startswith(("http://", "https://")):
            if not _clean_parts(node["@id"]):
                raise ElnError(f"file {node['@id']!r} points outside the archive")
    parts, missing = [], []
    for ref in _as_list(root_node.get("hasPart")):
        if _ref(ref) is None:
            raise ElnError(f"the root lists {_one_line(repr(ref), 80)}, which is not a reference")
        node = nodes.get(_ref(ref))
        if node is None:  # described nowhere: imported as a file when the archive holds it
            missing.append(_ref(ref))
            continue
        parts.append(node)
    return Archive(zf=zf, root=root, members=members, nodes=nodes, parts=parts, missing=missing)


def open_archive(path: Path | str) -> Archive:
    """Open and check ``path``; raise ElnError for anything hostile or broken."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ElnError(f"{path} is not a .eln (zip) file: {exc}") from None
    try:
        root, members = check_entries(zf)
        return check_metadata(zf, root, members)
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


#: date forms other ELNs write besides ISO 8601 (RSpace: day:month:year:hour:minute:second)
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d:%m:%y:%H:%M:%S")


def _parse_time(text):
    """A datetime from an ISO 8601 string or one of :data:`_DATE_FORMATS`; None when unreadable
    (lenient: the archive's text is kept in the record's ImportedRecord either way)."""
    if not text or not isinstance(text, str):
        return None
    text = text.strip()
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                value = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


def _text(value, nodes: dict[str, dict]) -> str:
    """A property's text: a string, a referenced node's ``text``/``name``, or the JSON of anything else."""
    if isinstance(value, dict) and _ref(value) in nodes:
        target = nodes[_ref(value)]
        value = target.get("text") or target.get("name") or target.get("@id")
    if isinstance(value, list):
        return ", ".join(_text(v, nodes) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def keyword_list(value) -> list[str]:
    """``keywords`` as a list: the format says one comma-separated string; some ELNs write an array."""
    out = []
    for item in _as_list(value):
        if isinstance(item, str):
            out += [k.strip() for k in item.split(",") if k.strip()]
        elif item is not None and not isinstance(item, dict | list):
            out.append(str(item))
    return out


#: the services that write each record type an archive holds, called as every other door calls
#: them (role, freeze, plausibility, codes unique per project, links within the project, history
#: with who and why). Raw files are stored with raw_file_store. Jobs and their results have no
#: writer but the job runner: the import writes those rows itself, after the same role and
#: freeze check (:func:`labbook.projects.writes.authorise`).
WRITERS: dict[type[ProjectRecord], RecordWriters] = {
    Chemical: synthesis.chemicals,
    Synthesis: synthesis.batches,
    BatchLink: synthesis.links,
    ChlorideStock: synthesis.stocks,
    PostTreatment: synthesis.treatments,
    Sample: synthesis.samples,
    CharacterizationRun: characterization.runs,
    Device: devices.devices,
    DeviceMeasurement: devices.measurements,
    NotebookEntry: notebook.entries,
}


def _create_through(writers: RecordWriters, *, user, project, reason: str, fields: dict):
    """``writers.create(...)`` with ``fields``: a field the service needs and the archive leaves out
    is given as None, so that ``full_clean()`` names it (rather than a TypeError)."""
    needed = inspect.signature(writers.create_fn).parameters
    for name, p in needed.items():
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty and name not in ("user", "project"):
            fields.setdefault(name, None)
    return writers.create(user=user, reason=reason, project=project, **fields)


class _Importer:
    def __init__(self, archive: Archive, user, tmpdir: Path, source: str = "", reason: str = ""):
        self.a = archive
        self.user = user
        self.tmpdir = tmpdir
        self.source = source
        #: the why of every record's history ("imported from <archive>")
        self.reason = reason or "imported from an .eln archive"
        self.authorised = False  # checked once before the first row no service writes
        self.by_node: dict[str, ProjectRecord] = {}
        self.new_blobs: list[str] = []
        #: File @id -> (its RawFile, whether a sha256 of the archive vouched for its bytes)
        self.files: dict[str, tuple[RawFile, bool]] = {}
        #: RawFile pk -> the File nodes it was imported from
        self.file_nodes: dict[int, list[dict]] = {}
        #: RawFiles that are labbook records of their own (marked with their dataset's node)
        self.record_files: set[int] = set()
        self.used: set[str] = set()  # zip names already imported
        #: zip name -> (temporary file, its SHA-256, its size), extracted before the transaction
        self.extracted: dict[str, tuple[Path, str, int]] = {}
        self.n_extracted = 0
        self.notes: dict[str, list[str]] = {"missing_parts": [], "absent_files": []}
        self.new_storage: list[str] = []  # result artifacts written to the storage

    # files -------------------------------------------------------------------------------
    def extract_all(self, path: Path | str, progress: Progress) -> str:
        """Copy every file of the archive (but the crate's own) to the temporary folder in chunks,
        hashing each, before any row is written; return the SHA-256 of the archive itself.
        ``progress`` goes from 0 to 0.9 with the bytes read."""
        crate = {f"{self.a.root}/{name}" for name in _CRATE_FILES}
        infos = [info for name, info in sorted(self.a.members.items()) if name not in crate]
        archive_size = Path(path).stat().st_size
        total = archive_size + sum(info.file_size for info in infos)
        h, done = hashlib.sha256(), 0
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
                done += len(chunk)
                progress(0.9 * done / max(total, 1), "checking the archive's SHA-256")
        for info in infos:
            name, base = posixpath.basename(info.filename), done
            target, digest, size = self._extract(
                info, lambda n, name=name, base=base: progress(0.9 * (base + n) / max(total, 1), name)
            )
            self.extracted[info.filename] = (target, digest, size)
            done += size
        return h.hexdigest()

    def _extract(self, info: zipfile.ZipInfo, report: Callable[[int], None] | None = None):
        """One zip entry to a temporary file, in chunks: (path, SHA-256, size); refuses an entry
        that holds more bytes than its header says."""
        self.n_extracted += 1
        target = self.tmpdir / f"{self.n_extracted:06d}"
        h, size = hashlib.sha256(), 0
        with self.a.zf.open(info) as src, target.open("wb") as dst:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                size += len(chunk)
                if size > info.file_size:
                    raise ElnError(f"file {info.filename!r} is larger than the archive says")
                h.update(chunk)
                dst.write(chunk)
                if report is not None:
                    report(size)
        return target, h.hexdigest(), size

    def extract_checked(self, node: dict) -> tuple[Path, str, bool]:
        """The temporary copy of a File node's bytes, checked against its size and its sha256 when
        the archive gives one (the format makes it optional: without one the file is unverified).
        Returns the temporary path (the caller removes it), the bytes' SHA-256 and whether it was
        verified."""
        info = self.a.member(node["@id"])
        self.used.add(info.filename)
        expected = node.get("sha256")
        if isinstance(expected, str) and expected.lower().startswith("sha256:"):
            expected = expected[7:]
        if expected in (None, ""):
            expected = None
        elif not isinstance(expected, str) or not _SHA256.fullmatch(expected.strip()):
            raise ElnError(
                f"file {node['@id']!r} has a sha256 that is not 64 hex digits ({_one_line(repr(expected), 80)})"
            )
        extracted = self.extracted.pop(info.filename, None)  # each extracted copy is used once
        target, digest, size = extracted if extracted is not None else self._extract(info)
        if expected is not None and digest != expected.strip().lower():
            raise ElnError(f"file {node['@id']!r} does not match its sha256 (checksum mismatch)")
        declared = node.get("contentSize")  # an int or a string of bytes, both are written
        if declared not in (None, "") and str(declared).strip().isdigit() and int(str(declared)) != size:
            raise ElnError(f"file {node['@id']!r} has {size} bytes, not the {declared} its contentSize says")
        return target, digest, expected is not None

    def import_file(self, project, node: dict, **extra) -> RawFile:
        """The RawFile of a File node (each node once; the same bytes twice are one RawFile)."""
        if node["@id"] in self.files:
            return self.files[node["@id"]][0]
        path, sha, verified = self.extract_checked(node)
        if not default_storage.exists(blob_name(sha)):
            self.new_blobs.append(blob_name(sha))
        name = extra.pop("original_name", None) or node.get("name")
        if not isinstance(name, str) or not posixpath.basename(name.strip()):
            name = posixpath.basename(unquote(self.a.relative(node["@id"])))
        media_type = extra.pop("media_type", None) or node.get("encodingFormat")
        with path.open("rb") as fh:
            raw = raw_file_store(
                project=project,
                fileobj=fh,
                original_name=name[:255],
                user=self.user,
                media_type=media_type[:127] if isinstance(media_type, str) and media_type else None,
                reason=self.reason,
                **extra,
            )
        path.unlink()
        self.files[node["@id"]] = (raw, verified)
        self.file_nodes.setdefault(raw.pk, []).append(node)
        return raw

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
        if f.many_to_one or f.one_to_one:
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
        if model is ResultArtifact:  # its arrays back into the storage, under the imported job
            for key in ("storage_name", "preview_name"):
                if values.get(key):
                    values[key] = self.store_artifact(values, key, files)
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
        if model is RawFile:
            if len(files) != 1:
                raise ElnError(f"raw file record {node['@id']!r} must have exactly one file")
            obj = self.import_file(
                project,
                files[0],
                original_name=values.get("original_name"),
                media_type=values.get("media_type"),
                description=values.get("description", ""),
            )
        elif model in WRITERS:  # the record and its links, through its service
            obj = _create_through(
                WRITERS[model], user=self.user, project=project, reason=self.reason, fields={**values, **m2m}
            )
            m2m = {}
        else:  # a job or a result row: what the job runner wrote, kept as it was stored
            if not self.authorised:
                authorise(self.user, project)
                self.authorised = True
            obj = model(project=project, created_by=self.user, **values)
            # a NULL the column allows is what the exporting instance stored (analyses write rows
            # without full_clean): kept, not refused as blank
            nulls = [
                f.name
                for f in content_fields(model)
                if f.null and values.get(f.name, f.get_default()) is None
            ]
            obj.full_clean(exclude=nulls, validate_unique=True)
            obj.save()
            stamped = {  # what auto_now(_add) overwrote on save (a job's queued_at)
                f.name: values[f.name]
                for f in content_fields(model)
                if (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)) and values.get(f.name)
            }
            if stamped:
                model._base_manager.filter(pk=obj.pk).update(**stamped)
        if model is AnalysisJob and "inputs" in pvs:
            self.job_inputs(obj, pvs["inputs"])
        self.by_node[node["@id"]] = obj
        known = {f.name for f in content_fields(model)} | {m.name for m in model._meta.many_to_many}
        known |= {"inputs"} if model is AnalysisJob else set()
        raw = {k: v for k, v in node.items() if k not in {"variableMeasured", "hasPart"}}
        unmapped = [pv for name, pv in pvs.items() if name not in known]
        if unmapped:  # properties this labbook has no field for (another version's): kept, not dropped
            raw["unmapped"] = unmapped
        if people:  # who the archive says did it, as text: the records belong to the importing user
            raw["people"] = people
        return obj, m2m, raw

    def store_artifact(self, values: dict, key: str, files: list[dict]) -> str:
        """Store the File an artifact's ``storage_name``/``preview_name`` names (checked against its
        sha256) under the imported job's folder; return the new storage name."""
        name = posixpath.basename(str(values[key]))
        node = next((f for f in files if f.get("name") == name), None)
        if node is None or not isinstance(values.get("job"), AnalysisJob):
            raise ElnError(f"result artifact {values.get('name')!r}: its file {name!r} is not in the archive")
        path, sha, _ = self.extract_checked(node)
        if key == "storage_name" and sha != str(values.get("sha256", "")).lower():
            raise ElnError(f"result artifact {values.get('name')!r}: its file does not match its sha256")
        with path.open("rb") as fh:
            stored = default_storage.save(f"results/job-{values['job'].pk}/{name}", File(fh, name=name))
        path.unlink()
        self.new_storage.append(stored)
        return stored

    def job_inputs(self, job: AnalysisJob, pv: dict) -> None:
        """A job's JobInput rows from its ``inputs`` property (role -> raw file dataset)."""
        try:
            roles = json.loads(pv.get("value") or "{}")
        except (TypeError, ValueError):
            roles = None
        if not isinstance(roles, dict):
            raise ElnError(f"job {job}: inputs {_one_line(repr(pv.get('value')), 80)} are not role -> file")
        for role, ref in roles.items():
            if (
                not isinstance(role, str)
                or ref not in self.by_node
                or not isinstance(self.by_node[ref], RawFile)
            ):
                raise ElnError(
                    f"job {job}: input {_one_line(repr(role), 40)} is not a raw file of this archive"
                )
            JobInput.objects.create(job=job, raw_file=self.by_node[ref], role=role[:20])

    def import_foreign_dataset(
        self, project, node: dict, files: list[dict], *, parent: str | None = None, missing=()
    ):
        """A dataset from another ELN: a notebook entry with its text, where it came from, its
        authors, dates, keywords, properties and comments, and its files. The node itself, with the
        nodes it references resolved, is kept as the ImportedRecord's raw JSON."""
        nodes = self.a.nodes
        people = {}
        for key in ("author", "creator", "contributor"):
            refs = [r for r in _as_list(node.get(key)) if r is not None]
            if refs:
                people[key] = "; ".join(
                    self.person_text(_ref(r)) if _ref(r) else _one_line(_text(r, nodes), 500) for r in refs
                )
        keywords = keyword_list(node.get("keywords"))
        comments = []
        for ref in _as_list(node.get("comment")):
            c = nodes.get(_ref(ref), ref) if _ref(ref) else ref
            if isinstance(c, dict):
                who = c.get("author") or c.get("creator")
                comments.append(
                    {
                        "author": self.person_text(_ref(who)) if _ref(who) else _text(who, nodes),
                        "dateCreated": _text(c.get("dateCreated"), nodes),
                        "text": _text(c.get("text") or c.get("description") or c.get("name"), nodes),
                    }
                )
            elif c is not None:
                comments.append({"author": "", "dateCreated": "", "text": _text(c, nodes)})
        lines = [
            t
            for t in dict.fromkeys([_text(node.get("text"), nodes), _text(node.get("description"), nodes)])
            if t
        ]
        about = [f"- Source: {self.source} ({node['@id']})"]
        if isinstance(node.get("url"), str):
            about.append(f"- Link: {node['url']}")
        if parent:
            about.append(f"- Part of: {parent}")
        for key, label in (("author", "Authors"), ("creator", "Created by"), ("contributor", "Contributors")):
            if key in people:
                about.append(f"- {label}: {people[key]}")
        for key, label in (
            ("dateCreated", "Created"),
            ("dateModified", "Modified"),
            ("datePublished", "Published"),
        ):
            if node.get(key) not in (None, ""):
                about.append(f"- {label}: {_text(node.get(key), nodes)}")
        if keywords:
            about.append(f"- Keywords: {', '.join(keywords)}")
        for key in ("genre", "about", "creativeWorkStatus", "temporal"):
            if node.get(key) not in (None, "", []):
                about.append(f"- {key}: {_text(node.get(key), nodes)}")
        raw_props = []
        for ref in _as_list(node.get("variableMeasured")):
            pv = nodes.get(_ref(ref), ref) if isinstance(ref, dict) else nodes.get(_ref(ref), {})
            if isinstance(pv, dict):
                raw_props.append(pv)
                unit = pv.get("unitText") or UNITS_BY_CODE.get(pv.get("unitCode"), pv.get("unitCode", ""))
                about.append(
                    f"- {_text(pv.get('name') or pv.get('propertyID'), nodes)}: "
                    f"{_text(pv.get('value', ''), nodes)} {_text(unit, nodes)}".rstrip()
                )
        body = "\n\n".join(lines + ["\n".join(about)])
        if comments:
            body += "\n\n### Comments\n" + "\n".join(
                f"- {c['author'] or 'someone'}{' (' + c['dateCreated'] + ')' if c['dateCreated'] else ''}: {c['text']}"
                for c in comments
            )
        title = _text(node.get("name"), nodes).strip() or node["@id"]
        raws = list({r.pk: r for r in (self.import_file(project, f) for f in files)}.values())
        entry = notebook.entry_create(
            user=self.user,
            project=project,
            title=title[:200],
            body=body,
            author=self.user,
            raw_files=raws,
            reason=self.reason,
        )
        self.by_node[node["@id"]] = entry
        raw = dict(node)
        raw["variableMeasured"] = raw_props
        raw["hasPart"] = [self.a.nodes.get(_ref(p), p) for p in _as_list(node.get("hasPart"))]
        for key in ("author", "creator", "contributor", "comment", "mentions", "about"):  # resolved
            if key in node:
                raw[key] = [self.a.nodes.get(_ref(r), r) for r in _as_list(node[key])]
        raw["people"] = people
        raw["keyword_list"] = keywords
        raw["comments"] = comments
        if parent:
            raw["isPartOf"] = parent
        if missing:
            raw["missing_parts"] = list(missing)
            self.notes["missing_parts"] += list(missing)
        return entry, {}, raw

    def parts_of(self, node: dict) -> tuple[list[dict], list[dict], list[str]]:
        """A dataset's parts: (datasets, files inside the archive, @ids described nowhere and absent).
        A part the metadata does not describe is imported as a file when the archive holds it."""
        datasets, files, missing = [], [], []
        for ref in _as_list(node.get("hasPart")):
            rid = _ref(ref)
            if rid is None:
                raise ElnError(
                    f"{node['@id']!r} lists a part that is not a reference: {_one_line(repr(ref), 80)}"
                )
            part = self.a.nodes.get(rid)
            if part is None:
                if rid.startswith(("http://", "https://")):
                    continue
                if self.a.find(rid) is not None:
                    files.append({"@id": rid, "@type": "File"})
                else:
                    missing.append(rid)
                continue
            types = _as_list(part.get("@type"))
            if "Dataset" in types:
                datasets.append(part)
            elif "File" in types and not rid.startswith(("http://", "https://")):  # remote: nothing to import
                files.append(part)
        return datasets, files, missing

    def leftover_files(self) -> list[dict]:
        """Files not yet imported: File nodes no dataset lists, then entries of the archive its
        metadata does not describe (a person would miss them; the crate's own files excepted)."""
        out = []
        for node in self.a.nodes.values():
            types = _as_list(node.get("@type"))
            if "File" not in types or "Dataset" in types or node["@id"] in self.files:
                continue
            if node["@id"].startswith(("http://", "https://")):
                continue
            info = self.a.find(node["@id"])
            if info is None:
                self.notes["absent_files"].append(node["@id"])
            elif info.filename not in self.used:
                self.used.add(info.filename)
                out.append(node)
        crate = {f"{self.a.root}/{name}" for name in _CRATE_FILES}
        for name, info in sorted(self.a.members.items()):
            if name in crate or info.filename in self.used:
                continue
            self.used.add(info.filename)
            out.append(
                {
                    "@id": name[len(self.a.root) + 1 :],
                    "@type": "File",
                    "name": posixpath.basename(name),
                    "description": "in the archive, not described in its metadata",
                }
            )
        return out


def eln_import(
    *, path: Path | str, user, slug: str | None = None, progress: Progress | None = None
) -> Project:
    """Import the ``.eln`` at ``path`` as a new project administered by ``user``.

    Everything is checked first and written in one transaction: a refused archive (ElnError, a
    ValidationError) leaves no project, no record and no new blob behind. The import itself is
    kept as an :class:`ElnImport` (``project.eln_imports``): the exporting ELN, the signature,
    what came in and which files had no sha256 to check them against.

    The bytes are read before the transaction opens (every file extracted in chunks to a temporary
    folder and hashed), with ``progress(fraction, message)`` reported as they go; the transaction
    then only writes rows and stores the extracted files, so it stays short."""
    progress = progress or _no_progress
    try:
        project = _eln_import(path=path, user=user, slug=slug, progress=progress)
        progress(1.0, f"imported as {project.slug}")
        return project
    except ElnError:
        raise
    except ValidationError as exc:  # a record or the project refused by full_clean()
        if hasattr(exc, "error_dict"):
            text = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        else:
            text = "; ".join(exc.messages)
        raise ElnError(f"refused: {_one_line(text)}") from None
    except _MALFORMED as exc:  # whatever a malformed archive makes the readers raise: one line
        logger.warning("import of %s refused", path, exc_info=True)
        raise ElnError(
            f"{Path(path).name} is malformed and was not imported ({type(exc).__name__}: {_one_line(exc, 200)})"
        ) from None


def publisher_of(archive: Archive) -> tuple[str, str]:
    """(name, url) of the ELN that wrote the archive: the descriptor's ``sdPublisher`` (or
    ``publisher``), else the root's."""
    descriptor = archive.nodes[METADATA]
    root = archive.nodes.get(_root_id(descriptor), {})
    for ref in (
        descriptor.get("sdPublisher"),
        descriptor.get("publisher"),
        root.get("sdPublisher"),
        root.get("publisher"),
    ):
        for item in _as_list(ref):
            node = archive.nodes.get(_ref(item)) if _ref(item) in archive.nodes else item
            if isinstance(node, dict):  # a node, or a reference to none (its @id names it then)
                name, url = node.get("name") or node.get("@id"), node.get("url") or node.get("@id")
            else:
                name, url = node, ""
            if isinstance(name, str) and name.strip():
                url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""
                return _one_line(name, 200), url[:500]
    return "unknown ELN", ""


def _slug_for(archive: Archive, root: dict) -> str:
    identifier = root.get("identifier")
    if isinstance(identifier, str) and _SLUG.fullmatch(identifier) and len(identifier) <= 80:
        return identifier
    return slugify(archive.root)[:80].strip("-") or "imported"


def _eln_import(*, path: Path | str, user, slug: str | None, progress: Progress) -> Project:
    progress(0.0, "checking the archive")
    archive = open_archive(path)
    labels = {m._meta.label: m for m in domain_models()}
    root = archive.nodes[_root_id(archive.nodes[METADATA])]
    source, source_url = publisher_of(archive)
    name = _text(root.get("name"), archive.nodes).strip()[:180] or archive.root[:180]
    if slug:  # a copy under another slug: name it after the slug too, names are unique
        name = f"{name} ({slug})"
    slug = slug or _slug_for(archive, root)
    importer = _Importer(
        archive,
        user,
        Path(tempfile.mkdtemp(prefix="eln-import-")),
        source,
        reason=f"imported from {Path(path).name}",
    )
    try:
        signature = check_signature(archive)
        if Project.objects.filter(models.Q(slug=slug) | models.Q(name=name)).exists():  # before the bytes
            raise ElnError(f"a project {name!r} ({slug}) exists already; import it under another slug")
        archive_sha256 = importer.extract_all(path, progress)
        progress(0.9, f"writing the records and {len(importer.extracted)} files")
        with transaction.atomic():
            if Project.objects.filter(models.Q(slug=slug) | models.Q(name=name)).exists():
                raise ElnError(
                    f"a project {name!r} ({slug}) exists already; import it under another slug (--slug)"
                )
            project = Project(name=name, slug=slug, description=_text(root.get("description"), archive.nodes))
            project.full_clean()
            project.save()
            Membership.objects.create(project=project, user=user, role=Role.ADMIN)
            record = ElnImport.objects.create(
                project=project,
                file_name=Path(path).name[:255],
                archive_sha256=archive_sha256,
                source=source,
                source_url=source_url,
                imported_by=user,
                **signature,
            )
            marks = []
            stamped = []  # (model, pk, the archive's dateCreated / dateModified)

            def mark(obj, raw: dict, checksum: str = Checksum.NONE, node: dict | None = None):
                node = node if node is not None else archive.nodes.get(raw.get("@id"), raw)
                stamps = {
                    k: v
                    for k, v in {
                        "created_at": _parse_time(node.get("dateCreated")),
                        "modified_at": _parse_time(node.get("dateModified")),
                    }.items()
                    if v is not None
                }
                if stamps:  # applied last: linking files to an entry later must not overwrite them
                    stamped.append((type(obj), obj.pk, stamps))
                marks.append(
                    ImportedRecord(
                        project=project,
                        model=type(obj)._meta.label,
                        object_id=obj.pk,
                        source=source,
                        source_id=str(raw.get("@id"))[:500],
                        raw=raw,
                        imported_by=user,
                        eln_import=record,
                        checksum=checksum,
                    )
                )

            # ours first, in dependency order, so links resolve
            ours = [
                n
                for n in archive.parts
                if isinstance(n.get("genre"), str)
                and n["genre"] in labels
                and "Dataset" in _as_list(n.get("@type"))
            ]
            order = {label: i for i, label in enumerate(labels)}
            ours.sort(key=lambda n: order[n["genre"]])
            created = []
            for node in ours:
                created.append(
                    importer.import_labbook_record(
                        project, labels[node["genre"]], node, importer.parts_of(node)[1]
                    )
                )
            # then other ELNs' datasets, nested ones included, each once
            queue = [
                (n, None) for n in archive.parts if n not in ours and "Dataset" in _as_list(n.get("@type"))
            ]
            seen = {n["@id"] for n in ours}
            while queue:
                node, parent = queue.pop(0)
                if node["@id"] in seen:
                    continue
                seen.add(node["@id"])
                datasets, files, missing = importer.parts_of(node)
                created.append(
                    importer.import_foreign_dataset(project, node, files, parent=parent, missing=missing)
                )
                queue += [(d, node["@id"]) for d in datasets]
            for obj, m2m, raw in created:
                for rel, targets in m2m.items():
                    getattr(obj, rel).set(targets)
                checksum = Checksum.NONE
                if isinstance(obj, RawFile):
                    importer.record_files.add(obj.pk)
                    verified = [v for r, v in importer.files.values() if r.pk == obj.pk]
                    checksum = Checksum.VERIFIED if any(verified) else Checksum.UNVERIFIED
                mark(obj, raw, checksum)
            # files the root lists, files no dataset lists and files the metadata does not describe:
            # with the dataset whose folder holds them, else with an entry for the archive itself
            top = [
                n
                for n in archive.parts
                if "File" in _as_list(n.get("@type")) and "Dataset" not in _as_list(n.get("@type"))
            ]
            top = [n for n in top if not n["@id"].startswith(("http://", "https://"))]
            top += [
                {"@id": m, "@type": "File"}
                for m in archive.missing
                if not m.startswith(("http://", "https://")) and archive.find(m)
            ]
            importer.notes["missing_parts"] += [
                m
                for m in archive.missing
                if not m.startswith(("http://", "https://")) and not archive.find(m)
            ]
            for n in top:
                importer.used.add(archive.member(n["@id"]).filename)
            leftovers = top + importer.leftover_files()
            folders = {
                archive.relative(i) + "/": e
                for i, e in importer.by_node.items()
                if isinstance(e, NotebookEntry) and _clean_parts(i)
            }
            by_owner: dict[NotebookEntry | None, list[RawFile]] = {}  # None: the archive's own entry
            for node in leftovers:
                raw = importer.import_file(project, node)
                rel = archive.relative(node["@id"])
                owners = [f for f in folders if rel.startswith(f) and node not in top]
                owner = folders[max(owners, key=len)] if owners else None
                by_owner.setdefault(owner, []).append(raw)
            for owner, raws in by_owner.items():
                if owner is None:
                    continue
                owner = NotebookEntry.objects.get(pk=owner.pk)  # at the version its links left it
                linked = list(owner.raw_files.all())
                notebook.entry_update(
                    user=user,
                    entry=owner,
                    version=owner.version,
                    raw_files=list({r.pk: r for r in linked + raws}.values()),
                    reason=importer.reason,
                )
            if None in by_owner:
                archive_entry = notebook.entry_create(
                    user=user,
                    project=project,
                    author=user,
                    title=f"{name}: files of the archive"[:200],
                    body=(
                        f"Files of the archive {Path(path).name} from {source} that no dataset "
                        "lists, or that its metadata does not describe.\n\n"
                        + _text(root.get("description"), archive.nodes)
                    ).strip(),
                    raw_files=list({r.pk: r for r in by_owner[None]}.values()),
                    reason=importer.reason,
                )
                root_raw = dict(root)
                root_raw["hasPart"] = [n["@id"] for n in leftovers]
                mark(archive_entry, root_raw, node={})
            # every raw file another ELN's dataset brought is marked too, with its checksum state
            unverified = []
            for pk, file_nodes in importer.file_nodes.items():
                if pk in importer.record_files:
                    continue
                raw_file = importer.files[file_nodes[0]["@id"]][0]
                verified = any(importer.files[n["@id"]][1] for n in file_nodes)
                if not verified:
                    unverified += [n["@id"] for n in file_nodes]
                node = dict(file_nodes[0])
                if len(file_nodes) > 1:
                    node["same_bytes_as"] = [n["@id"] for n in file_nodes[1:]]
                for key in ("author", "creator"):
                    if _ref(node.get(key)):
                        node.setdefault("people", {})[key] = importer.person_text(_ref(node[key]))
                mark(
                    raw_file, node, Checksum.VERIFIED if verified else Checksum.UNVERIFIED, node=file_nodes[0]
                )
            unverified += [
                m.source_id
                for m in marks
                if m.model == RawFile._meta.label
                and m.object_id in importer.record_files
                and m.checksum == Checksum.UNVERIFIED
            ]
            # the archive's dates (provenance, not content: no new version, no history row)
            for model, pk, stamps in stamped:
                model._base_manager.filter(pk=pk).update(**stamps)
            ImportedRecord.objects.bulk_create(marks)
            entries = [m for m in marks if m.model != RawFile._meta.label]
            record.summary = {
                "datasets": len(entries),
                "files": len(importer.files),
                "unverified_files": sorted(unverified),
                "unlisted_files": sum(
                    1 for n in leftovers if n.get("description", "").startswith("in the archive, not")
                ),
                **{k: sorted(set(v)) for k, v in importer.notes.items()},
            }
            record.save(update_fields=["summary"])
            return project
    except BaseException:
        for name in importer.new_blobs:
            if not RawFile.objects.filter(sha256=name.rsplit("/", 1)[-1]).exists():
                default_storage.delete(name)
                _remove_empty_folders(name)
        for name in importer.new_storage:
            default_storage.delete(name)
            _remove_empty_folders(name)
        raise
    finally:
        archive.zf.close()
        shutil.rmtree(importer.tmpdir, ignore_errors=True)


def _remove_empty_folders(name: str) -> None:
    """Remove the folders a deleted blob leaves empty (``raw/ab/``, ``raw/``), on a file system store."""
    try:
        folder = Path(default_storage.path(name)).parent
    except NotImplementedError:
        return
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            return


def check_signature(archive: Archive) -> dict:
    """The ElnImport fields for the archive's ``ro-crate-metadata.json.minisig``: unsigned without
    one; verified when a trusted key signed it (refused when that signature does not match);
    untrusted, with the key id, when another key did."""
    info = archive.members.get(f"{archive.root}/{METADATA}.minisig")
    if info is None:
        return {"signature": Signature.UNSIGNED}
    if info.file_size > 1 << 16:
        raise ElnError(f"{METADATA}.minisig is {info.file_size} bytes; a minisign signature is a few hundred")
    signature = _read_limited(archive.zf, info, info.file_size)
    meta = archive.members[f"{archive.root}/{METADATA}"]
    try:
        check = minisign_verify(_read_limited(archive.zf, meta, meta.file_size), signature)
    except BadSignature as exc:
        raise ElnError(f"{METADATA}.minisig: {exc}") from None
    return {
        "signature": Signature.VERIFIED if check.verified else Signature.UNTRUSTED,
        "signature_key_id": check.key_id,
        "signature_comment": _one_line(check.trusted_comment, 500),
    }
