"""``make demo``'s last step, ``manage.py serve_demo``: the site (DEBUG off, static files and BokehJS
through WhiteNoise) and a job worker together; one Ctrl-C (SIGINT) stops both."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from django.conf import settings

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import job_submit
from tests.labbook.deploy.test_worker_logs import _database_url
from tests.labbook.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _store(project, name):
    with (ROOT / "fixtures" / "demo" / name).open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=name)


def test_serve_demo_serves_runs_jobs_and_stops_on_one_ctrl_c():
    project = load_paper_series(user=UserFactory(), with_files=False)
    job = job_submit(
        kind="trpl",
        files={"decay": _store(project, "trpl_3pct_cl.csv"), "irf": _store(project, "trpl_irf.csv")},
        run=CharacterizationRun.objects.get(code="R-3Cl-TRPL"),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    env.pop("DEBUG", None)  # the demo's default: off
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve_demo", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 90
        while AnalysisJob.objects.get(pk=job.pk).status != JobStatus.SUCCEEDED:
            assert proc.poll() is None and time.monotonic() < end, "the demo's worker did not run the job"
            time.sleep(0.3)
        while True:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=30)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < end, "the demo's web server did not answer"
                time.sleep(0.3)
        assert page.status_code == 200
        bokeh = requests.get(f"http://127.0.0.1:{port}/static/bokeh/static/js/bokeh.min.js", timeout=30)
        assert bokeh.status_code == 200 and len(bokeh.content) > 100_000
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len([c for c in children if "manage.py" in " ".join(c.cmdline())]) == 2
    finally:
        proc.send_signal(
            signal.SIGINT
        )  # what a terminal's Ctrl-C sends (serve_demo's children are not in its group)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert f"job {job.pk} (trpl): succeeded" in out, out
    assert "Traceback" not in err, err
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
