"""Page weight: server time of the first page after login and of the API docs, cold and warm.

    .venv/bin/python benchmarks/page_weight.py

On the demo series in a fresh SQLite database (records only, no raw files: what these pages read), after
``collectstatic`` as ``make demo`` does, with DEBUG off, through Django's full request path (middleware,
sessions, templates, WhiteNoise) in one process:

- the login POST and the page it lands on (the dashboard), the first time in the process (cold: imports,
  URL resolver, template compilation) and then warm (median of 5);
- the API docs as a browser opens them: the HTML page plus the schema it fetches, cold and warm, and the
  schema generated without the per-process cache (drf-spectacular's own view), side by side;
- the bytes and Cache-Control of the static files these pages load (hashed names: a year, immutable).

Targets (issue 16): first page after login and the API docs under 1 s on a warm server.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="labbook-weight-"))
    os.environ.update(
        {
            "LABBOOK_VAR_DIR": str(work),
            "MEDIA_ROOT": str(work / "media"),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from drf_spectacular.views import SpectacularAPIView
    from rest_framework.test import APIRequestFactory, force_authenticate

    from labbook.demo import load_paper_series

    password = "bench-perovskite-123"
    user = get_user_model().objects.create_user(username="bench", password=password)
    load_paper_series(user=user, with_files=False)

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    client = Client()
    cold_login, r = timed(
        lambda: client.post("/accounts/login/", {"username": "bench", "password": password})
    )
    assert r.status_code == 302, r.status_code
    landing = r["Location"]
    cold_page, page = timed(lambda: client.get(landing))
    assert page.status_code == 200
    warm_page = statistics.median(timed(lambda: client.get(landing))[0] for _ in range(5))
    relogin = Client()
    warm_login = statistics.median(
        timed(lambda: relogin.post("/accounts/login/", {"username": "bench", "password": password}))[0]
        for _ in range(5)
    )

    def docs():
        html = client.get("/api/docs/")
        schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert html.status_code == schema.status_code == 200
        return len(html.content) + len(schema.content)

    cold_docs, docs_bytes = timed(docs)
    warm_docs = statistics.median(timed(docs)[0] for _ in range(5))
    plain = SpectacularAPIView.as_view()
    factory = APIRequestFactory()

    def uncached():
        request = factory.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        force_authenticate(request, user=user)
        response = plain(request)
        response.render()
        return response

    uncached_schema = statistics.median(timed(uncached)[0] for _ in range(3))

    print(f"first page after login ({landing}): login POST {cold_login * 1000:.0f} ms + page {cold_page * 1000:.0f} ms cold; "
          f"warm: login {warm_login * 1000:.0f} ms + page {warm_page * 1000:.0f} ms = "
          f"{(warm_login + warm_page) * 1000:.0f} ms   (target < 1000 ms warm)")  # fmt: skip
    print(f"API docs (page + schema, {docs_bytes / 1024:.0f} kB): {cold_docs * 1000:.0f} ms cold, "
          f"{warm_docs * 1000:.0f} ms warm   (target < 1000 ms warm); schema without the per-process "
          f"cache: {uncached_schema * 1000:.0f} ms every time, {uncached_schema / max(warm_docs, 1e-9):.0f}x")  # fmt: skip
    from django.contrib.staticfiles.storage import staticfiles_storage

    for name in ("bokeh/static/js/bokeh.min.js", "admin/css/base.css"):
        url = staticfiles_storage.url(name)
        r = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        body = b"".join(r.streaming_content) if r.streaming else r.content
        print(f"static {url}: {len(body) / 1024:.0f} kB gzip, Cache-Control: {r['Cache-Control']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
