"""The bench pages' "CSV" and "Excel" buttons are links to the API list with the same filters
(``/api/<records>/?<filters>&format=csv``): a member logged in through the login page, in a real
headless Chromium, downloads both with the session cookie alone (no token)."""

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from labbook.demo import load_paper_series
from labbook.projects.models import Membership, Role
from labbook.synthesis.models import PostTreatment
from tests.labbook.browser import ARGS, CHROMIUM, require_chromium
from tests.labbook.factories import UserFactory

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLICK = (
    "(href) => { const a = document.createElement('a'); a.href = href; document.body.append(a); a.click(); }"
)


def test_a_logged_in_member_downloads_csv_and_excel_in_chromium(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    owner = UserFactory(username="owner")
    project = load_paper_series(user=owner, with_files=False)
    viewer = UserFactory(username="bench-viewer")
    viewer.set_password("pw-for-the-browser")
    viewer.save()
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
    expected = sorted(
        PostTreatment.objects.filter(project=project, nominal_cl_percent=3).values_list("code", flat=True)
    )
    assert expected
    query = "/api/treatments/?nominal_cl_percent=3"

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/accounts/login/?next=/")
        page.fill("#id_username", "bench-viewer")
        page.fill("#id_password", "pw-for-the-browser")
        page.click("[type=submit]")
        page.wait_for_load_state()
        assert any(c["name"] == "sessionid" for c in context.cookies())

        with page.expect_download() as csv_download:
            page.evaluate(CLICK, f"{query}&format=csv")
        assert csv_download.value.suggested_filename == "treatments.csv"
        text = Path(csv_download.value.path()).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(r["code"] for r in rows) == expected
        assert "volume added (uL)" in rows[0] and "Cl:I (%)" in rows[0]

        with page.expect_download() as xlsx_download:
            page.evaluate(CLICK, f"{query}&format=xlsx")
        assert xlsx_download.value.suggested_filename == "treatments.xlsx"
        book = openpyxl.load_workbook(
            io.BytesIO(Path(xlsx_download.value.path()).read_bytes()), read_only=True
        )
        header, *values = book.active.iter_rows(values_only=True)
        assert sorted(dict(zip(header, v, strict=True))["code"] for v in values) == expected

        # logged out, the same link gives no file
        context.clear_cookies()
        response = page.request.get(f"{live_server.url}{query}&format=csv")
        assert response.status in (401, 403) and b"code" not in response.body()
        browser.close()
