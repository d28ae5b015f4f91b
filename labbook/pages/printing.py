"""Print pages: a batch, a batch's treatment series and a notebook entry (work in progress)."""

from django.http import Http404


def batch_print(request, pk: int):
    raise Http404("not yet")


def series_print(request, pk: int):
    raise Http404("not yet")


def entry_print(request, pk: int):
    raise Http404("not yet")
