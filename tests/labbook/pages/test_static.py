"""Static files: content-hashed names after collectstatic, served for a year; plain names before."""

import re

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.template.loader import render_to_string

pytestmark = pytest.mark.django_db

BOKEH = "bokeh/static/js/bokeh.min.js"


def test_without_collectstatic_the_plain_names_are_served_by_the_finders(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "empty"
    (tmp_path / "empty").mkdir()
    assert staticfiles_storage.url(BOKEH) == f"/static/{BOKEH}"
    r = client.get(f"/static/{BOKEH}")
    assert r.status_code == 200 and "immutable" not in r["Cache-Control"]


def test_collectstatic_gives_hashed_names_that_browsers_keep_for_a_year(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--no-input", "-v", "0")
    url = staticfiles_storage.url(BOKEH)
    assert re.fullmatch(r"/static/bokeh/static/js/bokeh\.min\.[0-9a-f]{12}\.js", url), url
    assert url in render_to_string("bokeh_js.html")  # what every plot page loads
    r = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert r.status_code == 200 and r["Content-Encoding"] == "gzip"
    cache = r["Cache-Control"]
    assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 365 * 24 * 3600
    admin_css = staticfiles_storage.url("admin/css/base.css")
    assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", admin_css)
    assert "immutable" in client.get(admin_css)["Cache-Control"]


def test_the_favicon_is_served_at_the_root_and_linked_from_every_page(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "empty"
    (tmp_path / "empty").mkdir()
    r = client.get("/favicon.ico")
    assert r.status_code == 302 and r["Location"] == "/static/pages/favicon.ico"
    icon = client.get(r["Location"])
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert icon.status_code == 200 and body[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert (
        '<link rel="icon" href="/static/pages/favicon.ico">'
        in client.get("/accounts/login/").content.decode()
    )
