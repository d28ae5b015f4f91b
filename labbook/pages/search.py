"""One search over every record type and the notebook's text (``/search/?q=...``).

:func:`search_records` is the selector, scoped to the user's projects like every read
(:func:`labbook.projects.selectors.visible`). Each record type declares its fields in two weights: its
name (code, title, file name: weight A) and its text (notes, body, description: weight B).

- On PostgreSQL: full-text search (``websearch`` syntax: words, "quoted phrases", ``-excluded``) over
  both weights with the ``simple`` configuration (codes like ``R-3Cl-BLINK`` and chemical names are not
  English words to stem), ranked by ``ts_rank``, plus any record whose name contains the query as typed
  (a partial code such as ``3Cl`` is not a full-text token).
- Elsewhere (SQLite): every word must occur in one of the fields (case-insensitive substring); the rank
  counts where the words were found.

On both, an exact name match ranks first, a name that contains the whole query next.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Q
from django.shortcuts import render
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.projects.selectors import visible
from labbook.synthesis.models import Chemical, ChlorideStock, PostTreatment, Sample, Synthesis

#: the longest query accepted (characters): a search box, not a document
MAX_QUERY = 200
#: hits kept per record type, and in all
PER_TYPE = 25
LIMIT = 60


@dataclass(frozen=True)
class Kind:
    model: type
    label: str
    names: tuple[str, ...]  # weight A: what a record is called
    texts: tuple[str, ...]  # weight B: what is written about it
    url: str | None  # URL name taking the pk; None: the admin's change page


KINDS = (
    Kind(Synthesis, "batch", ("code",), ("method", "notes"), "synthesis:batch-detail"),
    Kind(PostTreatment, "treatment", ("code",), ("notes",), "synthesis:treatment-detail"),
    Kind(Sample, "sample", ("code",), ("substrate", "notes"), "synthesis:sample-detail"),
    Kind(ChlorideStock, "chloride stock", ("code",), ("solvent", "notes"), "records:stocks-detail"),
    Kind(Chemical, "chemical", ("name", "formula", "cas"), ("supplier", "lot"), "records:chemicals-detail"),
    Kind(CharacterizationRun, "run", ("code",), ("instrument", "notes"), "characterization:run-detail"),
    Kind(Device, "device", ("code",), ("architecture", "notes"), "devices:device-detail"),
    Kind(
        DeviceMeasurement,
        "device measurement",
        (),
        ("instrument", "light_source", "notes"),
        "records:measurements-detail",
    ),
    Kind(NotebookEntry, "notebook entry", ("title",), ("body",), "notebook:entry-detail"),
    Kind(RawFile, "raw file", ("original_name",), ("description",), None),
)


@dataclass(frozen=True)
class Hit:
    kind: str
    name: str
    project: str
    url: str
    rank: float
    snippet: str


class SearchError(ValueError):
    """A query that cannot be searched (too long); the message says why."""


def _url(kind: Kind, obj, user) -> str:
    """The record's page; for types without one, the admin's change page (staff only: "" otherwise)."""
    if kind.url:
        return reverse(kind.url, args=[obj.pk])
    if not user.is_staff:
        return ""
    meta = kind.model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def _snippet(kind: Kind, obj, words: list[str], width: int = 160) -> str:
    """The first text field that holds a query word, around it (plain text; the template escapes)."""
    for field in kind.texts:
        text = str(getattr(obj, field) or "")
        low = text.lower()
        at = min((low.find(w) for w in words if w in low), default=-1)
        if at >= 0:
            start = max(at - width // 3, 0)
            return (
                ("…" if start else "")
                + text[start : start + width].replace("\n", " ")
                + ("…" if start + width < len(text) else "")
            )
    return ""


def _pg_hits(kind: Kind, qs, q: str):
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    vector = None
    for f in kind.names:
        v = SearchVector(f, weight="A", config="simple")
        vector = v if vector is None else vector + v
    for f in kind.texts:
        v = SearchVector(f, weight="B", config="simple")
        vector = v if vector is None else vector + v
    query = SearchQuery(q, search_type="websearch", config="simple")
    contains = Q()
    for f in kind.names:
        contains |= Q(**{f"{f}__icontains": q})
    matched = qs.annotate(search=vector, rank=SearchRank(vector, query)).filter(Q(search=query) | contains)
    return [(obj, float(obj.rank)) for obj in matched.order_by("-rank", "-pk")[:PER_TYPE]]


def _plain_hits(kind: Kind, qs, words: list[str]):
    fields = [*kind.names, *kind.texts]
    cond = Q()
    for w in words:
        one = Q()
        for f in fields:
            one |= Q(**{f"{f}__icontains": w})
        cond &= one
    out = []
    for obj in qs.filter(cond).order_by("-pk")[: PER_TYPE * 4]:
        rank = 0.0
        for w in words:
            if any(w in str(getattr(obj, f) or "").lower() for f in kind.names):
                rank += 1.0
            elif any(w in str(getattr(obj, f) or "").lower() for f in kind.texts):
                rank += 0.4
        out.append((obj, rank / max(len(words), 1)))
    out.sort(key=lambda t: -t[1])
    return out[:PER_TYPE]


def search_records(*, user, q: str) -> list[Hit]:
    """Records of every type visible to ``user`` that match ``q``, best first (at most ``LIMIT``)."""
    q = " ".join(str(q or "").split())
    if len(q) > MAX_QUERY:
        raise SearchError(f"the query has {len(q)} characters; at most {MAX_QUERY} are searched")
    if not q:
        return []
    words = [w.lower() for w in q.split() if w not in ("OR", "or") and w.strip('"-')]
    words = [w.strip('"').lstrip("-") for w in words]
    postgres = connection.vendor == "postgresql"
    hits: list[Hit] = []
    for kind in KINDS:
        qs = visible(kind.model, user).select_related("project")
        found = _pg_hits(kind, qs, q) if postgres else _plain_hits(kind, qs, words)
        for obj, rank in found:
            names = [str(getattr(obj, f) or "").lower() for f in kind.names]
            if q.lower() in names:
                rank += 3.0  # the exact code / title
            elif any(q.lower() in n for n in names):
                rank += 1.5  # a name that contains the whole query
            hits.append(
                Hit(
                    kind=kind.label,
                    name=str(obj),
                    project=str(obj.project),
                    url=_url(kind, obj, user),
                    rank=rank,
                    snippet=_snippet(kind, obj, words),
                )
            )
    hits.sort(key=lambda h: (-h.rank, h.kind, h.name))
    return hits[:LIMIT]


@login_required
def search(request):
    """``/search/?q=...``: the header's search box."""
    q = request.GET.get("q", "")
    try:
        hits, error = search_records(user=request.user, q=q), ""
    except SearchError as exc:
        hits, error = [], str(exc)
    return render(
        request, "pages/search.html", {"q": q, "hits": hits, "error": error}, status=400 if error else 200
    )
