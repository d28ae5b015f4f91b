"""Writes for notebook entries: the only writers (the notebook page, the API, the admin).

Each service checks the user's role in the entry's project (editor or admin) and the freeze,
refuses an update without the ``version`` it is based on (409 on a stale one), validates with
``full_clean()``, writes in one transaction with history saying who and why. The records an entry
is linked to (batches, treatments, samples, chemicals, runs, devices, measurements, raw files)
must be in its project.

Files (images, PDF, CSV/TXT) are attached through the one upload path,
:func:`labbook.files.services.raw_files_attach` (an entry's files are attachments): streamed with SHA-256,
size-limited, recognised by their content, stored once per content, linked with one history row.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labbook.files.models import RawFile
from labbook.files.services import (
    linked_record_create,
    linked_record_delete,
    linked_record_update,
    raw_files_attach,
)
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Project
from labbook.projects.writes import RecordWriters

#: the records an entry can be linked to (its many-to-many fields)
LINKS = [f.name for f in NotebookEntry._meta.many_to_many]


@transaction.atomic
def entry_create(
    *,
    user,
    project: Project,
    title: str,
    body: str = "",
    reason: str = "",
    files: Iterable = (),
    **fields,
) -> NotebookEntry:
    """Write an entry (Markdown ``body``); its author is the writer unless ``author`` is given;
    ``fields`` may link it to records of its project (see :data:`LINKS`); ``files`` are attached
    (:func:`entry_files_attach`), all or nothing with the entry itself."""
    if fields.get("author") is None:
        fields["author"] = user
    entry = linked_record_create(
        NotebookEntry, user=user, project=project, reason=reason, title=title, body=body, **fields
    )
    files = list(files or [])
    if files:
        entry_files_attach(user=user, entry=entry, files=files, reason=reason or "attached with the entry")
    return entry


def entry_files_attach(*, user, entry: NotebookEntry, files: Iterable, reason: str = "") -> list[RawFile]:
    """Attach ``files`` (uploads, ``(name, stream)`` pairs or paths) to ``entry``: the writer must
    be an editor of its project, which must not be frozen; each file must be an image (PNG, JPEG,
    TIFF), a PDF or a CSV/TXT table by its content; all or nothing; the entry's history says who
    attached what. Returns the stored files."""
    return raw_files_attach(user=user, target=entry, files=files, reason=reason)


@transaction.atomic
def entry_update(*, user, entry: NotebookEntry, version, reason: str = "", **changes) -> NotebookEntry:
    return linked_record_update(entry, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def entry_delete(*, user, entry: NotebookEntry, reason: str = "") -> None:
    linked_record_delete(entry, user=user, reason=reason)


entries = RecordWriters(entry_create, entry_update, entry_delete, "entry")
