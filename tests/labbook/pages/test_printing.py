"""Print pages and their PDF (labbook.pages.printing): a batch, the 0/3/9/17 % treatment series, a
notebook entry; units, derived values, lineage, history and time stamps; members print (viewers
too), outsiders get 404."""

import io

import pytest
from django.urls import reverse

from labbook.notebook import services as notebook
from labbook.projects.models import Membership, Role
from labbook.synthesis import services as synthesis
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.factories import UserFactory
from tests.labbook.notebook.samples import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(series):
    return Synthesis.objects.get(project=series, code="MAPI-221003-POOL")


def _text(response) -> str:
    return response.content.decode()


def _pdf_text(data: bytes) -> str:
    """The text of every page (pypdfium2: PDFium reads what ReportLab wrote)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_a_batch_prints_with_units_derived_values_lineage_history_and_time_stamps(client, scientist, pool):
    portion = Synthesis.objects.get(project=pool.project, code="MAPI-221003-P2")
    synthesis.synthesis_update(
        user=scientist, batch=portion, version=portion.version, notes="kept cold", reason="fridge"
    )
    client.force_login(scientist)
    r = client.get(reverse("printing:batch", args=[portion.pk]))
    assert r.status_code == 200
    page = _text(r)
    assert (
        "Batch MAPI-221003-P2" in page and "<nav" not in page and 'class="top"' not in page
    )  # no navigation
    assert "4 mL" in page  # the portion's volume with its unit
    assert "iodide in MAPbI3" in page and "µmol" in page  # derived
    assert "MAPI-221003-POOL" in page and "25 % of the parent" in page  # lineage
    assert "fridge" in page and "scientist" in page and "notes:" in page  # history: who, why, what
    assert "created" in page and "last changed" in page and "(version 2)" in page
    assert "T-3Cl" in page  # the treatment of this portion
    assert "@media print" in (client.get("/static/pages/print.css").getvalue().decode())


def test_the_series_prints_every_treatment_of_the_pool_s_portions(client, scientist, pool):
    client.force_login(scientist)
    page = _text(client.get(reverse("printing:series", args=[pool.pk])))
    codes = ["T-0Cl", "T-3Cl", "T-9Cl", "T-17Cl"]
    positions = [page.index(f"<td>{c}</td>") for c in codes]
    assert positions == sorted(positions)  # 0, 3, 9, 17 %
    t17 = PostTreatment.objects.get(project=pool.project, code="T-17Cl")
    from labbook.units import format_quantity

    assert format_quantity(t17.cl_to_i, "percent") in page  # Cl:I as the treatment page shows it
    assert format_quantity(t17.solvent_fraction, "percent") in page  # ethanol/toluene
    assert "5 µL" in page and "MAPI-221003-P4" in page and "Chloride stocks" in page


def test_a_pdf_of_each_starts_with_pdf_and_names_the_record(client, scientist, pool):
    client.force_login(scientist)
    entry = notebook.entry_create(
        user=scientist,
        project=pool.project,
        title="Cl series printed",
        body="**CH~3~NH~3~PbI~3~** with x^2^ fit",
        batches=[pool],
        files=[("spot.png", io.BytesIO(png_bytes()))],
    )
    for name, pk, expected in [
        ("printing:batch", pool.pk, "MAPI-221003-POOL"),
        ("printing:series", pool.pk, "T-17Cl"),
        ("printing:entry", entry.pk, "Cl series printed"),
    ]:
        r = client.get(reverse(name, args=[pk]) + "?format=pdf")
        assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
        assert r.content.startswith(b"%PDF")
        text = _pdf_text(r.content)
        assert expected in text, text[:500]
    assert "MAPI-221003-POOL" in _pdf_text(
        client.get(reverse("printing:batch", args=[pool.pk]) + "?format=pdf").content
    )
    text = _pdf_text(client.get(reverse("printing:entry", args=[entry.pk]) + "?format=pdf").content)
    assert "CH3NH3PbI3" in "".join(text.split()), text  # the subscripts, set lower
    assert "spot.png" in text


def test_an_entry_prints_its_markdown_links_files_and_history(client, scientist, pool):
    entry = notebook.entry_create(
        user=scientist,
        project=pool.project,
        title="PL of the series",
        body="MAPb(I~1-x~Cl~x~)~3~ at 10^3^ W cm^-2^",
        batches=[pool],
        files=[("spot.png", io.BytesIO(png_bytes()))],
    )
    client.force_login(scientist)
    page = _text(client.get(reverse("printing:entry", args=[entry.pk])))
    assert "MAPb(I<sub>1-x</sub>Cl<sub>x</sub>)<sub>3</sub>" in page and "10<sup>3</sup>" in page
    assert "MAPI-221003-POOL" in page and "spot.png" in page
    assert reverse("files:raw-preview", args=[entry.raw_files.get().pk]) in page
    assert "attached with the entry" in page or "written on" in page or "created" in page
    detail = _text(client.get(reverse("notebook:entry-detail", args=[entry.pk])))
    assert reverse("printing:entry", args=[entry.pk]) in detail  # the print link on the entry page


def test_viewers_print_and_outsiders_get_404(client, pool):
    viewer = UserFactory(username="viewer")
    Membership.objects.create(project=pool.project, user=viewer, role=Role.VIEWER)
    entry = notebook.entry_create(
        user=pool.project.memberships.get(role=Role.ADMIN).user, project=pool.project, title="e"
    )
    urls = [
        reverse("printing:batch", args=[pool.pk]),
        reverse("printing:series", args=[pool.pk]),
        reverse("printing:entry", args=[entry.pk]),
    ]
    client.force_login(viewer)
    for url in urls:
        assert client.get(url).status_code == 200
        assert client.get(url + "?format=pdf").status_code == 200
    client.force_login(UserFactory(username="outsider"))
    for url in urls:
        assert client.get(url).status_code == 404
        assert client.get(url + "?format=pdf").status_code == 404
    client.logout()
    assert client.get(urls[0]).status_code == 302  # to the login page


def test_an_entry_with_a_file_without_preview_still_prints(client, scientist, pool):
    from tests.labbook.notebook.test_attachments import _png_declaring

    entry = notebook.entry_create(
        user=scientist,
        project=pool.project,
        title="with a bomb",
        files=[
            ("bomb.png", io.BytesIO(_png_declaring(100_000, 100_000))),
            ("ok.png", io.BytesIO(png_bytes())),
        ],
    )
    bomb, ok = entry.raw_files.get(original_name="bomb.png"), entry.raw_files.get(original_name="ok.png")
    client.force_login(scientist)
    page = _text(client.get(reverse("printing:entry", args=[entry.pk])))
    assert "bomb.png" in page and reverse("files:raw-preview", args=[bomb.pk]) not in page
    assert reverse("files:raw-preview", args=[ok.pk]) in page
    r = client.get(reverse("printing:entry", args=[entry.pk]) + "?format=pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and "bomb.png" in _pdf_text(r.content)
