"""Small real files made in the tests: PNG, JPEG, a 16-bit TIFF movie, a CSV table, a PDF."""

import io

import numpy as np
import tifffile
from PIL import Image


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], -1)
    out = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 40)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def tiff_movie_bytes(frames: int = 3, size: int = 40) -> bytes:
    """A 16-bit movie whose first frame has one bright spot at (10, 30) and the others are dark."""
    movie = np.full((frames, size, size), 100, dtype=np.uint16)
    movie[0, 8:13, 28:33] = 4000
    out = io.BytesIO()
    tifffile.imwrite(out, movie, photometric="minisblack")
    return out.getvalue()


def csv_bytes() -> bytes:
    rows = ["wavelength (nm),PL 0 % (counts),PL 17 % (counts)"]
    rows += [
        f"{w},{1000 * np.exp(-(((w - 760) / 20) ** 2)):.2f},{900 * np.exp(-(((w - 740) / 20) ** 2)):.2f}"
        for w in range(600, 900, 5)
    ]
    return ("\n".join(rows) + "\n").encode()


def pdf_bytes(text: str = "PL spectrum report") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setFont("Helvetica", 28)
    c.drawString(72, 700, text)
    c.rect(72, 300, 300, 300, fill=1)
    c.showPage()
    c.save()
    return out.getvalue()
