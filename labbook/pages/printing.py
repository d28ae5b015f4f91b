"""Print pages and their PDF: a batch, a batch's treatment series, a notebook entry.

``/batches/<pk>/print/``, ``/batches/<pk>/treatments/print/`` and ``/notebook/<pk>/print/`` show
one record (or series) for paper: units, derived values (iodide in the batch's MAPbI3, Cl added,
Cl:I, ethanol/toluene fraction), lineage, history (who changed what, when, why: from
labbook.archives.selectors.record_history) and time stamps, with print CSS (``@media print``) and
no navigation (``templates/print/``). Any member of the project may print, viewers included;
others get 404. ``?format=pdf`` gives the same document as a PDF.

Each view builds one :class:`Document` (sections of key/value rows, tables, Markdown), which the
template draws as HTML and :func:`pdf_bytes` draws with ReportLab. Why ReportLab for the PDF:
it is pure Python on pip alone (BSD, maintained since 2000; wheels for every platform), works
offline and draws tables, page breaks and sub/superscripts (``<sub>``, ``<super>``) itself. WeasyPrint
would print the HTML page as it is, but needs Pango and HarfBuzz from the system (present on this
machine, not on a fresh one with only pip); xhtml2pdf sits on ReportLab anyway and its SVG support
(svglib, rlPyCairo) brings pycairo, built from source against cairo on Linux; fpdf2's core fonts
stop at Latin-1 and its HTML is more limited than ReportLab's tables. The
PDF's font is DejaVu Sans where the system has it (µ, ², →, thin spaces), else ReportLab's own
Bitstream Vera.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import nh3
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from labbook.archives.selectors import record_history
from labbook.files.attachments import NoPreview, preview_kind, thumbnail_png
from labbook.notebook.models import NotebookEntry
from labbook.projects.selectors import visible
from labbook.synthesis import selectors as synthesis
from labbook.synthesis.models import PostTreatment, Synthesis
from labbook.units import Quantity, format_quantity

#: at most this many history rows per record are printed (newest first)
HISTORY_ROWS = 50


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # key/value
    headers: list[str] = field(default_factory=list)  # a table: headers and rows of cells
    table: list[list[str]] = field(default_factory=list)
    html: SafeString | None = None  # sanitised HTML (an entry's Markdown)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG) thumbnails
    image_urls: list[tuple[str, str]] = field(default_factory=list)  # (caption, URL) on the page
    empty: str = "none"


@dataclass
class Document:
    title: str
    kind: str  # "Batch", "Treatment series", "Notebook entry"
    meta: list[tuple[str, str]]
    sections: list[Section]
    pdf_name: str
    screen_url: str = ""


# --- values for people -----------------------------------------------------------------------
def _q(value, unit: str | None) -> str:
    return "" if value is None else format_quantity(value, unit)


def _when(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    return value.isoformat()


def _stored(model, name: str, value) -> str:
    """A stored history value for people: quantities in their column's unit, links as ids."""
    if value is None or value == "":
        return "(empty)"
    try:
        unit = getattr(model._meta.get_field(name), "unit", None)
    except Exception:  # an m2m accessor name or a removed field
        unit = None
    if unit and isinstance(value, (int, float)):
        return format_quantity(Quantity(value, unit), unit)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def _history(model, obj, user, *, label: str | None = None) -> list[list[str]]:
    rows = []
    for h in record_history(model=model, pk=obj.pk, user=user)[:HISTORY_ROWS]:
        changes = "; ".join(
            f"{c.field}: {_stored(model, c.field, c.old)} → {_stored(model, c.field, c.new)}"
            for c in h.changes
        )
        row = [_when(h.at), h.user or "", f"{h.action} (v{h.version})", h.reason or "", changes]
        rows.append([label, *row] if label is not None else row)
    return rows


HISTORY_HEADERS = ["when", "who", "what", "why", "changes"]


def _stamps(obj) -> list[tuple[str, str]]:
    return [
        ("created", f"{_when(obj.created_at)}" + (f" by {obj.created_by}" if obj.created_by_id else "")),
        ("last changed", f"{_when(obj.modified_at)} (version {obj.version})"),
    ]


def _meta(project, user) -> list[tuple[str, str]]:
    frozen = f" (frozen {_when(project.frozen_at)})" if project.frozen_at else ""
    return [
        ("project", f"{project}{frozen}"),
        ("printed", f"{_when(timezone.now())} by {user.get_username()}"),
    ]


# --- a batch ---------------------------------------------------------------------------------
def _recipe(batch: Synthesis) -> list[tuple[str, str]]:
    rows = []
    skip = {"id", "project", "code", "kind", "date", "operator", "notes", "version"}
    for f in Synthesis._meta.concrete_fields:
        if f.name in skip or f.name.endswith("_at") or f.name == "created_by" or not f.editable:
            continue
        value = getattr(batch, f.name)
        if value in (None, ""):
            continue
        if hasattr(f, "unit"):
            value = format_quantity(value, f.unit)
        rows.append((str(f.verbose_name), str(value)))
    return rows


def _lineage_rows(lineage: dict) -> list[list[str]]:
    rows = []

    def walk(nodes, key, depth, relation):
        for node in nodes:
            b = node["batch"]
            rows.append([relation + (f" ({depth} up)" if key == "parents" and depth > 1 else "")
                         + (f" ({depth} down)" if key == "children" and depth > 1 else ""),
                         b.code, b.get_kind_display(), f"{node['fraction'] * 100:.4g} % of the parent",
                         _when(b.date)])  # fmt: skip
            walk(node.get(key, []), key, depth + 1, relation)

    walk(lineage["parents"], "parents", 1, "parent")
    walk(lineage["children"], "children", 1, "portion")
    return rows


def batch_document(batch: Synthesis, user) -> Document:
    iodide = batch.iodide_amount()
    treatments = list(batch.treatments.select_related("stock").order_by("date", "code"))
    samples = list(batch.samples.select_related("treatment").order_by("code"))
    return Document(
        title=f"Batch {batch.code}",
        kind="Batch",
        meta=_meta(batch.project, user),
        pdf_name=f"batch-{batch.code}.pdf",
        screen_url=reverse("synthesis:batch-detail", args=[batch.pk]),
        sections=[
            Section(
                "Record",
                rows=[
                    ("code", batch.code),
                    ("kind", batch.get_kind_display()),
                    ("date", _when(batch.date)),
                    ("operator", str(batch.operator or "")),
                    *_stamps(batch),
                ],
            ),
            Section("Recipe", rows=_recipe(batch)),
            Section(
                "Derived",
                rows=[("iodide in MAPbI3 (I⁻)", _q(iodide, "umol") or "not derivable from the record")],
            ),
            Section(
                "Lineage",
                headers=["relation", "batch", "kind", "share", "date"],
                table=_lineage_rows(synthesis.batch_lineage(batch)),
                empty="an original synthesis, not split or pooled",
            ),
            Section(
                "Treatments of this batch",
                headers=["code", "date", "stock", "volume added", "Cl:I (molar)", "ethanol/toluene (v/v)"],
                table=[
                    [
                        t.code,
                        _when(t.date),
                        t.stock.code,
                        _q(t.volume_added, "uL"),
                        _q(t.cl_to_i, "percent"),
                        _q(t.solvent_fraction, "percent"),
                    ]
                    for t in treatments
                ],  # fmt: skip
            ),
            Section(
                "Samples",
                headers=["code", "kind", "treatment", "date"],
                table=[
                    [
                        s.code,
                        s.get_kind_display(),
                        s.treatment.code if s.treatment else "untreated",
                        _when(s.date),
                    ]
                    for s in samples
                ],
            ),
            Section("Notes", html=_text_html(batch.notes), empty="no notes"),
            Section("History", headers=HISTORY_HEADERS, table=_history(Synthesis, batch, user)),
        ],
    )


def _text_html(text: str) -> SafeString | None:
    if not text:
        return None
    return mark_safe("".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip()))  # noqa: S308


# --- a treatment series ------------------------------------------------------------------------
def _descendants(lineage: dict) -> list[Synthesis]:
    out = []
    for node in lineage["children"]:
        out.append(node["batch"])
        out += _descendants(node)
    return out


def series_document(batch: Synthesis, user) -> Document:
    """The treatments of ``batch`` and of its portions (the batches split from it, at any depth):
    the paper's 0/3/9/17 % series is one treatment on each of four portions of a pool."""
    portions = {b.pk: b for b in [batch, *_descendants(synthesis.batch_lineage(batch))]}
    treatments = list(
        PostTreatment.objects.filter(batch__in=list(portions), project=batch.project)
        .select_related("stock", "operator", "stock__salt", "batch")
        .order_by("nominal_cl_percent", "date", "code")
    )
    stocks = {t.stock_id: t.stock for t in treatments}
    history = []
    for t in treatments:
        history += _history(PostTreatment, t, user, label=t.code)
    return Document(
        title=f"Treatment series of batch {batch.code}",
        kind="Treatment series",
        meta=_meta(batch.project, user),
        pdf_name=f"series-{batch.code}.pdf",
        screen_url=reverse("synthesis:batch-detail", args=[batch.pk]),
        sections=[
            Section(
                "Batch",
                rows=[
                    ("batch", f"{batch.code} ({batch.get_kind_display()}, {_when(batch.date)})"),
                    ("suspension volume", _q(batch.volume, "mL")),
                    ("portions", ", ".join(b.code for b in portions.values() if b.pk != batch.pk) or "none"),
                    (
                        "iodide in MAPbI3 (I⁻)",
                        _q(batch.iodide_amount(), "umol") or "not derivable from the record",
                    ),
                ],
            ),
            Section(
                "Treatments",
                headers=[
                    "code",
                    "portion",
                    "nominal",
                    "date",
                    "stock",
                    "volume added",
                    "suspension volume",
                    "Cl added",
                    "iodide in portion",
                    "Cl:I (molar)",
                    "ethanol/toluene (v/v)",
                    "stirring",
                    "operator",
                ],
                table=[
                    [
                        t.code,
                        t.batch.code,
                        "" if t.nominal_cl_percent is None else f"{t.nominal_cl_percent:g} % Cl",
                        _when(t.date),
                        t.stock.code,
                        _q(t.volume_added, "uL"),
                        _q(t.effective_suspension_volume(), "mL"),
                        _q(t.chloride_amount, "umol"),
                        _q(t.iodide_amount, "umol"),
                        _q(t.cl_to_i, "percent"),
                        _q(t.solvent_fraction, "percent"),
                        " at ".join(
                            x for x in [_q(t.stirring_time, "min"), _q(t.stirring_speed, "rpm")] if x
                        ),
                        str(t.operator or ""),
                    ]
                    for t in treatments
                ],  # fmt: skip
                empty="this batch has no treatments",
            ),
            Section(
                "Chloride stocks",
                headers=["code", "salt", "salt amount", "solvent", "solvent volume", "concentration", "date"],
                table=[
                    [
                        s.code,
                        str(s.salt or ""),
                        _q(s.amount(), "umol"),
                        s.solvent,
                        _q(s.solvent_volume, "mL"),
                        _q(s.concentration(), "mM"),
                        _when(s.date),
                    ]
                    for s in stocks.values()
                ],  # fmt: skip
            ),
            Section(
                "Time stamps",
                headers=["treatment", "created", "last changed"],
                table=[[t.code, _stamps(t)[0][1], _stamps(t)[1][1]] for t in treatments],
            ),
            Section("History", headers=["treatment", *HISTORY_HEADERS], table=history),
        ],
    )


# --- a notebook entry --------------------------------------------------------------------------
def entry_document(entry: NotebookEntry, user, *, with_images: bool) -> Document:
    links = []
    for name in ["batches", "treatments", "samples", "chemicals", "runs", "devices", "measurements"]:
        objs = list(getattr(entry, name).all())
        if objs:
            links.append((name, ", ".join(str(o) for o in objs)))
    files = list(entry.raw_files.order_by("original_name"))
    images, image_urls = [], []
    for raw in files:
        if preview_kind(raw.media_type) not in ("image", "pdf"):
            continue
        try:
            png = thumbnail_png(raw)  # made once per content; none for a bomb or a broken file
        except (NoPreview, OSError):
            continue
        if with_images:
            images.append((raw.original_name, png))
        else:
            image_urls.append((raw.original_name, reverse("files:raw-preview", args=[raw.pk])))
    return Document(
        title=entry.title,
        kind="Notebook entry",
        meta=_meta(entry.project, user),
        pdf_name=f"entry-{entry.pk}.pdf",
        screen_url=reverse("notebook:entry-detail", args=[entry.pk]),
        sections=[
            Section("Record", rows=[("author", str(entry.author or "")), *_stamps(entry)]),
            Section("Text", html=entry.body_html(), empty="no text"),
            Section("Linked records", rows=links, empty="not linked to any record"),
            Section(
                "Attachments",
                headers=["file", "type", "size", "SHA-256"],
                table=[[r.original_name, r.media_type, f"{r.size} bytes", r.sha256] for r in files],
                images=images,
                image_urls=image_urls,
                empty="no files attached",
            ),
            Section("History", headers=HISTORY_HEADERS, table=_history(NotebookEntry, entry, user)),
        ],
    )


# --- the views ---------------------------------------------------------------------------------
def _respond(request, document: Document):
    if request.GET.get("format") == "pdf":
        response = HttpResponse(pdf_bytes(document), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{document.pdf_name}"'
        return response
    return render(
        request,
        "print/document.html",
        {"doc": document, "pdf_url": f"{request.path}?format=pdf"},
    )


@login_required
def batch_print(request, pk: int):
    batch = get_object_or_404(synthesis.batch_list(user=request.user), pk=pk)
    return _respond(request, batch_document(batch, request.user))


@login_required
def series_print(request, pk: int):
    batch = get_object_or_404(synthesis.batch_list(user=request.user), pk=pk)
    return _respond(request, series_document(batch, request.user))


@login_required
def entry_print(request, pk: int):
    entry = get_object_or_404(visible(NotebookEntry, request.user).select_related("author", "project"), pk=pk)
    pdf = request.GET.get("format") == "pdf"
    return _respond(request, entry_document(entry, request.user, with_images=pdf))


# --- the PDF (ReportLab) -----------------------------------------------------------------------
_FONTS: tuple[str, str] | None = None
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans from the system, else ReportLab's Bitstream Vera."""
    global _FONTS
    if _FONTS is None:
        import reportlab
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        if (_DEJAVU / "DejaVuSans.ttf").exists() and (_DEJAVU / "DejaVuSans-Bold.ttf").exists():
            regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        else:
            fonts = Path(reportlab.__file__).parent / "fonts"
            regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
        pdfmetrics.registerFont(TTFont("LabbookSans", str(regular)))
        pdfmetrics.registerFont(TTFont("LabbookSans-Bold", str(bold)))
        addMapping("LabbookSans", 0, 0, "LabbookSans")
        addMapping("LabbookSans", 1, 0, "LabbookSans-Bold")
        addMapping("LabbookSans", 0, 1, "LabbookSans")
        addMapping("LabbookSans", 1, 1, "LabbookSans-Bold")
        _FONTS = ("LabbookSans", "LabbookSans-Bold")
    return _FONTS


_BLOCK_END = re.compile(r"</(p|li|h[1-6]|tr|pre|blockquote|div)>|<br\s*/?>|<hr\s*/?>", re.I)
_INLINE = {"b", "i", "strong", "em", "sub", "sup", "code"}


def _html_paragraphs(fragment: str) -> list[str]:
    """Sanitised HTML (an entry's Markdown) as ReportLab paragraph markup: one per block, with
    bold, italics, sub- and superscripts kept (nh3 keeps only those; links become their text)."""
    text = _BLOCK_END.sub("\n", fragment)
    text = re.sub(r"<li>", "• ", text, flags=re.I)
    text = re.sub(r"</t[dh]>", "  ", text, flags=re.I)
    text = nh3.clean(text, tags=_INLINE, attributes={})
    for a, b in (("strong", "b"), ("em", "i"), ("sup", "super"), ("code", "font face='Courier'")):
        text = text.replace(f"<{a}>", f"<{b}>").replace(f"</{a}>", f"</{b.split()[0]}>")
    return [line.strip() for line in text.split("\n") if line.strip()]


def pdf_bytes(document: Document) -> bytes:
    """``document`` as an A4 PDF (ReportLab platypus): title, meta, then each section."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=regular, fontSize=9, leading=11.5)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9, wordWrap="CJK")
    head = ParagraphStyle("head", parent=cell, fontName=bold)
    h1 = ParagraphStyle("h1", parent=styles["Title"], fontName=bold, fontSize=16, alignment=0, spaceAfter=4)
    h2 = ParagraphStyle(
        "h2", parent=styles["Heading2"], fontName=bold, fontSize=11.5, spaceBefore=8, spaceAfter=3
    )
    muted = ParagraphStyle("muted", parent=body, textColor=colors.grey)

    wide = any(len(s.headers) > 7 for s in document.sections)
    pagesize = landscape(A4) if wide else A4
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=pagesize,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"{document.kind}: {document.title}",
        author="labbook",
    )
    width = pagesize[0] - 28 * mm

    def p(text: str, style=cell) -> Paragraph:
        return Paragraph(html.escape(str(text)), style)

    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.lightgrey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
    )
    story = [p(document.kind, muted), Paragraph(html.escape(document.title), h1)]
    story.append(
        Paragraph(" · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in document.meta), muted)
    )
    for section in document.sections:
        flow = [Paragraph(html.escape(section.title), h2)]
        if section.rows:
            table = Table(
                [[p(k, head), p(v)] for k, v in section.rows],
                colWidths=[width * 0.3, width * 0.7],
                hAlign="LEFT",
            )
            table.setStyle(grid)
            flow.append(table)
        elif section.headers and section.table:
            n = len(section.headers)
            table = Table(
                [[p(h, head) for h in section.headers], *[[p(c) for c in row] for row in section.table]],
                colWidths=[width / n] * n,
                repeatRows=1,
                hAlign="LEFT",
            )
            table.setStyle(grid)
            table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)]))
            flow.append(table)
        elif section.html:
            flow += [Paragraph(markup, body) for markup in _html_paragraphs(str(section.html))]
        else:
            flow.append(p(section.empty, muted))
        for caption, png in section.images:
            image = Image(io.BytesIO(png))
            scale = min(1.0, 60 * mm / max(image.drawWidth, image.drawHeight))
            image.drawWidth, image.drawHeight = image.drawWidth * scale, image.drawHeight * scale
            image.hAlign = "LEFT"
            flow += [Spacer(1, 3 * mm), KeepTogether([image, p(caption, muted)])]
        story.append(KeepTogether(flow[:2]) if len(flow) > 1 else flow[0])
        story += flow[2:]

    def footer(canvas, doc_):
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(14 * mm, 8 * mm, f"labbook · {document.kind}: {document.title}")
        canvas.drawRightString(pagesize[0] - 14 * mm, 8 * mm, f"page {doc_.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
