"""Files attached to notebook entries through labbook.notebook.services (the one upload path,
labbook.files.services.raw_files_attach, which treats an entry's files as attachments): the type comes from the content,
refusals are clear and leave nothing, roles and the freeze hold, history says who attached what;
previews are bounded and refuse decompression bombs."""

import io
import struct
import zlib

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from labbook.archives.services import project_freeze
from labbook.files import attachments
from labbook.files.models import RawFile
from labbook.notebook import services
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import ProjectFrozen, Role
from tests.labbook.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.labbook.notebook.samples import csv_bytes, jpeg_bytes, pdf_bytes, png_bytes, tiff_movie_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    return UserFactory(username="editor")


@pytest.fixture
def project(editor):
    project = ProjectFactory()
    MembershipFactory(project=project, user=editor, role=Role.ADMIN)
    return project


@pytest.fixture
def entry(editor, project):
    return services.entry_create(
        user=editor, project=project, title="PL of the 17 % portion", body="see files"
    )


def _blobs() -> set[str]:
    try:
        dirs, _ = default_storage.listdir("raw")
    except FileNotFoundError:
        return set()
    return {f for d in dirs for f in default_storage.listdir(f"raw/{d}")[1]}


def test_images_pdf_csv_and_a_tiff_movie_are_attached_with_the_type_their_content_shows(editor, entry):
    files = [
        SimpleUploadedFile("spot.png", png_bytes(), content_type="application/octet-stream"),
        SimpleUploadedFile(
            "photo.JPG", jpeg_bytes(), content_type="text/html"
        ),  # the browser's claim is ignored
        SimpleUploadedFile("movie.tif", tiff_movie_bytes()),
        SimpleUploadedFile("report.pdf", pdf_bytes()),
        SimpleUploadedFile("pl.csv", csv_bytes()),
        SimpleUploadedFile("notes.txt", "CH₃NH₃PbI₃, 2,5 µL\n".encode()),
        SimpleUploadedFile("spectrometer.csv", "Wellenlänge (nm);I (µW)\n500;1,5\n".encode("cp1252")),
    ]
    stored = services.entry_files_attach(user=editor, entry=entry, files=files, reason="bench")
    assert [r.media_type for r in stored] == [
        "image/png", "image/jpeg", "image/tiff", "application/pdf", "text/csv", "text/plain", "text/csv",
    ]  # fmt: skip
    entry.refresh_from_db()
    assert set(entry.raw_files.all()) == set(stored)
    latest = entry.history.first()
    assert latest.history_user == editor and latest.history_change_reason == "bench"
    assert entry.version == 2


def test_the_same_bytes_are_stored_once(editor, project, entry):
    other = services.entry_create(user=editor, project=project, title="again")
    a = services.entry_files_attach(user=editor, entry=entry, files=[("a.png", io.BytesIO(png_bytes()))])
    b = services.entry_files_attach(user=editor, entry=other, files=[("b.png", io.BytesIO(png_bytes()))])
    assert a == b and RawFile.objects.count() == 1 and len(_blobs()) == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("run.exe", b"MZ\x90\x00" + bytes(100), "not a type a notebook entry takes"),
        ("photo.png", b"MZ\x90\x00" + bytes(100), "its content is not a type a notebook entry takes"),
        ("photo.png", pdf_bytes(), "named as a PNG image, but its content is a PDF"),
        ("table.csv", png_bytes(), "named as a CSV table, but its content is a PNG image"),
        ("movie.spe", b"\x00" * 100, "not a type a notebook entry takes"),
        ("index.html", b"<script>alert(1)</script>", "not a type a notebook entry takes"),
        ("data.csv", b"\x01\x02\xfe\xff binary", "its content is not a type a notebook entry takes"),
        ("data.txt", b"abc\x01\x02def", "its content is not a type a notebook entry takes"),
    ],
)
def test_anything_else_is_refused_by_its_content_and_nothing_is_kept(editor, entry, name, content, message):
    good = ("ok.png", io.BytesIO(png_bytes()))
    with pytest.raises(ValidationError, match=message) as info:
        services.entry_files_attach(user=editor, entry=entry, files=[good, (name, io.BytesIO(content))])
    assert name in " ".join(info.value.messages)
    assert RawFile.objects.count() == 0 and _blobs() == set()
    entry.refresh_from_db()
    assert entry.version == 1


def test_a_stream_that_cannot_seek_is_sniffed_and_stored_whole(editor, entry):
    class Pipe:
        def __init__(self, data):
            self.buf = io.BytesIO(data)

        def read(self, size=-1):
            return self.buf.read(size)

    data = tiff_movie_bytes(frames=40)
    (raw,) = services.entry_files_attach(user=editor, entry=entry, files=[("long.tiff", Pipe(data))])
    assert raw.size == len(data) and raw.open().read() == data


def test_the_size_limit_holds_for_attachments(editor, entry, settings):
    settings.RAW_FILE_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="larger than the limit of 1000 bytes"):
        services.entry_files_attach(user=editor, entry=entry, files=[("big.jpg", io.BytesIO(jpeg_bytes()))])
    assert RawFile.objects.count() == 0 and _blobs() == set()


def test_viewers_and_outsiders_cannot_attach(entry, project):
    viewer = UserFactory(username="viewer")
    MembershipFactory(project=project, user=viewer, role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.entry_files_attach(user=viewer, entry=entry, files=[("a.png", io.BytesIO(png_bytes()))])
    with pytest.raises(Exception, match="no project"):
        services.entry_files_attach(
            user=UserFactory(username="outsider"), entry=entry, files=[("a.png", io.BytesIO(png_bytes()))]
        )
    assert RawFile.objects.count() == 0


def test_a_frozen_project_refuses_attaching(editor, project, entry):
    project_freeze(project=project, user=editor, reason="published")
    with pytest.raises(ProjectFrozen):
        services.entry_files_attach(user=editor, entry=entry, files=[("a.png", io.BytesIO(png_bytes()))])
    assert RawFile.objects.count() == 0 and _blobs() == set()


def test_an_entry_and_its_files_are_saved_together_or_not_at_all(editor, project):
    with pytest.raises(ValidationError, match="named as a PDF"):
        services.entry_create(
            user=editor, project=project, title="x", files=[("fake.pdf", io.BytesIO(png_bytes()))]
        )
    assert not NotebookEntry.objects.filter(project=project).exists() and RawFile.objects.count() == 0
    entry = services.entry_create(
        user=editor, project=project, title="y", files=[("pl.csv", io.BytesIO(csv_bytes()))]
    )
    assert [r.original_name for r in entry.raw_files.all()] == ["pl.csv"]


# --- previews --------------------------------------------------------------------------------
def _attach(editor, entry, name, data):
    (raw,) = services.entry_files_attach(user=editor, entry=entry, files=[(name, io.BytesIO(data))])
    return raw


def _png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(data))


def test_thumbnails_are_bounded_and_show_the_content(editor, entry):
    photo = _png(attachments.thumbnail_png(_attach(editor, entry, "photo.jpg", jpeg_bytes(800, 600))))
    assert photo.size == (320, 240)
    r, g, b = photo.convert("RGB").getpixel((160, 120))
    assert r > 150 and g < 80 and b < 80  # the photo's red
    small = _png(attachments.thumbnail_png(_attach(editor, entry, "spot.png", png_bytes(64, 48))))
    assert small.size == (64, 48)  # never enlarged


def test_a_tiff_movie_shows_its_first_frame(editor, entry):
    thumb = np.asarray(_png(attachments.thumbnail_png(_attach(editor, entry, "m.tif", tiff_movie_bytes()))))
    assert thumb.shape[:2] == (40, 40)
    assert thumb[10, 30] == 255 and thumb[30, 10] == 0  # the bright spot of frame 0, scaled to 8 bits


def test_a_pdf_shows_its_first_page(editor, entry):
    raw = _attach(editor, entry, "report.pdf", pdf_bytes())
    thumb = _png(attachments.thumbnail_png(raw)).convert("L")
    assert max(thumb.size) == 320 and thumb.size[1] > thumb.size[0]  # A4, portrait
    pixels = np.asarray(thumb)
    assert pixels.min() < 50 and pixels.max() > 200  # the black square on a white page
    assert default_storage.exists(attachments.thumbnail_name(raw.sha256))  # made once, kept


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_not_decoded(editor, entry):
    large = _attach(editor, entry, "large.png", _png_declaring(9000, 9000))
    with pytest.raises(attachments.NoPreview, match="9000 x 9000 pixels, more than the 64,000,000"):
        attachments.thumbnail_png(large)
    bomb = _attach(editor, entry, "bomb.png", _png_declaring(100_000, 100_000))
    with pytest.raises(attachments.NoPreview, match="decompression bomb"):
        attachments.thumbnail_png(bomb)
    zeros = io.BytesIO()
    import tifffile

    tifffile.imwrite(zeros, np.zeros((4000, 4000), np.uint16), compression="zlib")
    tiff = _attach(editor, entry, "zeros.tif", zeros.getvalue())
    with pytest.raises(attachments.NoPreview, match="decompression bomb"):
        attachments.thumbnail_png(tiff)


def test_a_csv_gives_its_numeric_columns(editor, entry):
    names, data = attachments.csv_columns(_attach(editor, entry, "pl.csv", csv_bytes()))
    assert names == ["wavelength (nm)", "PL 0 % (counts)", "PL 17 % (counts)"]
    assert data.shape == (60, 3) and data[0, 0] == 600 and data[:, 1].max() == pytest.approx(1000)


def test_a_csv_without_two_numeric_columns_or_with_huge_rows_has_no_plot(editor, entry):
    words = _attach(editor, entry, "words.csv", b"name,formula\nmethylammonium chloride,CH3NH3Cl\n")
    with pytest.raises(attachments.NoPreview, match="no two numeric columns"):
        attachments.csv_columns(words)
    wide = _attach(editor, entry, "wide.csv", (",".join(["1"] * 100_000) + "\n").encode() * 3)
    names, data = attachments.csv_columns(wide)
    assert data.shape == (3, attachments.CSV_MAX_COLUMNS)
    huge = _attach(editor, entry, "huge.csv", b"a,b\n" + b"1," + b"9" * 200_000 + b"\n")
    with pytest.raises(attachments.NoPreview, match="not a readable table"):
        attachments.csv_columns(huge)


def test_an_instrument_s_latin_1_table_is_read_with_its_units(editor, entry):
    data = "Wellenlänge (nm);I (µW)\n500;1,5\n510;2,5\n".encode("cp1252")
    names, values = attachments.csv_columns(_attach(editor, entry, "spectrometer.csv", data))
    assert names == ["Wellenlänge (nm)", "I (µW)"] and values.tolist() == [[500, 1.5], [510, 2.5]]
