"""Attachments on the notebook pages: several files at once on the entry page and the new-entry
form (real multipart uploads), their previews (thumbnails served by files:raw-preview, a CSV as a
Bokeh plot, a text's first lines), roles, the freeze, and downloads under the same checks."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from labbook.archives.services import project_freeze
from labbook.files.models import RawFile
from labbook.notebook import services as notebook
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Membership, Role
from tests.labbook.factories import UserFactory
from tests.labbook.notebook.samples import csv_bytes, jpeg_bytes, pdf_bytes, png_bytes, tiff_movie_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(scientist, series):
    return notebook.entry_create(user=scientist, project=series, title="PL of the 17 % portion", body="x^2^")


def _files():
    return [
        SimpleUploadedFile("spot.png", png_bytes(), content_type="image/png"),
        SimpleUploadedFile("movie.tif", tiff_movie_bytes(), content_type="image/tiff"),
        SimpleUploadedFile("report.pdf", pdf_bytes(), content_type="application/pdf"),
        SimpleUploadedFile("pl.csv", csv_bytes(), content_type="text/csv"),
        SimpleUploadedFile("notes.txt", b"stirred 30 min at 600 rpm\n", content_type="text/plain"),
    ]


def test_several_files_attached_on_the_entry_page_show_their_previews(client, scientist, entry):
    client.force_login(scientist)
    url = reverse("notebook:entry-detail", args=[entry.pk])
    page = client.get(url).content.decode()
    assert 'id="attach-form"' in page and 'enctype="multipart/form-data"' in page and "notebook.js" in page
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": _files()})
    assert r.status_code == 302 and r["Location"] == url
    raws = {r.original_name: r for r in entry.raw_files.all()}
    assert set(raws) == {"spot.png", "movie.tif", "report.pdf", "pl.csv", "notes.txt"}
    page = client.get(url).content.decode()
    assert "attached spot.png" in page  # the message names the files
    for name in ["spot.png", "movie.tif", "report.pdf"]:
        assert f'src="{reverse("files:raw-preview", args=[raws[name].pk])}"' in page
    assert "bokeh.min.js" in page and "Bokeh.embed" in page  # the CSV's plot, with BokehJS from static
    assert "PL 17 % (counts)" in page
    assert "stirred 30 min at 600 rpm" in page  # the text's first lines
    assert f'href="{reverse("files:raw-download", args=[raws["pl.csv"].pk])}"' in page
    for name in ["spot.png", "movie.tif", "report.pdf"]:
        r = client.get(reverse("files:raw-preview", args=[raws[name].pk]))
        assert r.status_code == 200 and r["Content-Type"] == "image/png"
        assert max(Image.open(io.BytesIO(r.content)).size) <= 320
    r = client.get(reverse("files:raw-preview", args=[raws["pl.csv"].pk]))
    assert r.status_code == 404 and b"no preview" in r.content
    download = client.get(reverse("files:raw-download", args=[raws["spot.png"].pk]))
    assert b"".join(download.streaming_content) == png_bytes()
    history = entry.history.first()
    assert history.history_user == scientist and history.history_change_reason == "attached on the entry page"


def test_a_refused_file_is_named_and_nothing_is_attached(client, scientist, entry):
    client.force_login(scientist)
    files = [
        SimpleUploadedFile("spot.png", png_bytes()),
        SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 not a photo", content_type="image/jpeg"),
    ]
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": files}, follow=True)
    page = r.content.decode()
    assert r.status_code == 200 and "nothing was attached" in page and "photo.jpg" in page
    assert not entry.raw_files.exists() and RawFile.objects.filter(project=entry.project).count() == 0
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {}, follow=True)
    assert "no file to attach" in r.content.decode()


def test_the_new_entry_form_takes_files_all_or_nothing(client, scientist, series):
    client.force_login(scientist)
    url = reverse("notebook:entry-create")
    page = client.get(url).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page and "multiple" in page
    data = {"project": series.pk, "title": "with a fake PDF", "body": "CH~3~NH~3~PbI~3~"}
    r = client.post(url, {**data, "files": [SimpleUploadedFile("fake.pdf", png_bytes())]})
    assert r.status_code == 200
    page = r.content.decode()
    assert "nothing was saved" in page and "named as a PDF, but its content is a PNG image" in page
    assert not NotebookEntry.objects.filter(title="with a fake PDF").exists()
    files = [SimpleUploadedFile("photo.jpg", jpeg_bytes()), SimpleUploadedFile("pl.csv", csv_bytes())]
    r = client.post(url, {**data, "title": "with photos", "files": files})
    assert r.status_code == 302
    entry = NotebookEntry.objects.get(title="with photos")
    assert sorted(f.original_name for f in entry.raw_files.all()) == ["photo.jpg", "pl.csv"]
    page = client.get(r["Location"]).content.decode()
    assert "CH<sub>3</sub>NH<sub>3</sub>PbI<sub>3</sub>" in page


def test_viewers_see_previews_but_cannot_attach_and_outsiders_see_nothing(client, scientist, entry):
    (raw,) = notebook.entry_files_attach(
        user=scientist, entry=entry, files=[("spot.png", io.BytesIO(png_bytes()))]
    )
    viewer = UserFactory(username="viewer")
    Membership.objects.create(project=entry.project, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("notebook:entry-detail", args=[entry.pk])).content.decode()
    assert reverse("files:raw-preview", args=[raw.pk]) in page and 'id="attach-form"' not in page
    assert client.get(reverse("files:raw-preview", args=[raw.pk])).status_code == 200
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": _files()[:1]})
    assert r.status_code == 403 and entry.raw_files.count() == 1
    client.force_login(UserFactory(username="outsider"))
    for url in [
        reverse("notebook:entry-detail", args=[entry.pk]),
        reverse("files:raw-preview", args=[raw.pk]),
        reverse("files:raw-download", args=[raw.pk]),
    ]:
        assert client.get(url).status_code == 404
    assert (
        client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": _files()[:1]}).status_code
        == 404
    )


def test_a_decompression_bomb_is_listed_without_a_preview(client, scientist, entry):
    from tests.labbook.notebook.test_attachments import _png_declaring

    (raw,) = notebook.entry_files_attach(
        user=scientist, entry=entry, files=[("bomb.png", io.BytesIO(_png_declaring(100_000, 100_000)))]
    )
    client.force_login(scientist)
    page = client.get(reverse("notebook:entry-detail", args=[entry.pk])).content.decode()
    assert "no preview: the image declares too many pixels (a decompression bomb?)" in page
    assert reverse("files:raw-preview", args=[raw.pk]) not in page  # no broken image on the page
    assert reverse("files:raw-download", args=[raw.pk]) in page


def test_a_frozen_project_shows_no_attach_box_and_refuses_attaching(client, scientist, entry):
    project_freeze(project=entry.project, user=scientist, reason="published")
    client.force_login(scientist)
    page = client.get(reverse("notebook:entry-detail", args=[entry.pk])).content.decode()
    assert 'id="attach-form"' not in page
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": _files()[:1]})
    assert r.status_code == 403 and b"frozen" in r.content
    assert not entry.raw_files.exists()


# --- in headless Chromium ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_dropping_files_on_an_entry_shows_their_previews_in_chromium(live_server, monkeypatch):
    import base64

    from tests.labbook.browser import ARGS, CHROMIUM, require_chromium
    from tests.labbook.pages.conftest import PASSWORD
    from tests.labbook.pages.test_browser import ARTIFACTS, Watch, _bokeh_rendered

    require_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from labbook.demo import load_paper_series

    user = UserFactory(username="scientist")
    project = load_paper_series(user=user, with_files=False)
    entry = notebook.entry_create(
        user=user, project=project, title="PL of CH3NH3PbI3", body="**CH~3~NH~3~PbI~3~**, x^2^"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    dropped = [
        {"name": "spot.png", "type": "image/png", "b64": base64.b64encode(png_bytes(160, 120)).decode()},
        {"name": "pl.csv", "type": "text/csv", "b64": base64.b64encode(csv_bytes()).decode()},
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = Watch(page, url)
        page.set_default_timeout(30_000)
        page.goto(f"{url}{reverse('login')}")
        page.fill("#id_username", "scientist")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Recent batches")
        page.wait_for_load_state("load")  # the dashboard's jobs.js too: a goto now would abort it
        page.goto(f"{url}{reverse('notebook:entry-detail', args=[entry.pk])}")
        assert page.inner_html("article.markdown").count("<sub>3</sub>") == 3
        assert page.locator("#attachments").inner_text() == "no files attached"

        # two files dropped on the drop zone at once: it submits them
        transfer = page.evaluate_handle(
            """(files) => {
                const dt = new DataTransfer();
                for (const f of files) {
                    const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                    dt.items.add(new File([bytes], f.name, {type: f.type}));
                }
                return dt;
            }""",
            dropped,
        )
        with page.expect_navigation():
            page.dispatch_event("#attach-form", "dragover", {"dataTransfer": transfer})
            page.dispatch_event("#attach-form", "drop", {"dataTransfer": transfer})
        message = page.inner_text(".messages")
        assert "attached" in message and "spot.png" in message and "pl.csv" in message, message
        assert sorted(f.original_name for f in entry.raw_files.all()) == ["pl.csv", "spot.png"]
        assert _bokeh_rendered(page, 1) == 1  # the CSV's plot

        # two more through the file input: a TIFF movie and a PDF
        page.set_input_files(
            "#attach-form input[type=file]",
            [
                {"name": "movie.tif", "mimeType": "image/tiff", "buffer": tiff_movie_bytes()},
                {"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()},
            ],
        )
        assert "movie.tif, report.pdf" in page.inner_text("#attach-form")
        with page.expect_navigation():
            page.click("#attach-form button[type=submit]")
        page.wait_for_selector("figure[data-name='report.pdf'] img")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.attachment img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        sizes = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.attachment')].map("
            "f => [f.dataset.name, f.querySelector('img') ? f.querySelector('img').naturalWidth : null]))"
        )
        assert sizes["spot.png"] == 160 and sizes["movie.tif"] == 40 and 0 < sizes["report.pdf"] <= 320
        assert _bokeh_rendered(page, 1) == 1
        page.screenshot(path=str(ARTIFACTS / "notebook-attachments.png"), full_page=True)
        watch.check("entry page with attachments")

        # the new-entry form: two files dropped on it join the form, saved with the entry
        page.goto(f"{url}{reverse('notebook:entry-create')}")
        page.select_option("#id_project", str(project.pk))
        page.fill("#id_title", "Photos of the 17 % film")
        photos = page.evaluate_handle(
            """(files) => {
                const dt = new DataTransfer();
                for (const f of files) {
                    const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                    dt.items.add(new File([bytes], f.name, {type: f.type}));
                }
                return dt;
            }""",
            [
                {
                    "name": "film.jpg",
                    "type": "image/jpeg",
                    "b64": base64.b64encode(jpeg_bytes(640, 480)).decode(),
                },
                {
                    "name": "film.png",
                    "type": "image/png",
                    "b64": base64.b64encode(png_bytes(90, 60)).decode(),
                },
            ],
        )
        page.dispatch_event("#entry-form", "drop", {"dataTransfer": photos})
        assert "film.jpg, film.png" in page.inner_text("#entry-form")
        with page.expect_navigation():
            page.click("#entry-form button[type=submit]")
        page.wait_for_selector("figure[data-name='film.png'] img")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.attachment img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        new = NotebookEntry.objects.get(title="Photos of the 17 % film")
        assert sorted(f.original_name for f in new.raw_files.all()) == ["film.jpg", "film.png"]
        page.screenshot(path=str(ARTIFACTS / "notebook-new-entry-with-files.png"), full_page=True)
        watch.check("new entry with files")

        # the first entry's print page, as printed (no navigation, no toolbar)
        page.goto(f"{url}{reverse('notebook:entry-detail', args=[entry.pk])}")
        page.click("a.button:text-is('Print')")  # in the record actions (templates/records/)
        page.wait_for_selector("h1:text('PL of CH3NH3PbI3')")
        page.wait_for_load_state("load")  # print.css applied (a slow run reached here before it)
        page.emulate_media(media="print")
        page.wait_for_function(
            "() => getComputedStyle(document.querySelector('.toolbar')).display === 'none'"
        )
        assert not page.locator(".toolbar").is_visible() and page.locator("header.top").count() == 0
        page.screenshot(path=str(ARTIFACTS / "notebook-print.png"), full_page=True)
        watch.check("print page")
        browser.close()
