"""Bench pages for batches, post-treatments and samples: lists, details, forms, clone, live Cl:I."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labbook.pages.forms import writable_projects
from labbook.pages.lists import filtered_list
from labbook.pages.records import KINDS, add_errors, no_project, refusal
from labbook.pages.synthesis.forms import (
    RECIPE_FIELDS,
    PoolForm,
    PortionFormSet,
    SplitForm,
    SynthesisForm,
    TreatmentForm,
)
from labbook.projects.permissions import can_edit
from labbook.projects.selectors import visible
from labbook.synthesis import selectors, services
from labbook.synthesis.filters import BatchFilterSet, SampleFilterSet, TreatmentFilterSet
from labbook.synthesis.models import ChlorideStock, PostTreatment, Synthesis
from labbook.units import QuantityFormField, format_quantity


def _q(value, unit: str, digits: int = 4) -> str:
    return "" if value is None else format_quantity(value, unit, digits=digits)


def _initial(request, form_class, **defaults) -> dict:
    """Initial values: ``defaults``, then any of the form's fields given as GET parameters (links such
    as "Treat a portion" and "new from template" pre-fill a form that way)."""
    initial = dict(defaults)
    initial.update({k: v for k, v in request.GET.items() if k in form_class.base_fields})
    return initial


# --- batches -----------------------------------------------------------------------------------
@login_required
def batch_list(request):
    return filtered_list(
        request,
        title="Batches",
        filterset_class=BatchFilterSet,
        queryset=selectors.batch_list(user=request.user),
        quick=["q", "kind", "date__gte", "date__lte", "operator_username"],
        columns=[
            ("code", "code"),
            ("kind", "kind"),
            ("date", "date"),
            "operator",
            ("injection volume (mL)", "injection_volume"),
            ("suspension volume (mL)", "volume"),
            "project",
        ],
        row=lambda b: (
            reverse("synthesis:batch-detail", args=[b.pk]),
            [
                b.code,
                b.get_kind_display(),
                b.date,
                b.operator or "",
                _q(b.injection_volume, "mL"),
                _q(b.volume, "mL"),
                b.project,
            ],
        ),
        actions=[
            ("New synthesis", reverse("synthesis:batch-create")),
            ("Pool batches", reverse("synthesis:batch-pool")),
        ],
        kind=KINDS["batches"],
    )


def _recipe_rows(batch: Synthesis) -> list[tuple[str, str]]:
    rows = []
    for name in RECIPE_FIELDS:
        field = Synthesis._meta.get_field(name)
        value = getattr(batch, name)
        if value in (None, ""):
            continue
        if hasattr(field, "unit"):
            value = format_quantity(value, field.unit)
        rows.append((field.verbose_name, value))
    return rows


@login_required
def batch_detail(request, pk: int):
    from labbook.pages import plots

    batch = get_object_or_404(selectors.batch_list(user=request.user), pk=pk)
    lineage = selectors.batch_lineage(batch)
    iodide = batch.iodide_amount()
    return render(
        request,
        "synthesis/batch_detail.html",
        {
            "batch": batch,
            "recipe": _recipe_rows(batch),
            "iodide": _q(iodide, "umol"),
            "lineage": lineage,
            "lineage_plot": plots.embed(plots.lineage_figure(lineage)),
            "treatments": batch.treatments.select_related("stock").all(),
            "samples": batch.samples.select_related("treatment").all(),
            "entries": batch.entries.all()[:20],
            "can_write": can_edit(request.user, batch),
        },
    )


def _save_synthesis(request, form, *, source: Synthesis | None = None):
    data = dict(form.cleaned_data)
    project, code, date = data.pop("project"), data.pop("code"), data.pop("date")
    try:
        batch = services.synthesis_create(project=project, code=code, date=date, user=request.user, **data)
    except ValidationError as exc:
        add_errors(form, exc)
        return None
    messages.success(
        request, f"recorded batch {batch.code}" + (f" (cloned from {source.code})" if source else "")
    )
    return batch


@login_required
def batch_create(request):
    if not writable_projects(request.user).exists():
        return no_project(request, KINDS["batches"])
    initial = _initial(request, SynthesisForm, date=dt.date.today())
    form = SynthesisForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        batch = _save_synthesis(request, form)
        if batch is not None:
            return redirect("synthesis:batch-detail", pk=batch.pk)
    return render(request, "synthesis/batch_form.html", {"form": form, "title": "New synthesis"})


def _next_code(code: str) -> str:
    """BATCH-07 -> BATCH-08 (the number at the end, incremented, keeping its width); else code-2."""
    head = code.rstrip("0123456789")
    tail = code[len(head) :]
    if not tail:
        return f"{code}-2"
    return f"{head}{int(tail) + 1:0{len(tail)}d}"


@login_required
def batch_clone(request, pk: int):
    """A new synthesis form pre-filled with ``pk``'s recipe (yesterday's recipe, one volume changed)."""
    source = get_object_or_404(selectors.batch_list(user=request.user), pk=pk)
    if not writable_projects(request.user).exists():
        return no_project(request, KINDS["batches"])
    initial = {name: getattr(source, name) for name in RECIPE_FIELDS}
    code = _next_code(source.code)
    while Synthesis.objects.filter(project=source.project, code=code).exists():  # codes are per project
        code = _next_code(code)
    initial.update(
        project=source.project, code=code, date=dt.date.today(), notes=f"cloned from {source.code}"
    )
    form = SynthesisForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        batch = _save_synthesis(request, form, source=source)
        if batch is not None:
            return redirect("synthesis:batch-detail", pk=batch.pk)
    return render(
        request,
        "synthesis/batch_form.html",
        {"form": form, "title": f"New synthesis cloned from {source.code}", "source": source},
    )


# --- treatments --------------------------------------------------------------------------------
@login_required
def treatment_list(request):
    return filtered_list(
        request,
        title="Post-treatments",
        filterset_class=TreatmentFilterSet,
        queryset=selectors.treatment_list(user=request.user),
        quick=["q", "nominal_cl_percent", "cl_to_i__gte", "cl_to_i__lte", "date__gte", "batch_code"],
        columns=[
            ("code", "code"),
            ("batch", "batch__code"),
            ("stock", "stock__code"),
            ("volume added (µL)", "volume_added"),
            ("Cl:I (%)", "cl_to_i"),
            ("ethanol/toluene (%)", "solvent_fraction"),
            ("nominal (% Cl)", "nominal_cl_percent"),
            ("date", "date"),
        ],
        row=lambda t: (
            reverse("synthesis:treatment-detail", args=[t.pk]),
            [
                t.code,
                t.batch,
                t.stock.code,
                _q(t.volume_added, "uL"),
                _q(t.cl_to_i, "percent"),
                _q(t.solvent_fraction, "percent"),
                "" if t.nominal_cl_percent is None else f"{t.nominal_cl_percent:g} %",
                t.date,
            ],
        ),
        actions=[("New treatment", reverse("synthesis:treatment-create"))],
        kind=KINDS["treatments"],
    )


@login_required
def treatment_detail(request, pk: int):
    t = get_object_or_404(selectors.treatment_list(user=request.user), pk=pk)
    return render(
        request,
        "synthesis/treatment_detail.html",
        {
            "t": t,
            "rows": [
                ("batch (portion)", t.batch),
                ("stock", t.stock),
                ("volume added", _q(t.volume_added, "uL")),
                ("suspension volume", _q(t.effective_suspension_volume(), "mL")),
                ("Cl added", _q(t.chloride_amount, "umol")),
                ("iodide in portion", _q(t.iodide_amount, "umol")),
                ("Cl:I (molar)", _q(t.cl_to_i, "percent")),
                ("ethanol/toluene (v/v)", _q(t.solvent_fraction, "percent")),
                ("nominal", "" if t.nominal_cl_percent is None else f"{t.nominal_cl_percent:g} % Cl"),
                (
                    "stirring",
                    " at ".join(x for x in [_q(t.stirring_time, "min"), _q(t.stirring_speed, "rpm")] if x),
                ),
                ("date", t.date),
                ("operator", t.operator or ""),
            ],
            "samples": t.samples.all(),
            "entries": t.entries.all()[:20],
            "can_write": can_edit(request.user, t),
        },
    )


@login_required
def treatment_create(request):
    if not writable_projects(request.user).exists():
        return no_project(request, KINDS["treatments"])
    initial = _initial(request, TreatmentForm, date=dt.date.today())
    form = TreatmentForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            t = services.treatment_create(
                batch=data.pop("batch"),
                stock=data.pop("stock"),
                code=data.pop("code"),
                date=data.pop("date"),
                volume_added=data.pop("volume_added"),
                user=request.user,
                **data,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(
                request,
                f"recorded {t.code}: Cl:I {_q(t.cl_to_i, 'percent')}, ethanol {_q(t.solvent_fraction, 'percent')}",
            )
            return redirect("synthesis:treatment-detail", pk=t.pk)
    return render(request, "synthesis/treatment_form.html", {"form": form, "title": "New post-treatment"})


@login_required
@require_GET
def treatment_derive(request):
    """The derived Cl:I and ethanol fraction for what is typed so far, computed by the model's own
    ``PostTreatment.compute_derived`` (labbook.synthesis.chemistry); {"error": ...} when it cannot be."""
    try:
        batch = visible(Synthesis, request.user).get(pk=int(request.GET.get("batch", "")))
        stock = visible(ChlorideStock, request.user).get(pk=int(request.GET.get("stock", "")))
    except (ValueError, Synthesis.DoesNotExist, ChlorideStock.DoesNotExist):
        return JsonResponse({"error": "choose a batch and a stock"})
    try:
        volume = QuantityFormField(unit="uL", required=True).clean(request.GET.get("volume_added", ""))
        suspension = QuantityFormField(unit="mL", required=False).clean(
            request.GET.get("suspension_volume", "")
        )
        t = PostTreatment(batch=batch, stock=stock, volume_added=volume, suspension_volume=suspension)
        editing = request.GET.get("treatment", "")
        if editing.isdigit():  # the edit page: this treatment's own stock use and place in the series
            current = visible(PostTreatment, request.user).filter(pk=int(editing)).first()
            if current is not None:
                t.pk, t.date = current.pk, current.date
        date = request.GET.get("date", "")
        if date:
            try:
                t.date = dt.date.fromisoformat(date)
            except ValueError:
                pass
        t.compute_derived()
    except ValidationError as exc:
        return JsonResponse({"error": "; ".join(exc.messages)})
    try:
        t.clean()  # the plausibility rules saving applies (stock left, Cl:I and ethanol ranges)
    except ValidationError as exc:
        refused = "; ".join(exc.messages)
    else:
        refused = ""
    plan = {}
    for target in (3, 9, 17):
        try:
            plan[f"{target}"] = _q(
                services.treatment_plan(batch=batch, stock=stock, target_cl_percent=target), "uL", 3
            )
        except ValidationError:
            pass
    return JsonResponse(
        {
            "cl_to_i_percent": t.cl_to_i.to("percent").magnitude,
            "cl_to_i": _q(t.cl_to_i, "percent"),
            "solvent_fraction_percent": t.solvent_fraction.to("percent").magnitude,
            "solvent_fraction": _q(t.solvent_fraction, "percent"),
            "chloride": _q(t.chloride_amount, "umol"),
            "iodide": _q(t.iodide_amount, "umol"),
            "plan_uL": plan,
            "refused": refused,  # what saving would refuse, word for word; "" when it would save
        }
    )


# --- samples -----------------------------------------------------------------------------------
@login_required
def sample_list(request):
    return filtered_list(
        request,
        title="Samples",
        filterset_class=SampleFilterSet,
        queryset=selectors.sample_list(user=request.user),
        quick=["q", "kind", "treatment_nominal_cl", "batch_date__gte"],
        columns=[
            ("code", "code"),
            ("kind", "kind"),
            ("batch", "batch__code"),
            "treatment",
            ("substrate", "substrate"),
            ("date", "date"),
        ],
        row=lambda s: (
            reverse("synthesis:sample-detail", args=[s.pk]),
            [s.code, s.get_kind_display(), s.batch, s.treatment or "untreated", s.substrate, s.date],
        ),
        kind=KINDS["samples"],
    )


@login_required
def sample_detail(request, pk: int):
    s = get_object_or_404(selectors.sample_list(user=request.user), pk=pk)
    return render(
        request,
        "synthesis/sample_detail.html",
        {"s": s, "runs": s.runs.all(), "devices": s.devices.all(), "entries": s.entries.all()[:20]},
    )


# --- lineage: split a batch into portions, pool batches ----------------------------------------------
@login_required
def batch_split(request, pk: int):
    """Split a batch into portions, each by a fraction or a volume taken (batch_split service)."""
    parent = get_object_or_404(selectors.batch_list(user=request.user), pk=pk)
    if not can_edit(request.user, parent):
        return refusal(request, parent)
    try:
        n = min(max(int(request.GET.get("n", 4)), 1), 48)
    except ValueError:
        n = 4
    form = SplitForm(request.POST or None, initial={"date": dt.date.today()})
    portions = PortionFormSet(
        request.POST or None,
        prefix="portions",
        initial=[{"code": f"{parent.code}-P{i + 1}", "fraction": round(1 / n, 6)} for i in range(n)],
    )
    if request.method == "POST" and form.is_valid() and portions.is_valid():
        specs = [
            services.PortionSpec(
                code=p["code"],
                fraction=p.get("fraction"),
                volume_taken=p.get("volume_taken"),
                volume=p.get("volume"),
            )
            for p in portions.cleaned_data
            if p
        ]
        try:
            made = services.batch_split(
                user=request.user, parent=parent, date=form.cleaned_data["date"], portions=specs
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"split {parent.code} into {', '.join(b.code for b in made)}")
            return redirect("synthesis:batch-detail", pk=parent.pk)
    return render(
        request, "synthesis/batch_split.html", {"parent": parent, "form": form, "portions": portions}
    )


@login_required
def batch_pool(request):
    """Pool whole batches into a new one (batches_pool service)."""
    if not writable_projects(request.user).exists():
        return no_project(request, KINDS["batches"])
    initial = {"date": dt.date.today()}
    if request.GET.getlist("parents"):
        initial["parents"] = request.GET.getlist("parents")
    form = PoolForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            pool = services.batches_pool(
                user=request.user,
                project=data["project"],
                code=data["code"],
                date=data["date"],
                parents=list(data["parents"]),
                volume=data.get("volume"),
                notes=data.get("notes", ""),
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"pooled {', '.join(p.code for p in data['parents'])} into {pool.code}")
            return redirect("synthesis:batch-detail", pk=pool.pk)
    return render(request, "synthesis/batch_pool.html", {"form": form})
