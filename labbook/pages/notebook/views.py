"""Notebook pages: entries in Markdown linked to batches, treatments, samples, runs and devices,
with attached files (images, PDF, CSV/TXT) and their previews (previews.py); several files at once,
by drag and drop (static/pages/notebook.js) or the file input, on the entry page and the new-entry
form. Attaching goes through labbook.notebook.services (role, freeze, history); the print page is
labbook.pages.printing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labbook.notebook import services
from labbook.notebook.filters import EntryFilterSet
from labbook.notebook.models import NotebookEntry
from labbook.pages.lists import filtered_list
from labbook.pages.notebook.forms import LINKS, AttachForm, EntryCreateForm
from labbook.pages.notebook.previews import previews_for
from labbook.pages.records import KINDS, no_project
from labbook.pages.synthesis.views import add_errors
from labbook.projects.models import ProjectFrozen, Role
from labbook.projects.permissions import can_edit, require_role
from labbook.projects.selectors import visible

DETAIL = {
    "batches": "synthesis:batch-detail",
    "treatments": "synthesis:treatment-detail",
    "samples": "synthesis:sample-detail",
    "runs": "characterization:run-detail",
    "devices": "devices:device-detail",
}


@login_required
def entry_list(request):
    return filtered_list(
        request,
        title="Notebook",
        filterset_class=EntryFilterSet,
        queryset=visible(NotebookEntry, request.user).select_related("author", "project"),
        quick=["q", "author_username", "created_at__gte"],
        columns=["title", "author", "created", "project"],
        row=lambda e: (
            reverse("notebook:entry-detail", args=[e.pk]),
            [e.title, e.author or "", e.created_at.strftime("%Y-%m-%d %H:%M"), e.project],
        ),
        actions=[("New entry", reverse("notebook:entry-create"))],
        kind=KINDS["notebook"],
    )


@login_required
def entry_create(request):
    initial = {name: request.GET.getlist(name) for name in LINKS if name in request.GET}
    # "new from template" (labbook/recipes) and other links pre-fill the text and the project
    initial.update({name: request.GET[name] for name in ("project", "title", "body") if name in request.GET})
    form = EntryCreateForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if not form.fields["project"].queryset.exists():  # a viewer everywhere, or every project frozen
        return no_project(request, KINDS["notebook"])
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            entry = services.entry_create(
                user=request.user,
                project=data.pop("project"),
                title=data.pop("title"),
                reason="written on the notebook page",
                files=data.pop("files") or [],
                **data,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "file" in exc.error_dict:  # the files' refusals
                errors = exc.message_dict
                form.add_error("files", [f"nothing was saved: {m}" for m in errors.pop("file")])
                exc = ValidationError(errors) if errors else None
            if exc is not None:
                add_errors(form, exc)
        else:
            messages.success(request, f"saved “{entry.title}”")
            return redirect("notebook:entry-detail", pk=entry.pk)
    return render(request, "notebook/entry_form.html", {"form": form, "title": "New notebook entry"})


@login_required
def entry_detail(request, pk: int):
    entry = get_object_or_404(visible(NotebookEntry, request.user).select_related("author", "project"), pk=pk)
    links = [
        (name, [(reverse(DETAIL[name], args=[o.pk]), o) for o in getattr(entry, name).all()])
        for name in LINKS
    ]
    previews = previews_for(entry.raw_files.order_by("original_name"))
    return render(
        request,
        "notebook/entry_detail.html",
        {
            "entry": entry,
            "links": [x for x in links if x[1]],
            "previews": previews,
            "has_plots": any(p.plot for p in previews),
            "can_edit": can_edit(request.user, entry),  # viewers and frozen projects: no attach box
            "attach_form": AttachForm(),
        },
    )


@login_required
@require_POST
def entry_attach(request, pk: int):
    """Attach the files of the entry page's drop zone (or file input): all or nothing."""
    entry = get_object_or_404(visible(NotebookEntry, request.user).select_related("project"), pk=pk)
    try:  # refused before the files are read: viewers and a frozen project 403 with the reason
        require_role(request.user, entry.project, Role.EDITOR)
        entry.project.check_writable()
    except (PermissionDenied, ProjectFrozen) as exc:
        reason = " ".join(exc.messages) if isinstance(exc, ProjectFrozen) else str(exc)
        return HttpResponse(
            f"nothing attached: {reason}", status=403, content_type="text/plain; charset=utf-8"
        )
    form = AttachForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, "; ".join(errors))
        return redirect("notebook:entry-detail", pk=entry.pk)
    try:
        stored = services.entry_files_attach(
            user=request.user,
            entry=entry,
            files=form.cleaned_data["files"],
            reason="attached on the entry page",
        )
    except ValidationError as exc:
        messages.error(request, "nothing was attached: " + "; ".join(exc.messages))
        return redirect("notebook:entry-detail", pk=entry.pk)
    messages.success(request, "attached " + ", ".join(r.original_name for r in stored))
    return redirect("notebook:entry-detail", pk=entry.pk)
