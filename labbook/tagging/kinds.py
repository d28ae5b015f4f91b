"""Which records carry tags, by the names the API uses for them (``batch``, ``treatment``, ...).

Models are named by label ("synthesis.synthesis"), never imported: this app sits just above
projects, below the record apps it tags.
"""

from __future__ import annotations

from django.apps import apps
from django.urls import NoReverseMatch, reverse

#: record type -> (model label, the page list's URL name, the API list's URL name)
KINDS: dict[str, tuple[str, str, str]] = {
    "batch": ("synthesis.synthesis", "synthesis:batch-list", "api:batch-list"),
    "stock": ("synthesis.chloridestock", "synthesis:stock-list", "api:stock-list"),
    "treatment": ("synthesis.posttreatment", "synthesis:treatment-list", "api:treatment-list"),
    "sample": ("synthesis.sample", "synthesis:sample-list", "api:sample-list"),
    "chemical": ("synthesis.chemical", "synthesis:chemical-list", "api:chemical-list"),
    "run": ("characterization.characterizationrun", "characterization:run-list", "api:run-list"),
    "device": ("devices.device", "devices:device-list", "api:device-list"),
    "measurement": ("devices.devicemeasurement", "devices:measurement-list", "api:measurement-list"),
    "entry": ("notebook.notebookentry", "notebook:entry-list", "api:entry-list"),
}
_BY_LABEL = {label: kind for kind, (label, _, _) in KINDS.items()}


def model_of(kind: str):
    """The model of record type ``kind``; KeyError for an unknown one."""
    return apps.get_model(KINDS[kind][0])


def kind_of(model_or_record) -> str | None:
    """The record type name of a model or record, None when it carries no tags."""
    return _BY_LABEL.get(model_or_record._meta.label_lower)


def list_url(kind: str) -> str | None:
    """The page list of ``kind`` (where ``?tag=`` filters), else its API list, else None."""
    for name in KINDS[kind][1:]:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None
