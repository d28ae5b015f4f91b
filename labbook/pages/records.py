"""Every record type on the bench pages: create, edit in place, delete, history and bulk edit.

One table, :data:`KINDS`, says for each record type its URL prefix (``/stocks/``, ``/treatments/``),
its model, its services (a :class:`~labbook.projects.writes.RecordWriters`: the same writers the API
and the admin call) and its form; the generic views below do the rest:

- ``/<records>/new/`` (for the types without a bench form of their own), ``/<records>/<id>/edit/``,
  ``/<records>/<id>/delete/``, ``/<records>/<id>/history/``, ``/<records>/bulk-edit/`` (POST);
- writes go through the services, so role, freeze, plausibility, the version check and the
  consequences (Cl:I recomputed downstream...) are the services' and answer the same at every door;
- the edit form carries the version it was loaded at: a stale save is refused with a form error
  that names who changed what since (``ConflictError``), and nothing is saved;
- viewers and frozen projects get no write buttons (:mod:`labbook.pages.templatetags.records`), and a
  write page opened anyway answers 403 with why (the freeze banner: who froze it, when, why).

Apps with their own bench pages (batches, treatments, runs, devices, notebook entries) keep their
list and detail views; the record types with no page of their own (chemicals, stocks, measurements)
get a generic list and detail here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.forms import modelform_factory
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from labbook.characterization import services as characterization_services
from labbook.characterization.filters import RunFilterSet
from labbook.characterization.models import CharacterizationRun
from labbook.core.forms import add_errors
from labbook.devices import services as device_services
from labbook.devices.filters import DeviceFilterSet, MeasurementFilterSet
from labbook.devices.models import Device, DeviceMeasurement
from labbook.notebook import services as notebook_services
from labbook.notebook.filters import EntryFilterSet
from labbook.notebook.models import NotebookEntry
from labbook.pages.forms import ProjectScopedForm, writable_projects
from labbook.pages.lists import filtered_list
from labbook.projects.models import ConflictError, ProjectFrozen
from labbook.projects.permissions import RecordNotFound, can_edit
from labbook.projects.selectors import visible
from labbook.projects.writes import RecordWriters
from labbook.synthesis import services as synthesis_services
from labbook.synthesis.filters import (
    BatchFilterSet,
    ChemicalFilterSet,
    SampleFilterSet,
    StockFilterSet,
    TreatmentFilterSet,
)
from labbook.synthesis.models import Chemical, ChlorideStock, PostTreatment, Sample, Synthesis
from labbook.units import Quantity, format_quantity, unit_display

#: at most this many versions on a history page
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Kind:
    """One record type on the bench pages."""

    slug: str  # URL prefix: /stocks/7/edit/
    model: type
    writers: RecordWriters
    fields: tuple[str, ...]  # the form's fields (on edit, the project is shown but cannot change)
    filterset: type
    api: str  # the API list's URL name (for ?format=csv / xlsx), e.g. "api:stock-list"
    form: type | None = None  # a bench form of the app's own (batches, treatments, entries)
    detail: str | None = None  # URL name of the app's own detail page (None: the generic one)
    list: str | None = None  # URL name of the app's own list page (None: the generic one)
    create: str | None = None  # URL name of the app's own create page (None: the generic one)
    columns: tuple[str, ...] = ()  # the generic list's columns (field names)
    bulk: tuple[str, ...] = ()  # fields the list's bulk edit offers
    widgets: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def label_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    @cached_property
    def form_class(self):
        """The create form: the app's bench form, or a ProjectScopedForm over ``fields``."""
        if self.form is not None:
            return self.form
        widgets = {"notes": forms.Textarea(), **self.widgets}
        for name in self.fields:
            if getattr(self.model._meta.get_field(name), "get_internal_type", lambda: "")() == "DateField":
                widgets.setdefault(name, forms.DateInput())
        return modelform_factory(
            self.model, form=ProjectScopedForm, fields=list(self.fields), widgets=widgets
        )

    @cached_property
    def edit_form_class(self):
        """The edit form: the create form without the project (a record stays in its project),
        with the version it was loaded at in a hidden field."""
        base = self.form_class
        names = list(base._meta.fields)
        return modelform_factory(
            self.model,
            form=type(f"Edit{base.__name__}", (_Versioned, base), {}),
            fields=names,
        )

    # URLs -------------------------------------------------------------------------------------
    def detail_url(self, obj) -> str:
        return reverse(self.detail or f"records:{self.slug}-detail", args=[obj.pk])

    def list_url(self) -> str:
        return reverse(self.list or f"records:{self.slug}-list")

    def create_url(self) -> str:
        return reverse(self.create or f"records:{self.slug}-create")

    def api_url(self) -> str:
        return reverse(self.api)


class _Versioned(forms.Form):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "project" in self.fields:  # shown, not changed: a record stays in its project
            self.fields["project"].disabled = True


def _q(value, unit: str) -> str:
    return "" if value is None else format_quantity(value, unit, digits=4)


KINDS: dict[str, Kind] = {}


def _register(*kinds: Kind) -> None:
    for kind in kinds:
        KINDS[kind.slug] = kind


def kind_of(obj_or_model) -> Kind | None:
    model = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    for kind in KINDS.values():
        if kind.model is model:
            return kind
    return None


def _kinds() -> None:
    from labbook.pages.notebook.forms import EntryForm
    from labbook.pages.synthesis.forms import SynthesisForm, TreatmentForm

    _register(
        Kind(
            "batches",
            Synthesis,
            synthesis_services.batches,
            (),
            BatchFilterSet,
            "api:batch-list",
            form=SynthesisForm,
            detail="synthesis:batch-detail",
            list="synthesis:batch-list",
            create="synthesis:batch-create",
            bulk=("date", "volume", "washes", "notes"),
        ),
        Kind(
            "treatments",
            PostTreatment,
            synthesis_services.treatments,
            (),
            TreatmentFilterSet,
            "api:treatment-list",
            form=TreatmentForm,
            detail="synthesis:treatment-detail",
            list="synthesis:treatment-list",
            create="synthesis:treatment-create",
            bulk=("date", "stirring_time", "stirring_speed", "suspension_volume", "notes"),
        ),
        Kind(
            "chemicals",
            Chemical,
            synthesis_services.chemicals,
            ("project", "name", "formula", "molar_mass", "cas", "purity", "supplier", "lot"),
            ChemicalFilterSet,
            "api:chemical-list",
            columns=("name", "formula", "molar_mass", "cas", "purity", "supplier", "lot", "project"),
            bulk=("supplier", "lot"),
        ),
        Kind(
            "stocks",
            ChlorideStock,
            synthesis_services.stocks,
            (
                "project",
                "code",
                "salt",
                "salt_mass",
                "salt_amount",
                "solvent",
                "solvent_volume",
                "date",
                "notes",
            ),
            StockFilterSet,
            "api:stock-list",
            columns=("code", "salt", "salt_mass", "solvent", "solvent_volume", "date", "project"),
            bulk=("date", "notes"),
        ),
        Kind(
            "samples",
            Sample,
            synthesis_services.samples,
            (
                "code",
                "kind",
                "batch",
                "treatment",
                "substrate",
                "deposited_volume",
                "spin_speed",
                "spin_time",
                "anneal_temperature",
                "anneal_time",
                "date",
                "notes",
            ),
            SampleFilterSet,
            "api:sample-list",
            detail="synthesis:sample-detail",
            list="synthesis:sample-list",
            bulk=("date", "substrate", "notes"),
        ),
        Kind(
            "runs",
            CharacterizationRun,
            characterization_services.runs,
            (
                "code",
                "sample",
                "technique",
                "instrument",
                "date",
                "operator",
                "excitation_wavelength",
                "repetition_rate",
                "power_density",
                "photon_fluence",
                "exposure_time",
                "frame_count",
                "pixel_size",
                "emission_band",
                "scan_range",
                "notes",
            ),
            RunFilterSet,
            "api:run-list",
            detail="characterization:run-detail",
            list="characterization:run-list",
            bulk=("date", "instrument", "operator", "notes"),
        ),
        Kind(
            "devices",
            Device,
            device_services.devices,
            (
                "project",
                "code",
                "architecture",
                "active_area",
                "layers",
                "samples",
                "fabricated_on",
                "operator",
                "notes",
            ),
            DeviceFilterSet,
            "api:device-list",
            detail="devices:device-detail",
            list="devices:device-list",
            bulk=("fabricated_on", "architecture", "notes"),
        ),
        Kind(
            "measurements",
            DeviceMeasurement,
            device_services.measurements,
            (
                "device",
                "kind",
                "date",
                "operator",
                "instrument",
                "illumination_power_density",
                "light_source",
                "bias",
                "sampling_interval",
                "notes",
            ),
            MeasurementFilterSet,
            "api:measurement-list",
            columns=(
                "device",
                "kind",
                "date",
                "illumination_power_density",
                "bias",
                "light_source",
                "project",
            ),
            bulk=("date", "instrument", "light_source", "notes"),
        ),
        Kind(
            "notebook",
            NotebookEntry,
            notebook_services.entries,
            (),
            EntryFilterSet,
            "api:entry-list",
            form=EntryForm,
            detail="notebook:entry-detail",
            list="notebook:entry-list",
            create="notebook:entry-create",
        ),
    )


_kinds()


# --- helpers ---------------------------------------------------------------------------------
def _kind(slug: str) -> Kind:
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404 from None


def _record(request, kind: Kind, pk: int):
    return get_object_or_404(visible(kind.model, request.user).select_related("project"), pk=pk)


def refusal(request, obj, *, status: int = 403):
    """Why ``request.user`` cannot change ``obj`` (a viewer; a frozen project: who, when, why)."""
    return render(request, "records/refused.html", {"record": obj, "project": obj.project}, status=status)


def no_project(request, kind: Kind):
    """A create page for a user with nowhere to write: why (viewer only; frozen: who, when, why)."""
    from labbook.projects.selectors import projects_for

    frozen = projects_for(request.user).filter(frozen_at__isnull=False).select_related("frozen_by")
    return render(request, "records/no_project.html", {"kind": kind, "frozen": frozen}, status=403)


def _value(obj, name: str) -> str:
    f = obj._meta.get_field(name)
    value = getattr(obj, name)
    if f.many_to_many:
        return ", ".join(str(x) for x in value.all())
    if value in (None, ""):
        return ""
    if hasattr(f, "unit"):
        return format_quantity(value, f.unit, digits=6)
    if f.choices:
        return str(getattr(obj, f"get_{name}_display")())
    return str(value)


def history_rows(obj, limit: int = HISTORY_LIMIT) -> list[dict]:
    """Who changed what, when and why: newest first, each version's fields that changed (old -> new)."""
    history = getattr(obj, "history", None)
    if history is None:
        return []
    records = list(history.select_related("history_user").order_by("-history_id")[: limit + 1])
    rows = []
    for i, rec in enumerate(records[:limit]):
        prev = records[i + 1] if i + 1 < len(records) else None
        changes = []
        if prev is not None and rec.history_type == "~":
            for change in rec.diff_against(prev, foreign_keys_are_objs=False).changes:
                if change.field in {"version", "modified_at"}:
                    continue
                try:
                    f = obj._meta.get_field(change.field)
                except Exception:
                    continue
                old, new = change.old, change.new
                if hasattr(f, "unit"):
                    old = "" if old is None else format_quantity(Quantity(old, f.unit), f.unit, digits=6)
                    new = "" if new is None else format_quantity(Quantity(new, f.unit), f.unit, digits=6)
                changes.append((str(f.verbose_name), "" if old is None else old, "" if new is None else new))
        rows.append(
            {
                "when": rec.history_date,
                "who": rec.history_user or "",
                "what": {"+": "created", "~": "changed", "-": "deleted"}.get(rec.history_type, ""),
                "why": rec.history_change_reason or "",
                "version": getattr(rec, "version", ""),
                "changes": changes,
            }
        )
    return rows


def conflict_message(kind: Kind, exc: ConflictError) -> str:
    """The optimistic-lock refusal for a person: who saved in between, and what they changed."""
    obj = exc.obj
    last = None
    if hasattr(obj, "history"):
        last = obj.history.select_related("history_user").order_by("-history_id").first()
    who = (
        f" by {last.history_user} at {last.history_date:%Y-%m-%d %H:%M}" if last and last.history_user else ""
    )
    parts = []
    for name, (_then, now) in sorted(exc.changes.items()):
        try:
            f = obj._meta.get_field(name)
        except Exception:
            continue
        if name in {"version", "modified_at"}:
            continue
        if hasattr(f, "unit") and isinstance(now, (int, float)):
            now = Quantity(now, f.unit)
        shown = format_quantity(now, f.unit, digits=6) if hasattr(f, "unit") and now is not None else now
        parts.append(f"{f.verbose_name} is now {shown if shown not in (None, '') else '(empty)'}")
    what = "; ".join(parts) or "no field values"
    return (
        f"Not saved: this {kind.label} was changed{who} while you were editing it (you loaded "
        f"version {exc.expected_version}, it is now at version {exc.current_version}): {what}. "
        "Reload the page to see their version, then apply your change again."
    )


# --- views -------------------------------------------------------------------------------------
@login_required
def record_create(request, slug: str):
    """The generic create page (stocks, chemicals, samples, runs, devices, measurements)."""
    kind = _kind(slug)
    if not writable_projects(request.user).exists():
        return no_project(request, kind)
    initial = {"date": dt.date.today(), "fabricated_on": dt.date.today()}
    initial.update({k: v for k, v in request.GET.items() if k in kind.form_class.base_fields})
    form = kind.form_class(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.fields}
        for name in list(data):  # left empty: the model's default (a JSON list...), not NULL
            f = kind.model._meta.get_field(name)
            if data[name] is None and not f.null and f.has_default():
                del data[name]
        try:
            obj = kind.writers.create(user=request.user, reason="page: created", **data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"recorded {kind.label} {obj}")
            return redirect(kind.detail_url(obj))
    return render(
        request,
        "records/form.html",
        {"form": form, "kind": kind, "title": f"New {kind.label}", "submit": f"Save {kind.label}"},
    )


@login_required
def record_edit(request, slug: str, pk: int):
    """Edit in place: the record's form with the version it was loaded at; a stale save is refused."""
    kind = _kind(slug)
    obj = _record(request, kind, pk)
    if not can_edit(request.user, obj):
        return refusal(request, obj)
    form = kind.edit_form_class(
        request.POST or None,
        instance=kind.model._base_manager.get(pk=obj.pk),  # the form's own copy
        user=request.user,
        initial={"expected_version": obj.version},
    )
    if request.method == "POST" and form.is_valid():
        names = set(form.fields) - {"expected_version"}
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in names}
        try:
            saved = kind.writers.update(
                obj,
                user=request.user,
                version=form.cleaned_data["expected_version"],
                reason=f"page: {', '.join(sorted(changes)) or 'saved unchanged'}",
                **changes,
            )
        except ConflictError as exc:
            form.add_error(None, forms.ValidationError(conflict_message(kind, exc), code="conflict"))
        except ProjectFrozen:
            return refusal(request, obj)
        except ValidationError as exc:
            add_errors(form, exc)
        except RecordNotFound:
            raise Http404 from None
        else:
            messages.success(
                request,
                f"saved {kind.label} {saved}"
                + (f": {', '.join(sorted(changes))}" if changes else " (nothing changed)"),
            )
            return redirect(kind.detail_url(saved))
    return render(
        request,
        "records/form.html",
        {
            "form": form,
            "kind": kind,
            "record": obj,
            "title": f"Edit {kind.label} {obj}",
            "submit": "Save changes",
            "history": history_rows(obj, limit=20),
            "detail_url": kind.detail_url(obj),
            "history_url": reverse(f"records:{kind.slug}-history", args=[obj.pk]),
            # a treatment's edit form shows the live Cl:I like its create form
            "derive_url": reverse("synthesis:treatment-derive") if kind.model is PostTreatment else None,
        },
    )


@login_required
def record_delete(request, slug: str, pk: int):
    """GET: what deleting would do; POST: delete through the service (refusals shown, nothing lost)."""
    kind = _kind(slug)
    obj = _record(request, kind, pk)
    if not can_edit(request.user, obj):
        return refusal(request, obj)
    error = None
    if request.method == "POST":
        reason = request.POST.get("reason", "").strip()[:80]
        try:
            kind.writers.delete(
                obj, user=request.user, reason=f"page: deleted{': ' + reason if reason else ''}"
            )
        except (ProtectedError, RestrictedError) as exc:
            used = sorted(
                {str(o._meta.verbose_name_plural) for o in exc.protected_objects}
                if isinstance(exc, ProtectedError)
                else {str(o._meta.verbose_name_plural) for o in exc.restricted_objects}
            )
            error = f"{kind.label} {obj} is still used by {', '.join(used)}: delete or relink those first. Nothing was deleted."
        except ProjectFrozen:
            return refusal(request, obj)
        except ValidationError as exc:
            error = f"Nothing was deleted: {'; '.join(exc.messages)}"
        else:
            messages.success(request, f"deleted {kind.label} {obj}")
            return redirect(kind.list_url())
    return render(
        request,
        "records/delete.html",
        {"kind": kind, "record": obj, "error": error, "kind_detail": kind.detail_url(obj)},
        status=409 if error else 200,
    )


@login_required
def record_history(request, slug: str, pk: int):
    kind = _kind(slug)
    obj = _record(request, kind, pk)
    return render(
        request,
        "records/history.html",
        {
            "kind": kind,
            "record": obj,
            "history": history_rows(obj),
            "limit": HISTORY_LIMIT,
            "detail_url": kind.detail_url(obj),
        },
    )


@login_required
@require_POST
def record_bulk_edit(request, slug: str):
    """One field set to one value over the selected rows of a list, all or nothing.

    Each row is sent as ``pk:version`` (the version the list showed), so a row someone changed
    since is refused like an edit form would be. The value is read by the field of the record's
    own form (units, choices, links), so "5 min" and "300 s" mean the same here as there."""
    kind = _kind(slug)
    back = request.POST.get("next") or kind.list_url()
    if not back.startswith("/") or back.startswith("//"):
        back = kind.list_url()
    name = request.POST.get("field", "")
    if name not in kind.bulk:
        messages.error(request, f"bulk edit: choose one of {', '.join(kind.bulk) or 'no field'}")
        return redirect(back)
    selected = []
    for item in request.POST.getlist("rows"):
        pk, _, version = item.partition(":")
        if not (pk.isdigit() and version.isdigit()):
            messages.error(request, "bulk edit: malformed row selection")
            return redirect(back)
        selected.append((int(pk), int(version)))
    if not selected:
        messages.error(request, "bulk edit: select at least one row (the boxes on the left)")
        return redirect(back)
    form = kind.edit_form_class(user=request.user)
    try:
        value = form.fields[name].clean(request.POST.get("value", ""))
    except ValidationError as exc:
        messages.error(request, f"bulk edit: {form.fields[name].label}: {'; '.join(exc.messages)}")
        return redirect(back)
    rows = {
        o.pk: o
        for o in visible(kind.model, request.user)
        .select_related("project")
        .filter(pk__in=[p for p, _ in selected])
    }
    try:
        with transaction.atomic():
            for pk, version in selected:
                if pk not in rows:
                    raise RecordNotFound(pk)
                kind.writers.update(
                    rows[pk],
                    user=request.user,
                    version=version,
                    reason=f"page: bulk edit of {name}",
                    **{name: value},
                )
    except RecordNotFound:
        raise Http404 from None
    except ConflictError as exc:
        messages.error(request, f"Nothing was saved: {conflict_message(kind, exc)}")
    except PermissionDenied as exc:
        messages.error(request, f"Nothing was saved: {exc}")
    except ValidationError as exc:
        messages.error(request, f"Nothing was saved: {'; '.join(exc.messages)}")
    else:
        messages.success(request, f"set {form.fields[name].label} on {len(selected)} {kind.label_plural}")
    return redirect(back)


# --- generic list and detail, for the types with no page of their own ------------------------------
@login_required
def record_list(request, slug: str):
    kind = _kind(slug)
    fields = [kind.model._meta.get_field(n) for n in kind.columns]
    return filtered_list(
        request,
        title=str(kind.label_plural).capitalize(),
        filterset_class=kind.filterset,
        queryset=visible(kind.model, request.user).select_related("project"),
        quick=["q", "date__gte", "date__lte"],
        columns=[(_column_label(f), f.name) for f in fields],
        row=lambda obj: (kind.detail_url(obj), [_value(obj, f.name) for f in fields]),
        kind=kind,
    )


def _column_label(f) -> str:
    """A column's header, with the unit its values are shown in: "solvent volume (mL)"."""
    return f"{f.verbose_name} ({unit_display(f.unit)})" if hasattr(f, "unit") else str(f.verbose_name)


@login_required
def record_detail(request, slug: str, pk: int):
    kind = _kind(slug)
    obj = _record(request, kind, pk)
    rows = [
        (str(kind.model._meta.get_field(n).verbose_name), _value(obj, n))
        for n in ("project", *[n for n in kind.fields if n != "project"])
    ]
    linked = []
    for rel in kind.model._meta.related_objects:
        accessor = rel.get_accessor_name()
        if (
            rel.one_to_many
            and accessor
            and not accessor.startswith("history")
            and rel.related_model is not None
        ):
            child = kind_of(rel.related_model)
            if child is None:
                continue
            items = list(getattr(obj, accessor).all()[:50])
            if items:
                linked.append((child, [(child.detail_url(x), str(x)) for x in items]))
    return render(
        request, "records/detail.html", {"kind": kind, "record": obj, "rows": rows, "linked": linked}
    )


def urlpatterns_for_kinds() -> list:
    patterns = [path("<slug:slug>/bulk-edit/", record_bulk_edit, name="bulk-edit")]
    for kind in KINDS.values():
        s = kind.slug
        patterns += [
            path(f"{s}/<int:pk>/edit/", record_edit, {"slug": s}, name=f"{s}-edit"),
            path(f"{s}/<int:pk>/delete/", record_delete, {"slug": s}, name=f"{s}-delete"),
            path(f"{s}/<int:pk>/history/", record_history, {"slug": s}, name=f"{s}-history"),
        ]
        if kind.create is None:
            patterns.append(path(f"{s}/new/", record_create, {"slug": s}, name=f"{s}-create"))
        if kind.list is None:
            patterns.append(path(f"{s}/", record_list, {"slug": s}, name=f"{s}-list"))
        if kind.detail is None:
            patterns.append(path(f"{s}/<int:pk>/", record_detail, {"slug": s}, name=f"{s}-detail"))
    return patterns
