"""The form of ``templates/tags/record_tags.html``: add a tag to a record, take one off (POST).

The record is looked up among those the user sees (404 otherwise); the service checks the role and
the freeze. A refused tag (bad name, viewer, frozen project) answers 400/403 with the reason and a
link back; a done one goes back to the page it came from.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labbook.projects.permissions import RecordNotFound
from labbook.projects.selectors import visible
from labbook.tagging import services
from labbook.tagging.kinds import KINDS, model_of


def _back(request) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _record(request):
    kind = request.POST.get("kind", "")
    if kind not in KINDS:
        raise Http404(f"no record type {kind!r}")
    try:
        pk = int(request.POST.get("id", ""))
    except ValueError:
        raise Http404("no such record") from None
    return get_object_or_404(visible(model_of(kind), request.user), pk=pk)


def _write(request, action, done: str):
    record = _record(request)
    name = request.POST.get("name", "")
    try:
        action(user=request.user, record=record, name=name, reason="on the record's page")
    except RecordNotFound:
        raise Http404("no such record") from None
    except PermissionDenied as exc:
        return render(
            request,
            "tags/refused.html",
            {"record": record, "message": str(exc), "back": _back(request)},
            status=403,
        )
    except IntegrityError:  # the same tag added by someone else at this moment
        return render(
            request,
            "tags/refused.html",
            {
                "record": record,
                "message": "changed by someone else at the same moment: reload",
                "back": _back(request),
            },
            status=409,
        )
    except ValidationError as exc:
        return render(
            request,
            "tags/refused.html",
            {"record": record, "message": "; ".join(exc.messages), "back": _back(request)},
            status=400,
        )
    messages.success(request, done.format(name=name.strip(), record=record))
    return redirect(_back(request))


@login_required
@require_POST
def tag_add(request):
    return _write(request, services.tag_add, "tag {name} added to {record}")


@login_required
@require_POST
def tag_remove(request):
    return _write(request, services.tag_remove, "tag {name} removed from {record}")
