"""Writes for notebook entries: the only writers (the notebook page, the API, the admin).

Each service checks the user's role in the entry's project (editor or admin) and the freeze,
refuses an update without the ``version`` it is based on (409 on a stale one), validates with
``full_clean()``, writes in one transaction with history saying who and why. The records an entry
is linked to (batches, treatments, samples, chemicals, runs, devices, measurements, raw files)
must be in its project.
"""

from __future__ import annotations

from django.db import transaction

from labbook.files.services import linked_record_create, linked_record_delete, linked_record_update
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Project
from labbook.projects.writes import RecordWriters

#: the records an entry can be linked to (its many-to-many fields)
LINKS = [f.name for f in NotebookEntry._meta.many_to_many]


@transaction.atomic
def entry_create(
    *, user, project: Project, title: str, body: str = "", reason: str = "", **fields
) -> NotebookEntry:
    """Write an entry (Markdown ``body``); its author is the writer unless ``author`` is given;
    ``fields`` may link it to records of its project (see :data:`LINKS`)."""
    if fields.get("author") is None:
        fields["author"] = user
    return linked_record_create(
        NotebookEntry, user=user, project=project, reason=reason, title=title, body=body, **fields
    )


@transaction.atomic
def entry_update(*, user, entry: NotebookEntry, version, reason: str = "", **changes) -> NotebookEntry:
    return linked_record_update(entry, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def entry_delete(*, user, entry: NotebookEntry, reason: str = "") -> None:
    linked_record_delete(entry, user=user, reason=reason)


entries = RecordWriters(entry_create, entry_update, entry_delete, "entry")
