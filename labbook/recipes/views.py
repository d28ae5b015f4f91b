"""The template pages under /templates/: list, make (from scratch or "save as template" from a batch
or an entry), edit, delete, "new from template", and applying a series template.

Thin: each view parses the request, calls one service (or the planner) and renders. A refusal
(bad input, frozen project) is a form error with a 400; a viewer gets 403; a record of a project
the user cannot see, 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse

from labbook.core.forms import add_errors
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import ConflictError
from labbook.projects.permissions import RecordNotFound, can_edit
from labbook.projects.selectors import visible
from labbook.recipes import services
from labbook.recipes.forms import SeriesApplyForm, TemplateForm, writable_projects
from labbook.recipes.models import Template, TemplateKind
from labbook.synthesis.models import Synthesis


def _template(request, pk: int) -> Template:
    return get_object_or_404(visible(Template, request.user).select_related("project"), pk=pk)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("no such record") from None


@login_required
def template_list(request):
    templates = (
        visible(Template, request.user).select_related("project").order_by("project__name", "kind", "name")
    )
    kind = request.GET.get("kind")
    if kind in TemplateKind.values:
        templates = templates.filter(kind=kind)
    writable = set(writable_projects(request.user).values_list("pk", flat=True))  # one query, not one a row
    rows = [(t, t.project_id in writable) for t in templates]
    return render(
        request,
        "recipes/template_list.html",
        {
            "rows": rows,
            "kinds": TemplateKind.choices,
            "kind": kind,
            "can_make": bool(writable),
        },
    )


@login_required
def template_create(request):
    """``?kind=synthesis|series|entry`` from scratch; ``?from_batch=<pk>`` / ``?from_entry=<pk>``: save
    a batch's recipe or an entry as a template."""
    initial: dict = {}
    source = None
    if "from_batch" in request.GET:
        source = get_object_or_404(visible(Synthesis, request.user), pk=_int(request.GET["from_batch"]))
        kind = TemplateKind.SYNTHESIS
        initial = {**services.template_fields_from_batch(source), "name": f"{source.code} recipe"}
    elif "from_entry" in request.GET:
        source = get_object_or_404(visible(NotebookEntry, request.user), pk=_int(request.GET["from_entry"]))
        kind = TemplateKind.ENTRY
        initial = {**services.template_fields_from_entry(source), "name": source.title[:100]}
    else:
        kind = request.GET.get("kind", "")
        if kind not in TemplateKind.values:
            return render(
                request,
                "recipes/template_kind.html",
                {"kinds": TemplateKind.choices},
                status=200 if not kind else 400,
            )
    if source is not None:
        initial["project"] = source.project_id
    form = TemplateForm(request.POST or None, user=request.user, kind=kind, initial=initial)
    if not form.fields["project"].queryset.exists():
        raise PermissionDenied("making a template needs the editor role in a project that is not frozen")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                template = services.template_create(
                    user=request.user,
                    project=form.cleaned_data["project"],
                    name=form.cleaned_data["name"],
                    kind=kind,
                    description=form.cleaned_data["description"],
                    fields=form.template_fields(),
                )
            except ValidationError as exc:
                add_errors(form, exc)
            except RecordNotFound:
                raise Http404("no such project") from None
            else:
                messages.success(request, f"saved template “{template.name}”")
                return redirect("recipes:template-list")
        status = 400
    title = f"New {TemplateKind(kind).label} template" + (f" from {source}" if source is not None else "")
    return render(
        request, "recipes/template_form.html", {"form": form, "title": title, "kind": kind}, status=status
    )


@login_required
def template_edit(request, pk: int):
    template = _template(request, pk)
    if not can_edit(request.user, template):
        raise PermissionDenied("changing a template needs the editor role in a project that is not frozen")
    initial = {"name": template.name, "description": template.description, **template.fields}
    form = TemplateForm(
        request.POST or None, user=request.user, kind=template.kind, with_project=False, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.template_update(
                    user=request.user,
                    template=template,
                    version=request.POST.get("version"),
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    fields=form.template_fields(),
                    reason="changed on the template page",
                )
            except ValidationError as exc:
                add_errors(form, exc)
            except ConflictError as exc:  # someone saved it meanwhile
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"saved template “{form.cleaned_data['name']}”")
                return redirect("recipes:template-list")
        status = 400
    return render(
        request,
        "recipes/template_form.html",
        {
            "form": form,
            "title": f"Edit template {template.name}",
            "template": template,
            "kind": template.kind,
        },
        status=status,
    )


@login_required
def template_delete(request, pk: int):
    template = _template(request, pk)
    if not can_edit(request.user, template):
        raise PermissionDenied("deleting a template needs the editor role in a project that is not frozen")
    if request.method == "POST":
        try:
            services.template_delete(
                user=request.user, template=template, reason="deleted on the template page"
            )
        except ValidationError as exc:
            return render(
                request,
                "recipes/template_delete.html",
                {"template": template, "errors": exc.messages},
                status=400,
            )
        messages.success(request, f"deleted template “{template.name}”")
        return redirect("recipes:template-list")
    return render(request, "recipes/template_delete.html", {"template": template})


_CREATE_PAGES = {
    TemplateKind.SYNTHESIS: "synthesis:batch-create",
    TemplateKind.ENTRY: "notebook:entry-create",
}


@login_required
def template_use(request, pk: int):
    """ "New from template": the create page with the template's fields as GET parameters (a
    synthesis, an entry), or the page that applies a series."""
    template = _template(request, pk)
    if template.kind == TemplateKind.SERIES:
        return redirect("recipes:series-apply", pk=template.pk)
    try:
        url = reverse(_CREATE_PAGES[template.kind])
    except NoReverseMatch:
        raise Http404("no page to make this kind of record") from None
    return redirect(f"{url}?{services.new_record_query(template)}")


@login_required
def series_apply(request, pk: int):
    """GET ``?batch=&stock=&date=``: the plan (planned MACl volume per target and portion);
    POST the same: make the treatments, all or none. ``?batch=`` alone preselects the batch."""
    template = _template(request, pk)
    if template.kind != TemplateKind.SERIES:
        raise Http404(f"{template} is not a series template")
    editable = can_edit(request.user, template)
    planning = "batch" in request.GET and "stock" in request.GET
    data = request.POST if request.method == "POST" else (request.GET if planning else None)
    # "?batch=<pk>" alone (the link on a batch's page) preselects the batch
    initial = {k: request.GET[k] for k in ("batch", "stock", "date") if data is None and k in request.GET}
    form = SeriesApplyForm(data, user=request.user, project=template.project, initial=initial)
    plan, status = None, 200
    if data is not None:
        if form.is_valid():
            d = form.cleaned_data
            try:
                plan = services.series_plan(template=template, batch=d["batch"], stock=d["stock"])
                if request.method == "POST":
                    if not editable:
                        raise PermissionDenied(
                            "recording treatments needs the editor role in a project that is not frozen"
                        )
                    made = services.series_apply(
                        user=request.user,
                        template=template,
                        batch=d["batch"],
                        stock=d["stock"],
                        date=d["date"],
                    )
                    messages.success(
                        request, f"recorded {len(made)} treatments: {', '.join(t.code for t in made)}"
                    )
                    return redirect(f"{reverse('synthesis:treatment-list')}?made_from={d['batch'].pk}")
            except ValidationError as exc:
                plan = None
                add_errors(form, exc)
            except IntegrityError:  # the same treatments recorded by someone else at this moment
                plan = None
                form.add_error(
                    None, "recorded by someone else at the same moment: reload to see the portions"
                )
            except RecordNotFound:
                raise Http404("no such project") from None
        if form.errors:
            status = 400
    return render(
        request,
        "recipes/series_apply.html",
        {"template": template, "form": form, "plan": plan, "editable": editable, "targets": template.targets},
        status=status,
    )
