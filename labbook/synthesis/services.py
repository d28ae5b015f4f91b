"""Writes for batches, lineage, stocks, treatments and samples.

Every service is keyword-only, validates with ``full_clean()`` and saves in one transaction, so a
refused record leaves nothing half-saved (a pool whose third link is refused creates no pool).
Quantities may be given as text ("2.5 uL"), pint quantities, or numbers in the field's unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from labbook.projects.models import Project
from labbook.synthesis import chemistry
from labbook.synthesis.models import (
    BatchKind,
    BatchLink,
    Chemical,
    ChlorideStock,
    PostTreatment,
    Sample,
    Synthesis,
)
from labbook.units import Quantity


def _create(model, *, project: Project, user=None, **fields):
    obj = model(project=project, created_by=user, **fields)
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def chemical_create(*, project: Project, user=None, **fields) -> Chemical:
    return _create(Chemical, project=project, user=user, **fields)


@transaction.atomic
def synthesis_create(*, project: Project, code: str, date, user=None, **recipe) -> Synthesis:
    """Record a synthesis batch with its recipe (see Synthesis for the field names)."""
    recipe.setdefault("operator", user)
    return _create(
        Synthesis, project=project, user=user, code=code, date=date, kind=BatchKind.SYNTHESIS, **recipe
    )


# Fields a clone copies: the recipe, not identity, provenance or lineage.
_RECIPE_FIELDS = [
    f.name
    for f in Synthesis._meta.concrete_fields
    if f.name
    not in {
        "id",
        "project",
        "code",
        "date",
        "kind",
        "created_at",
        "modified_at",
        "created_by",
        "version",
        "operator",
        "notes",
    }
]


@transaction.atomic
def synthesis_clone(*, source: Synthesis, code: str, date, user=None, **changes) -> Synthesis:
    """A new synthesis with ``source``'s recipe, changed where ``changes`` says ("yesterday's
    recipe with one volume changed")."""
    if source.kind != BatchKind.SYNTHESIS:
        raise ValidationError(
            {"source": f"{source} is a {source.get_kind_display()}, not a synthesis with a recipe"}
        )
    fields = {name: source.__dict__[Synthesis._meta.get_field(name).attname] for name in _RECIPE_FIELDS}
    fields.update(changes)
    fields.setdefault("operator", user)
    fields["notes"] = changes.get("notes", f"cloned from {source.code}")
    return _create(
        Synthesis, project=source.project, user=user, code=code, date=date, kind=BatchKind.SYNTHESIS, **fields
    )


@transaction.atomic
def batches_pool(
    *,
    project: Project,
    code: str,
    date,
    parents: Iterable[Synthesis | tuple[Synthesis, float]],
    volume=None,
    user=None,
    notes: str = "",
) -> Synthesis:
    """Pool batches into a new one. Each parent is taken whole, or ``(batch, fraction)``."""
    pool = _create(
        Synthesis,
        project=project,
        user=user,
        code=code,
        date=date,
        kind=BatchKind.POOL,
        volume=volume,
        operator=user,
        notes=notes,
    )
    parents = list(parents)
    if not parents:
        raise ValidationError({"parents": "a pool needs at least one batch"})
    for item in parents:
        parent, fraction = item if isinstance(item, tuple) else (item, 1.0)
        _create(BatchLink, project=project, user=user, parent=parent, child=pool, fraction=fraction)
    return pool


@dataclass(frozen=True)
class PortionSpec:
    code: str
    fraction: float | None = None
    volume_taken: Any = None
    volume: Any = None  # the portion's own suspension volume (e.g. re-dispersed in 4 mL)


@transaction.atomic
def batch_split(*, parent: Synthesis, date, portions: Sequence[PortionSpec], user=None) -> list[Synthesis]:
    """Split ``parent`` into portions, each taking a fraction (or a volume) of it."""
    if not portions:
        raise ValidationError({"portions": "a split needs at least one portion"})
    made = []
    for spec in portions:
        child = _create(
            Synthesis,
            project=parent.project,
            user=user,
            code=spec.code,
            date=date,
            kind=BatchKind.PORTION,
            volume=spec.volume,
            operator=user,
        )
        _create(
            BatchLink,
            project=parent.project,
            user=user,
            parent=parent,
            child=child,
            fraction=spec.fraction,
            volume_taken=spec.volume_taken,
        )
        made.append(child)
    return made


@transaction.atomic
def link_create(
    *, parent: Synthesis, child: Synthesis, fraction=None, volume_taken=None, user=None
) -> BatchLink:
    """Add a lineage link between existing batches (refused if it would make a cycle)."""
    link = _create(
        BatchLink,
        project=child.project,
        user=user,
        parent=parent,
        child=child,
        fraction=fraction,
        volume_taken=volume_taken,
    )
    treatments_refresh(batch=child)
    return link


def treatments_refresh(*, batch: Synthesis) -> int:
    """Recompute stored Cl:I of treatments on ``batch`` and everything downstream of it."""
    count = 0
    frontier = [batch.pk]
    seen = set(frontier)
    while frontier:
        for treatment in PostTreatment.objects.filter(batch_id__in=frontier).select_related(
            "batch", "stock__salt"
        ):
            treatment.save()
            count += 1
        frontier = [
            i
            for i in BatchLink.objects.filter(parent_id__in=frontier).values_list("child_id", flat=True)
            if i not in seen
        ]
        seen.update(frontier)
    return count


@transaction.atomic
def stock_create(*, project: Project, code: str, date, solvent_volume, user=None, **fields) -> ChlorideStock:
    return _create(
        ChlorideStock,
        project=project,
        user=user,
        code=code,
        date=date,
        solvent_volume=solvent_volume,
        **fields,
    )


@transaction.atomic
def treatment_create(
    *, batch: Synthesis, stock: ChlorideStock, code: str, date, volume_added, user=None, **fields
) -> PostTreatment:
    """Record a chloride post-treatment; Cl:I and the solvent fraction are derived and stored."""
    fields.setdefault("operator", user)
    return _create(
        PostTreatment,
        project=batch.project,
        user=user,
        batch=batch,
        stock=stock,
        code=code,
        date=date,
        volume_added=volume_added,
        **fields,
    )


def treatment_plan(*, batch: Synthesis, stock: ChlorideStock, target_cl_percent: float) -> Quantity:
    """The planner: stock volume to add to ``batch`` for a target Cl:I percent."""
    if target_cl_percent is None or target_cl_percent < 0 or target_cl_percent > 1000:
        raise ValidationError(
            {"target_cl_percent": f"a target Cl:I of {target_cl_percent} % is not sensible (0-1000 %)"}
        )
    iodide = batch.iodide_amount()
    if iodide is None:
        raise ValidationError({"batch": f"{batch} has no iodide content on record"})
    concentration = stock.concentration()
    if concentration is None:
        raise ValidationError({"stock": f"{stock} has no concentration on record"})
    return chemistry.stock_volume_for_target(target_cl_percent, iodide, concentration)


@transaction.atomic
def sample_create(
    *, batch: Synthesis, code: str, date, treatment: PostTreatment | None = None, user=None, **fields
) -> Sample:
    return _create(
        Sample,
        project=batch.project,
        user=user,
        batch=batch,
        treatment=treatment,
        code=code,
        date=date,
        **fields,
    )
