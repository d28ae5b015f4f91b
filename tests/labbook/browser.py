"""What the headless-Chromium page tests share: where Chromium is, how it is started, a loud
failure (not a skip) when `make test` did not install it, the Console that fails a test on any console
error, failed request or request to another host, logging in, and the real job worker process
(``manage.py jobs_worker`` on the test database) for tests that watch analyses run."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

ROOT = Path(settings.BASE_DIR)
ARTIFACTS = ROOT / "test-artifacts" / "pages"  # screenshots (gitignored): look at them
PASSWORD = "pw-for-tests"  # tests.labbook.factories.UserFactory's

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Quiet Chromium: no component updates, sync, field trials or QUIC probes that would touch the network.
ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def require_chromium() -> None:
    """Call at import time of a browser test module: `make test` installs Chromium; say so if absent."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium chromium-driver", pytrace=False
        )


class Console:
    """Console errors (and warnings, unless ``warnings=False``), page errors, failed requests, HTTP
    errors, and requests to any host but the test server: ``check()`` fails the test on any."""

    def __init__(self, page, server_url: str, *, warnings: bool = True):
        self.host = urlsplit(server_url).hostname
        self.errors: list[str] = []
        kinds = ("error", "warning") if warnings else ("error",)
        page.on("console", lambda m: m.type in kinds and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))
        page.on("request", self._request)

    def _request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob", "about") and parts.hostname not in {
            self.host,
            "localhost",
            "127.0.0.1",
        }:
            self.errors.append(f"network: {request.url}")

    def check(self, where: str):
        assert not self.errors, f"{where}: {self.errors}"


def log_in(page, url: str, username: str) -> None:
    page.goto(f"{url}{reverse('pages:dashboard')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Recent batches")
    page.wait_for_load_state("load")  # the dashboard's scripts too: a goto now would abort them


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker() -> subprocess.Popen:
    """The real job worker on the test database (a transactional test's, so it sees the rows)."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JOB_HEARTBEAT_S": "0.5",
        "DEBUG": "0",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "jobs_worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_worker(proc: subprocess.Popen) -> str:
    """SIGTERM (the worker finishes its job), then its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out
