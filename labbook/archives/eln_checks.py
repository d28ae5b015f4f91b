"""The ELN Consortium's checks of a ``.eln`` file, ported from TheELNFileFormat's ``tests/checks.py``
(``checkPypiRocrate`` and ``checkParamMetadataJson``) with the format's other published rules, so
our exports are checked the way other ELNs' importers and the consortium's validator read them.

Why a port rather than the consortium's script: it prints instead of returning what it found and
needs a checkout of their repository; the rules are few and stable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import zipfile
from pathlib import Path

METADATA = "ro-crate-metadata.json"
RO_CRATE_SPECS = {"https://w3id.org/ro/crate/1.1", "https://w3id.org/ro/crate/1.2"}
DATASET_MANDATORY = ("name",)
FILE_MANDATORY = ("name",)
DESCRIPTOR_MANDATORY = ("conformsTo", "version", "sdPublisher")
ROOT_MANDATORY = ("name", "description", "datePublished", "license")  # validators' (TheELNFileFormat#88)


def _types(node: dict) -> list:
    t = node.get("@type")
    return t if isinstance(t, list) else [t]


def _ids(value) -> list:
    value = value if isinstance(value, list) else [] if value is None else [value]
    return [v.get("@id") if isinstance(v, dict) else v for v in value]


def eln_problems(path: Path | str, *, with_rocrate: bool = True) -> list[str]:
    """Everything in the ``.eln`` at ``path`` that breaks the consortium's rules, one line each
    (empty: it passes). ``with_rocrate`` also loads it with the ``rocrate`` library."""
    problems: list[str] = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        roots = {n.split("/")[0] for n in names}
        if len(roots) != 1:
            problems.append(f"{len(roots)} root folders; a .eln has exactly one")
        for n in names:
            if n.startswith("/") or ".." in n.split("/"):
                problems.append(f"{n!r}: an absolute path or '..'")
            elif "/" not in n.rstrip("/") and not n.endswith("/"):
                problems.append(f"{n!r}: a file at the top level")
        root = sorted(roots)[0]
        try:
            doc = json.loads(zf.read(f"{root}/{METADATA}"))
        except KeyError:
            return problems + [f"no {root}/{METADATA}"]
        graph = doc.get("@graph", [])
        context = doc.get("@context")
        contexts = context if isinstance(context, list) else [context]
        extended = any(isinstance(c, dict) and "sha256" in c for c in contexts)
        ids = [n.get("@id") for n in graph]
        for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
            problems.append(f"{dup!r}: @id is not unique")
        nodes = {n.get("@id"): n for n in graph}
        for node in graph:
            if "@type" not in node or not node["@type"]:
                problems.append(f"{node.get('@id')!r}: no @type")
        descriptor = nodes.get(METADATA)
        if descriptor is None:
            return problems + [f"no descriptor node {METADATA}"]
        for key in DESCRIPTOR_MANDATORY:
            if not descriptor.get(key):
                problems.append(f"{METADATA}: no {key}")
        if not set(_ids(descriptor.get("conformsTo"))) & RO_CRATE_SPECS:
            problems.append(f"{METADATA}: conformsTo is not RO-Crate 1.1 or 1.2")
        publisher = nodes.get((_ids(descriptor.get("sdPublisher")) or [None])[0])
        if not publisher or not publisher.get("name") or not publisher.get("url"):
            problems.append(f"{METADATA}: sdPublisher is not a node with name and url")
        root_node = nodes.get((_ids(descriptor.get("about")) or ["./"])[0])
        if root_node is None:
            return problems + ["no root dataset"]
        for key in ROOT_MANDATORY:
            if not root_node.get(key):
                problems.append(f"root dataset: no {key}")
        # every part, depth first from the root's hasPart (checkParamMetadataJson's processNode)
        todo, seen = list(_ids(root_node.get("hasPart"))), set()
        while todo:
            node_id = todo.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            node = nodes.get(node_id)
            if node is None:
                problems.append(f"{node_id!r}: listed in hasPart but not described")
                continue
            types = _types(node)
            mandatory = DATASET_MANDATORY if "Dataset" in types else FILE_MANDATORY if "File" in types else ()
            for key in mandatory:
                if not node.get(key):
                    problems.append(f"{node_id!r}: no {key}")
            if any(not str(v).strip() for v in node.values()):
                problems.append(f"{node_id!r}: an empty value")
            todo += _ids(node.get("hasPart"))
        for node in graph:
            node_id = node.get("@id")
            if "keywords" in node and not isinstance(node["keywords"], str):
                problems.append(f"{node_id!r}: keywords is not one comma-separated string")
            for key in ("dateCreated", "dateModified", "datePublished"):
                if key in node:
                    try:
                        dt.datetime.fromisoformat(str(node[key]))
                    except ValueError:
                        problems.append(f"{node_id!r}: {key} {node[key]!r} is not an ISO 8601 date")
            if "File" in _types(node) and not str(node_id).startswith(("http://", "https://")):
                member = f"{root}/{str(node_id).removeprefix('./')}"
                if member not in names:
                    problems.append(f"{node_id!r}: not in the archive")
                    continue
                data = zf.read(member)
                if "sha256" in node:
                    if not extended:
                        problems.append("sha256 is used but @context does not define it")
                    if node["sha256"] != hashlib.sha256(data).hexdigest():
                        problems.append(f"{node_id!r}: sha256 does not match")
                if "contentSize" in node and str(node["contentSize"]) != str(len(data)):
                    problems.append(f"{node_id!r}: contentSize {node['contentSize']!r} is not {len(data)}")
            if "PropertyValue" in _types(node) and re.search(r'"@type"', json.dumps(node.get("value"))):
                problems.append(f"{node_id!r}: a nested node as value (not flattened)")
        if with_rocrate:
            problems += _rocrate_problems(zf, root)
    return problems


def _rocrate_problems(zf: zipfile.ZipFile, root: str) -> list[str]:
    """checkPypiRocrate: the ``rocrate`` library loads the extracted crate and lists its entities."""
    from rocrate.rocrate import ROCrate

    with tempfile.TemporaryDirectory(prefix="eln-check-") as tmp:
        zf.extractall(tmp)
        try:
            crate = ROCrate(Path(tmp) / root)
            list(crate.get_entities())
        except Exception as exc:  # noqa: BLE001 - whatever the library raises is the finding
            return [f"rocrate cannot load it: {type(exc).__name__}: {exc}"]
    return []
