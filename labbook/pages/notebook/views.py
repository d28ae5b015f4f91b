"""Notebook pages: entries in Markdown linked to batches, treatments, samples, runs and devices."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from labbook.notebook import services
from labbook.notebook.filters import EntryFilterSet
from labbook.notebook.models import NotebookEntry
from labbook.pages.lists import filtered_list
from labbook.pages.notebook.forms import LINKS, EntryForm
from labbook.pages.synthesis.views import add_errors
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
    )


@login_required
def entry_create(request):
    initial = {name: request.GET.getlist(name) for name in LINKS if name in request.GET}
    form = EntryForm(request.POST or None, user=request.user, initial=initial)
    if not form.fields["project"].queryset.exists():  # a viewer everywhere, or every project frozen
        raise PermissionDenied("writing an entry needs the editor role in a project that is not frozen")
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            entry = services.entry_create(
                user=request.user,
                project=data.pop("project"),
                title=data.pop("title"),
                reason="written on the notebook page",
                **data,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"saved “{entry.title}”")
            return redirect("notebook:entry-detail", pk=entry.pk)
    return render(request, "notebook/entry_form.html", {"form": form, "title": "New notebook entry"})


@login_required
def entry_detail(request, pk: int):
    entry = get_object_or_404(visible(NotebookEntry, request.user).select_related("author"), pk=pk)
    links = [
        (name, [(reverse(DETAIL[name], args=[o.pk]), o) for o in getattr(entry, name).all()])
        for name in LINKS
    ]
    return render(
        request, "notebook/entry_detail.html", {"entry": entry, "links": [x for x in links if x[1]]}
    )
