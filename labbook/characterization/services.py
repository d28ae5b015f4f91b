"""Writes for characterisation runs: the only writers (pages, API, admin and ingest call these).

Each service checks the user's role in the run's project (editor or admin) and the freeze, refuses
an update without the ``version`` it is based on (409 on a stale one), validates with
``full_clean()`` (the run's sample in its project, settings as quantities), writes in one
transaction with history saying who and why. A run's raw files must be in its project; new raw
files are attached with :func:`labbook.files.services.raw_files_attach`.
"""

from __future__ import annotations

from django.db import transaction

from labbook.characterization.models import CharacterizationRun
from labbook.files.services import linked_record_create, linked_record_delete, linked_record_update
from labbook.projects.models import Project
from labbook.projects.writes import RecordWriters
from labbook.synthesis.models import Sample


@transaction.atomic
def run_create(
    *,
    user,
    sample: Sample,
    code: str,
    technique: str,
    date,
    project: Project | None = None,
    reason: str = "",
    **fields,
) -> CharacterizationRun:
    """Record a characterisation run of ``sample`` (in the sample's project unless given);
    ``fields`` are the run's settings (quantities as text, pint or numbers), ``raw_files``."""
    return linked_record_create(
        CharacterizationRun,
        user=user,
        project=project or sample.project,
        reason=reason,
        sample=sample,
        code=code,
        technique=technique,
        date=date,
        **fields,
    )


@transaction.atomic
def run_update(
    *, user, run: CharacterizationRun, version, reason: str = "", **changes
) -> CharacterizationRun:
    return linked_record_update(run, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def run_delete(*, user, run: CharacterizationRun, reason: str = "") -> None:
    linked_record_delete(run, user=user, reason=reason)


runs = RecordWriters(run_create, run_update, run_delete, "run")
