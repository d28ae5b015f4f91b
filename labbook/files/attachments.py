"""Ordinary attachments (images, PDF, CSV/TXT) and their previews, for notebook entries.

Raw instrument files are accepted by their name (:data:`labbook.files.services.RAW_FILE_SUFFIXES`:
the readers check their content when they analyse them). An attachment is shown to people in the
browser, so its type is taken from its content, not from its name alone: :func:`sniff` reads the
first bytes (the signatures of PNG, JPEG, TIFF and PDF; for CSV/TXT: UTF-8 text without NUL
bytes; Latin-1 text from an instrument too, when it has no control bytes), and the name's suffix must agree with what the content is. The stored ``media_type`` is
the sniffed one, never the browser's claim. Size limits are :func:`raw_file_store`'s (one upload
path for every file).

Previews are made on the server and bounded: :func:`thumbnail_png` draws at most
:data:`THUMBNAIL_PX` pixels a side, from images of at most :data:`MAX_PREVIEW_PIXELS` pixels
(Pillow for PNG/JPEG; tifffile reads only the first page of a TIFF, i.e. a movie's first frame,
after checking its declared size and compression ratio: a decompression bomb is refused, not
decoded), and from a PDF's first page with pypdfium2 (PDFium, the PDF engine of Chromium, shipped
inside its wheel: works offline from pip alone). :func:`csv_columns` reads at most
:data:`CSV_MAX_ROWS` numeric rows of a CSV for a plot. Thumbnails are kept in storage next to the
blobs (``thumbs/<sha[:2]>/<sha>.png``), made once per content.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

#: how many leading bytes :func:`sniff` reads
SNIFF_BYTES = 8192
#: the longest side of a thumbnail, pixels
THUMBNAIL_PX = 320
#: the largest image (width x height, one frame) a preview decodes: 64 megapixels
MAX_PREVIEW_PIXELS = 64_000_000
#: a TIFF page whose decoded size is over this many times its stored size is not decoded
MAX_COMPRESSION_RATIO = 100.0
#: rows and columns of a CSV read for its plot
CSV_MAX_ROWS = 5000
CSV_MAX_COLUMNS = 64


@dataclass(frozen=True)
class AttachmentType:
    media_type: str
    suffixes: tuple[str, ...]
    label: str


#: what a notebook entry takes: (media type, the suffixes its name may have, a label for people)
ATTACHMENT_TYPES = (
    AttachmentType("image/png", (".png",), "PNG image"),
    AttachmentType("image/jpeg", (".jpg", ".jpeg"), "JPEG image"),
    AttachmentType("image/tiff", (".tif", ".tiff"), "TIFF image or movie"),
    AttachmentType("application/pdf", (".pdf",), "PDF"),
    AttachmentType("text/csv", (".csv", ".tsv"), "CSV table"),
    AttachmentType("text/plain", (".txt",), "text"),
)
ATTACHMENT_SUFFIXES = tuple(s for t in ATTACHMENT_TYPES for s in t.suffixes)
_BY_MEDIA_TYPE = {t.media_type: t for t in ATTACHMENT_TYPES}


def accepted_types_text() -> str:
    return ", ".join(f"{t.label} ({'/'.join(t.suffixes)})" for t in ATTACHMENT_TYPES)


def _content_type(head: bytes) -> str | None:
    """The media type the leading bytes ``head`` show (None: none we take)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic and BigTIFF
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if any(b < 32 and b not in (9, 10, 12, 13) for b in head) or b"\x7f" in head:
        return None  # control bytes (NUL included): not text
    # UTF-8 text, or an instrument's 8-bit (Latin-1, Windows-1252) text without control bytes
    return "text/plain"


def sniff(name: str, head: bytes) -> str:
    """The media type of an attachment called ``name`` whose content starts with ``head``.

    Raises ValidationError (field ``file``) when the content is not one of
    :data:`ATTACHMENT_TYPES`, or is not what its name says (a renamed program, a PDF called .png)."""
    suffix = os.path.splitext(name)[1].lower()
    found = _content_type(head)
    if found is None:
        raise ValidationError(
            {
                "file": f"{name}: its content is not a type a notebook entry takes; one of {accepted_types_text()}"
            }
        )
    if found == "text/plain" and suffix in (".csv", ".tsv"):
        found = "text/csv"
    expected = next((t for t in ATTACHMENT_TYPES if suffix in t.suffixes), None)
    if expected is None:
        raise ValidationError(
            {"file": f"{name}: not a type a notebook entry takes; one of {accepted_types_text()}"}
        )
    if expected.media_type != found:
        raise ValidationError(
            {
                "file": f"{name}: named as a {expected.label}, but its content is a {_BY_MEDIA_TYPE[found].label}"
            }
        )
    return found


# --- previews ------------------------------------------------------------------------------------
class NoPreview(Exception):
    """A preview cannot be made (the message says why, for people)."""


def preview_kind(media_type: str) -> str | None:
    """How the entry page shows a file: "image" (a thumbnail), "pdf" (a link and its first page),
    "csv" (a plot), "text" (its first lines), or None (a download link only)."""
    return {
        "image/png": "image",
        "image/jpeg": "image",
        "image/tiff": "image",
        "application/pdf": "pdf",
        "text/csv": "csv",
        "text/plain": "text",
    }.get(media_type)


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame scaled to 0-255 between its 0.5th and 99.5th percentiles (a 16-bit camera frame is
    mostly dark: a min-max scale would show black)."""
    frame = np.asarray(frame, dtype=np.float64)
    finite = frame[np.isfinite(frame)]
    if finite.size == 0:
        return np.zeros(frame.shape, dtype=np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    return (np.clip((np.nan_to_num(frame, nan=lo) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_PREVIEW_PIXELS:
        raise NoPreview(
            f"{what} is {width} x {height} pixels, more than the {MAX_PREVIEW_PIXELS:,} a preview decodes"
        )


def _tiff_first_frame(fh) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            shape = page.shape
            if len(shape) < 2:
                raise NoPreview("the TIFF's first page is not an image")
            _check_pixels(page.imagewidth, page.imagelength, "the TIFF's first frame")
            decoded = int(np.prod(shape)) * page.dtype.itemsize
            stored = max(1, sum(page.databytecounts))
            if decoded / stored > MAX_COMPRESSION_RATIO:
                raise NoPreview(
                    f"the TIFF's first frame decodes to {decoded / stored:.0f} times its stored size "
                    "(a decompression bomb?): not decoded"
                )
            frame = page.asarray()
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise NoPreview(f"not a readable TIFF ({exc})") from None
    if frame.ndim == 3 and frame.shape[-1] in (3, 4):  # RGB(A)
        return frame[..., :3] if frame.dtype == np.uint8 else _to_uint8(frame[..., :3])
    while frame.ndim > 2:  # planar samples: the first one
        frame = frame[0]
    return _to_uint8(frame)


def _pillow_image(fh):
    from PIL import Image

    try:
        image = Image.open(fh)  # reads the header only
        _check_pixels(*image.size, "the image")
        image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))  # JPEG: decode at a reduced scale
        image.load()
    except NoPreview:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, larger, limit
        raise NoPreview(f"the image declares too many pixels (a decompression bomb?): {exc}") from None
    except (OSError, ValueError) as exc:
        raise NoPreview(f"not a readable image ({exc})") from None
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image)))
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


#: PDFium is not thread-safe (pypdfium2's documentation): one PDF at a time per process
_PDFIUM_LOCK = threading.Lock()


def _pdf_first_page(fh):
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(fh)  # read from the file as needed, not loaded whole
        except pdfium.PdfiumError as exc:
            raise NoPreview(f"not a readable PDF ({exc})") from None
        try:
            if len(pdf) == 0:
                raise NoPreview("the PDF has no page")
            page = pdf[0]
            width, height = page.get_size()  # points
            scale = THUMBNAIL_PX / max(width, height, 1)  # the bitmap is bounded whatever the page size
            return page.render(scale=scale).to_pil().convert("RGB")
        finally:
            pdf.close()


def _make_thumbnail(raw) -> bytes:
    from PIL import Image

    with raw.open("rb") as fh:
        if raw.media_type == "image/tiff":
            image = Image.fromarray(_tiff_first_frame(fh))
        elif raw.media_type in ("image/png", "image/jpeg"):
            image = _pillow_image(fh)
        elif raw.media_type == "application/pdf":
            image = _pdf_first_page(fh)
        else:
            raise NoPreview(f"no thumbnail for {raw.media_type}")
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def thumbnail_name(sha256: str) -> str:
    return f"thumbs/{sha256[:2]}/{sha256}.png"


def thumbnail_png(raw) -> bytes:
    """A PNG of at most :data:`THUMBNAIL_PX` pixels a side showing ``raw`` (an image, a TIFF
    movie's first frame, a PDF's first page); made once per content and kept in storage.
    Raises :class:`NoPreview` with the reason when it cannot be made."""
    name = thumbnail_name(raw.sha256)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    png = _make_thumbnail(raw)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(png))
        if saved != name:  # another request stored it meanwhile: keep theirs
            default_storage.delete(saved)
    return png


def _encoding(head: bytes) -> str:
    """UTF-8 unless ``head`` is not (then Windows-1252, a superset of Latin-1's printable part)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def csv_columns(raw, *, max_rows: int = CSV_MAX_ROWS) -> tuple[list[str], np.ndarray]:
    """The header and the numeric columns (rows x columns, float, NaN where not a number) of the
    first ``max_rows`` rows and :data:`CSV_MAX_COLUMNS` columns of a CSV/TSV/text table. Raises NoPreview when it has no two numeric columns."""
    with raw.open("rb") as fh:
        encoding = _encoding(fh.read(SNIFF_BYTES))
        fh.seek(0)
        text = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline="")
        sample = text.read(SNIFF_BYTES)
        text.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        except csv.Error:
            dialect = csv.excel
        rows = []
        try:
            for i, row in enumerate(csv.reader(text, dialect)):
                if i > max_rows:
                    break
                if row and not row[0].lstrip().startswith("#"):
                    rows.append(row[:CSV_MAX_COLUMNS])
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise NoPreview(f"not a readable table ({exc})") from None

    def number(cell: str) -> float:
        try:
            return float(cell.strip().replace(",", ".") if dialect.delimiter != "," else cell)
        except ValueError:
            return float("nan")

    if not rows:
        raise NoPreview("the table is empty")
    first = [number(c) for c in rows[0]]
    header = rows[0] if all(np.isnan(first)) else [f"column {i + 1}" for i in range(len(rows[0]))]
    body = rows[1:] if header is rows[0] else rows
    width = len(header)
    data = np.full((len(body), width), np.nan)
    for i, row in enumerate(body):
        for j, cell in enumerate(row[:width]):
            data[i, j] = number(cell)
    numeric = [j for j in range(width) if np.isfinite(data[:, j]).any()]
    if len(numeric) < 2:
        raise NoPreview("the table has no two numeric columns to plot")
    return [header[j].strip() or f"column {j + 1}" for j in numeric], data[:, numeric]


def text_head(raw, *, max_bytes: int = 2000) -> str:
    """The first ``max_bytes`` of a text file, decoded (for its preview)."""
    with raw.open("rb") as fh:
        data = fh.read(max_bytes)
    return data.decode(_encoding(data), errors="replace")
