"""Writes for chemicals, batches, lineage, stocks, treatments and samples: the only writers.

Every door (bench pages, REST API, admin, demo loader) calls these. Each service is keyword-only and

1. checks the user's role in the record's project (editor or admin) and that it is not frozen
   (``RecordNotFound`` for non-members, ``RoleRequired`` for viewers, ``ProjectFrozen``);
2. refuses an update without the ``version`` it is based on, and a stale one (``ConflictError``);
3. validates with ``full_clean()`` (the models' rules: units, amount/mass agreement, stock
   consumption, Cl:I and solvent fraction within physical bounds, lineage without cycles);
4. writes in one transaction, with history saying who and why (django-simple-history's user
   and change reason);
5. runs the consequences: the stored Cl:I and solvent fraction of every treatment downstream of
   a changed batch, link, stock, chemical or earlier treatment are recomputed in the same
   transaction (and the change is refused if one of them would become implausible).

A refused record leaves nothing half-saved (a pool whose third link is refused creates no pool).
Quantities may be given as text ("2.5 uL"), pint quantities, or numbers in the field's unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from labbook.projects.models import Project
from labbook.projects.writes import RecordWriters
from labbook.projects.writes import record_create as _create
from labbook.projects.writes import record_delete as _delete
from labbook.projects.writes import record_update as _update
from labbook.projects.writes import save_with_history as _save
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

# --- consequences: derived values downstream -------------------------------------------------
_DERIVED = ("chloride_amount", "iodide_amount", "cl_to_i", "solvent_fraction")


def _downstream(batch_ids: Iterable[int]) -> list[int]:
    """``batch_ids`` and every batch made from them, however far down the lineage."""
    seen = list(dict.fromkeys(batch_ids))
    frontier = list(seen)
    while frontier:
        children = BatchLink.objects.filter(parent_id__in=frontier).values_list("child_id", flat=True)
        frontier = [i for i in dict.fromkeys(children) if i not in seen]
        seen.extend(frontier)
    return seen


def _refresh(batch_ids: Iterable[int], *, user, reason: str) -> int:
    """Recompute the stored derived values of every treatment of ``batch_ids``; save those that
    changed (with history). A treatment that would become implausible refuses the whole change."""
    count = 0
    treatments = (
        PostTreatment.objects.filter(batch_id__in=list(batch_ids))
        .select_related("batch", "stock__salt", "project")
        .order_by("batch_id", "date", "pk")
    )
    for t in treatments:
        before = tuple(t.__dict__.get(name) for name in _DERIVED)
        try:
            t.full_clean()
        except ValidationError as exc:
            raise ValidationError(
                f"this change would make treatment {t.code} implausible: {'; '.join(exc.messages)}"
            ) from None
        after = tuple(t.__dict__.get(name) for name in _DERIVED)
        if any(
            (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-12 * max(abs(a), abs(b), 1))
            for a, b in zip(before, after, strict=True)
        ):
            _save(t, user=user, reason=reason)
            count += 1
    return count


def treatments_refresh(*, batch: Synthesis, user=None, reason: str = "") -> int:
    """Recompute stored Cl:I of treatments on ``batch`` and everything downstream of it; returns
    how many changed. Called by the services after every upstream change."""
    return _refresh(
        _downstream([batch.pk]), user=user, reason=reason or f"Cl:I recomputed after {batch} changed"
    )


# --- chemicals -------------------------------------------------------------------------------
@transaction.atomic
def chemical_create(*, user, project: Project, reason: str = "", **fields) -> Chemical:
    return _create(Chemical, project=project, user=user, reason=reason, **fields)


@transaction.atomic
def chemical_update(*, user, chemical: Chemical, version, reason: str = "", **changes) -> Chemical:
    """Change a chemical; batches weighed with its molar mass and stocks of it are recomputed."""
    chemical = _update(chemical, user=user, version=version, reason=reason, changes=changes)
    batch_ids = set(Synthesis.objects.filter(Q(pbi2=chemical) | Q(mai=chemical)).values_list("pk", flat=True))
    batch_ids.update(PostTreatment.objects.filter(stock__salt=chemical).values_list("batch_id", flat=True))
    _refresh(_downstream(batch_ids), user=user, reason=f"Cl:I recomputed after {chemical} changed")
    return chemical


@transaction.atomic
def chemical_delete(*, user, chemical: Chemical, reason: str = "") -> None:
    _delete(chemical, user=user, reason=reason)


# --- batches and lineage ---------------------------------------------------------------------
@transaction.atomic
def synthesis_create(*, user, project: Project, code: str, date, reason: str = "", **recipe) -> Synthesis:
    """Record a batch: a synthesis with its recipe (see Synthesis for the field names) unless
    ``kind`` says it is a pool or a portion (then link its parents with ``link_create``)."""
    recipe.setdefault("operator", user)
    recipe.setdefault("kind", BatchKind.SYNTHESIS)
    return _create(Synthesis, project=project, user=user, reason=reason, code=code, date=date, **recipe)


@transaction.atomic
def synthesis_update(*, user, batch: Synthesis, version, reason: str = "", **changes) -> Synthesis:
    """Change a batch; the stored Cl:I of every treatment on it or downstream is recomputed."""
    batch = _update(batch, user=user, version=version, reason=reason, changes=changes)
    treatments_refresh(batch=batch, user=user)
    return batch


@transaction.atomic
def synthesis_delete(*, user, batch: Synthesis, reason: str = "") -> None:
    downstream = _downstream([batch.pk])[1:]
    _delete(batch, user=user, reason=reason)
    _refresh(_downstream(downstream), user=user, reason=f"Cl:I recomputed after {batch} was deleted")


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
def synthesis_clone(*, user, source: Synthesis, code: str, date, **changes) -> Synthesis:
    """A new synthesis with ``source``'s recipe, changed where ``changes`` says ("yesterday's
    recipe with one volume changed")."""
    if source.kind != BatchKind.SYNTHESIS:
        raise ValidationError(
            {"source": f"{source} is a {source.get_kind_display()}, not a synthesis with a recipe"}
        )
    # by attname (pbi2_id, not pbi2): the stored values, foreign keys as ids
    fields = {
        Synthesis._meta.get_field(name).attname: source.__dict__[Synthesis._meta.get_field(name).attname]
        for name in _RECIPE_FIELDS
    }
    for name in changes:  # a change given by field name replaces the copied id
        fields.pop(Synthesis._meta.get_field(name).attname, None)
    fields.update(changes)
    fields.setdefault("operator", user)
    fields["notes"] = changes.get("notes", f"cloned from {source.code}")
    return _create(
        Synthesis,
        project=source.project,
        user=user,
        reason=f"cloned from {source.code}",
        code=code,
        date=date,
        kind=BatchKind.SYNTHESIS,
        **fields,
    )


@transaction.atomic
def batches_pool(
    *,
    user,
    project: Project,
    code: str,
    date,
    parents: Iterable[Synthesis | tuple[Synthesis, float]],
    volume=None,
    notes: str = "",
) -> Synthesis:
    """Pool batches into a new one. Each parent is taken whole, or ``(batch, fraction)``."""
    pool = _create(
        Synthesis,
        project=project,
        user=user,
        reason="pooled",
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
        _create(
            BatchLink,
            project=project,
            user=user,
            reason=f"pooled into {code}",
            parent=parent,
            child=pool,
            fraction=fraction,
        )
    return pool


@dataclass(frozen=True)
class PortionSpec:
    code: str
    fraction: float | None = None
    volume_taken: Any = None
    # the portion's own suspension volume (e.g. re-dispersed in 4 mL); when not given, what it
    # took: volume_taken, or fraction x the parent's volume
    volume: Any = None


@transaction.atomic
def batch_split(*, user, parent: Synthesis, date, portions: Sequence[PortionSpec]) -> list[Synthesis]:
    """Split ``parent`` into portions, each taking a fraction (or a volume) of it."""
    if not portions:
        raise ValidationError({"portions": "a split needs at least one portion"})
    made = []
    for spec in portions:
        volume = spec.volume
        if volume is None:  # a portion holds what it took of the parent, unless re-dispersed
            if spec.volume_taken is not None:
                volume = spec.volume_taken
            elif spec.fraction is not None and parent.volume is not None:
                volume = parent.volume * spec.fraction
        child = _create(
            Synthesis,
            project=parent.project,
            user=user,
            reason=f"split from {parent.code}",
            code=spec.code,
            date=date,
            kind=BatchKind.PORTION,
            volume=volume,
            operator=user,
        )
        _create(
            BatchLink,
            project=parent.project,
            user=user,
            reason=f"split from {parent.code}",
            parent=parent,
            child=child,
            fraction=spec.fraction,
            volume_taken=spec.volume_taken,
        )
        made.append(child)
    return made


@transaction.atomic
def link_create(
    *,
    user,
    parent: Synthesis,
    child: Synthesis,
    fraction=None,
    volume_taken=None,
    project: Project | None = None,
    reason: str = "",
    **fields,
) -> BatchLink:
    """Add a lineage link between existing batches (refused if it would make a cycle); it is
    in the child's project. Treatments downstream of the child are recomputed. ``fields``: the
    link's other columns (``volume_taken_err``, as an imported archive gives it)."""
    link = _create(
        BatchLink,
        project=project or child.project,
        user=user,
        reason=reason or f"{child.code} made from {parent.code}",
        parent=parent,
        child=child,
        fraction=fraction,
        volume_taken=volume_taken,
        **fields,
    )
    treatments_refresh(batch=child, user=user)
    return link


@transaction.atomic
def link_update(*, user, link: BatchLink, version, reason: str = "", **changes) -> BatchLink:
    old_child = link.child_id
    link = _update(link, user=user, version=version, reason=reason, changes=changes)
    _refresh(
        _downstream({old_child, link.child_id}),
        user=user,
        reason=f"Cl:I recomputed after the lineage of {link.child} changed",
    )
    return link


@transaction.atomic
def link_delete(*, user, link: BatchLink, reason: str = "") -> None:
    child = link.child
    _delete(link, user=user, reason=reason)
    treatments_refresh(batch=child, user=user, reason=f"Cl:I recomputed after the lineage of {child} changed")


# --- chloride stocks -------------------------------------------------------------------------
@transaction.atomic
def stock_create(
    *, user, project: Project, code: str, date, solvent_volume, reason: str = "", **fields
) -> ChlorideStock:
    return _create(
        ChlorideStock,
        project=project,
        user=user,
        reason=reason,
        code=code,
        date=date,
        solvent_volume=solvent_volume,
        **fields,
    )


@transaction.atomic
def stock_update(*, user, stock: ChlorideStock, version, reason: str = "", **changes) -> ChlorideStock:
    """Change a stock; every treatment that used it (and later ones on the same portions) is
    recomputed."""
    stock = _update(stock, user=user, version=version, reason=reason, changes=changes)
    batches = PostTreatment.objects.filter(stock=stock).values_list("batch_id", flat=True).distinct()
    _refresh(list(batches), user=user, reason=f"Cl:I recomputed after {stock.code} changed")
    return stock


@transaction.atomic
def stock_delete(*, user, stock: ChlorideStock, reason: str = "") -> None:
    _delete(stock, user=user, reason=reason)


# --- post-treatments -------------------------------------------------------------------------
@transaction.atomic
def treatment_create(
    *,
    user,
    batch: Synthesis,
    stock: ChlorideStock,
    code: str,
    date,
    volume_added,
    project: Project | None = None,
    reason: str = "",
    **fields,
) -> PostTreatment:
    """Record a chloride post-treatment; Cl:I and the solvent fraction are derived and stored,
    counting earlier treatments of the same portion (later ones are recomputed)."""
    fields.setdefault("operator", user)
    treatment = _create(
        PostTreatment,
        project=project or batch.project,
        user=user,
        reason=reason,
        batch=batch,
        stock=stock,
        code=code,
        date=date,
        volume_added=volume_added,
        **fields,
    )
    _refresh([batch.pk], user=user, reason=f"Cl:I recomputed after {code} was added to {batch}")
    return treatment


@transaction.atomic
def treatment_update(
    *, user, treatment: PostTreatment, version, reason: str = "", **changes
) -> PostTreatment:
    old_batch = treatment.batch_id
    treatment = _update(treatment, user=user, version=version, reason=reason, changes=changes)
    _refresh({old_batch, treatment.batch_id}, user=user, reason=f"Cl:I recomputed after {treatment} changed")
    return treatment


@transaction.atomic
def treatment_delete(*, user, treatment: PostTreatment, reason: str = "") -> None:
    batch_id, code = treatment.batch_id, treatment.code
    _delete(treatment, user=user, reason=reason)
    _refresh([batch_id], user=user, reason=f"Cl:I recomputed after {code} was deleted")


def treatment_plan(*, batch: Synthesis, stock: ChlorideStock, target_cl_percent: float) -> Quantity:
    """The planner: stock volume to add to ``batch`` for a target Cl:I percent."""
    if (
        target_cl_percent is None
        or target_cl_percent < 0
        or target_cl_percent > chemistry.CL_TO_I_MAX_PERCENT
    ):
        raise ValidationError(
            {
                "target_cl_percent": f"a target Cl:I of {target_cl_percent} % is not sensible "
                f"(0-{chemistry.CL_TO_I_MAX_PERCENT:g} %)"
            }
        )
    iodide = batch.iodide_amount()
    if iodide is None:
        raise ValidationError({"batch": f"{batch} has no iodide content on record"})
    concentration = stock.concentration()
    if concentration is None:
        raise ValidationError({"stock": f"{stock} has no concentration on record"})
    return chemistry.stock_volume_for_target(target_cl_percent, iodide, concentration)


# --- samples ---------------------------------------------------------------------------------
@transaction.atomic
def sample_create(
    *,
    user,
    code: str,
    date,
    batch: Synthesis | None = None,
    treatment: PostTreatment | None = None,
    project: Project | None = None,
    reason: str = "",
    **fields,
) -> Sample:
    """A sample of ``batch`` (the treated portion when only ``treatment`` is given)."""
    if batch is None:
        if treatment is None:
            raise ValidationError({"batch": "give the batch (or the treatment) the sample was taken from"})
        batch = treatment.batch
    return _create(
        Sample,
        project=project or batch.project,
        user=user,
        reason=reason,
        batch=batch,
        treatment=treatment,
        code=code,
        date=date,
        **fields,
    )


@transaction.atomic
def sample_update(*, user, sample: Sample, version, reason: str = "", **changes) -> Sample:
    return _update(sample, user=user, version=version, reason=reason, changes=changes)


@transaction.atomic
def sample_delete(*, user, sample: Sample, reason: str = "") -> None:
    _delete(sample, user=user, reason=reason)


# --- the doors' view of these services ------------------------------------------------------
chemicals = RecordWriters(chemical_create, chemical_update, chemical_delete, "chemical")
batches = RecordWriters(synthesis_create, synthesis_update, synthesis_delete, "batch")
links = RecordWriters(link_create, link_update, link_delete, "link")
stocks = RecordWriters(stock_create, stock_update, stock_delete, "stock")
treatments = RecordWriters(treatment_create, treatment_update, treatment_delete, "treatment")
samples = RecordWriters(sample_create, sample_update, sample_delete, "sample")
