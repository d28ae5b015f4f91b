"""Live analysis work on the pages, in a real headless Chromium with the real job worker process
(``manage.py jobs_worker``) on the test database (issue 15 item 7).

A run's page is opened while its analysis is queued; the worker is then started: the job's row
moves from queued through running to succeeded without the page being reloaded (a marker set in
the page survives), the result links appear, and the console stays clean. A bad file queued while
the page is open fails live, naming the file as uploaded (not its checksum). The dashboard shows
the worker alive and the counts of queued, running and failed jobs, and says when no worker is
alive. Screenshots in test-artifacts/pages/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from analysis import simulate
from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, WorkerHeartbeat
from labbook.jobs.services import job_submit
from tests.labbook.browser import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    Console,
    log_in,
    require_chromium,
    start_worker,
    stop_worker,
)
from tests.labbook.factories import UserFactory

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _store(project, path: Path):
    with path.open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=path.name)


# --- the JSON the pages poll ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=False)
def test_the_polled_json_is_scoped_to_the_user_and_never_cached(client, tmp_path):
    owner = UserFactory(username="owner")
    project = load_paper_series(user=owner, with_files=False)
    run = CharacterizationRun.objects.get(project=project, code="R-3Cl-BLINK")
    empty = tmp_path / "empty movie.tif"
    empty.write_bytes(b"")
    job = job_submit(kind="blinking", files={"movie": _store(project, empty)}, run=run, user=owner)
    url = reverse("characterization:run-jobs", args=[run.pk])
    r = client.get(url)
    assert r.status_code == 302 and r["Location"].startswith(reverse("login"))  # logged out
    client.force_login(UserFactory(username="stranger"))  # no membership in the project
    assert client.get(url).status_code == 404
    status = client.get(reverse("pages:jobs-status")).json()
    assert status["counts"] == {"queued": 0, "running": 0, "failed": 0} and status["active_jobs"] == []
    client.force_login(owner)
    r = client.get(url)
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    body = r.json()
    assert body["active"] is True and body["workers_alive"] == 0
    assert body["jobs"] == [
        {
            "id": job.pk,
            "kind": "blinking",
            "kind_display": "single-particle blinking and correlation",
            "status": "queued",
            "progress": 0.0,
            "percent": 0,
            "message": "",
            "error": "",
            "finished_at": "",
            "results": [],
        }
    ]
    status = client.get(reverse("pages:jobs-status"))
    assert status["Cache-Control"] == "no-store"
    assert status.json()["counts"] == {"queued": 1, "running": 0, "failed": 0}
    assert status.json()["active_jobs"][0]["url"] == reverse("characterization:run-detail", args=[run.pk])


# Records every state a job's row shows, and counts page loads (a reload would reset the marker).
WATCH_ROW = """(id) => {
    window.__live = { marker: 'set before the worker started', seen: [] };
    const row = () => document.querySelector(`#jobs tr[data-job-id="${id}"]`);
    const note = () => {
        const tr = row();
        if (!tr) return;
        const bar = tr.querySelector('[role=progressbar]');
        const state = tr.dataset.status + ':' + (bar ? bar.getAttribute('aria-valuenow') : '-');
        const seen = window.__live.seen;
        if (seen[seen.length - 1] !== state) seen.push(state);
    };
    note();
    new MutationObserver(note).observe(document.getElementById('jobs'),
        { subtree: true, childList: true, attributes: true, characterData: true });
}"""


def test_analysis_progress_moves_on_the_page_without_a_reload(live_server, monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = UserFactory(username="scientist")
    project = load_paper_series(user=user, with_files=False)
    WorkerHeartbeat.objects.all().delete()
    run = CharacterizationRun.objects.get(code="R-0Cl-BLINK")
    movie = tmp_path / "MAPI 0 % Cl, field 3.tif"
    simulate.write_movie_tiff(
        movie,
        simulate.simulate_movie(
            8000, (48, 48), n_particles=4, kinds=("qTSB", "BB"), edge_px=(3,), spacing_px=8, seed=5,
            alpha_on=1.0, alpha_off=1.0, mu_on_per_s=0.3, mu_off_per_s=0.3,
        ),
    )  # fmt: skip
    raw = _store(project, movie)
    # small chunks: the job reports its progress many times (at most every 0.5 s) while the page watches
    job = job_submit(
        kind="blinking", files={"movie": raw}, run=run, user=user, parameters={"chunk_frames": 25}
    )
    url = live_server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    worker = None
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console = Console(page, url)
        page.set_default_timeout(30_000)
        log_in(page, url, "scientist")

        # the dashboard without a worker: it says so, and counts the queued job
        assert page.locator("#no-worker").is_visible()
        assert "No job worker" in page.inner_text("#worker-status")
        assert page.inner_text('[data-count="queued"]') == "1"
        page.screenshot(path=str(ARTIFACTS / "live-01-dashboard-no-worker.png"), full_page=True)

        page.goto(f"{url}{reverse('characterization:run-detail', args=[run.pk])}")
        row = f'#jobs tr[data-job-id="{job.pk}"]'
        assert page.get_attribute(row, "data-status") == "queued"
        page.evaluate(WATCH_ROW, job.pk)
        try:
            worker = start_worker()
            # the worker's heartbeat hides the banner, its progress moves the bar: no reload
            page.wait_for_function("() => document.getElementById('no-worker').hidden", timeout=120_000)
            try:
                page.wait_for_function(
                    f"""() => {{
                        const tr = document.querySelector('{row}');
                        const bar = tr.querySelector('[role=progressbar]');
                        const n = bar ? Number(bar.getAttribute('aria-valuenow')) : 0;
                        return n > 0 && n < 100 || !['queued', 'running'].includes(tr.dataset.status);
                    }}""",
                    timeout=240_000,
                )
                page.screenshot(path=str(ARTIFACTS / "live-02-run-progress.png"), full_page=True)
                page.wait_for_function(
                    f"() => !['queued', 'running'].includes(document.querySelector('{row}').dataset.status)",
                    timeout=300_000,
                )
            except playwright.Error as exc:
                fresh = AnalysisJob.objects.get(pk=job.pk)
                raise AssertionError(
                    f"{exc}\njob {fresh.status} {fresh.progress}: {fresh.log}\nseen: "
                    f"{page.evaluate('() => window.__live')}\nworker: {stop_worker(worker)}"
                ) from None
            assert page.get_attribute(row, "data-status") == "succeeded", AnalysisJob.objects.get(
                pk=job.pk
            ).log
            live = page.evaluate("() => window.__live")
            assert live["marker"] == "set before the worker started"  # the same page: not reloaded
            seen = live["seen"]
            assert seen[0] == "queued:0" and seen[-1] == "succeeded:-", seen
            percents = [int(s.split(":")[1]) for s in seen if s.startswith("running:")]
            assert any(0 < p < 100 for p in percents), (seen, AnalysisJob.objects.get(pk=job.pk).log)  # moved

            assert percents == sorted(percents), seen  # forward only
            # the results are linked once done
            links = page.locator(f"{row} .job-results a")
            assert links.count() == 3
            n = AnalysisJob.objects.get(pk=job.pk).blinkinganalysis.n_particles
            assert f"{n} particles" in page.inner_text(f"{row} .job-results")
            page.screenshot(path=str(ARTIFACTS / "live-03-run-done.png"), full_page=True)
            console.check("run page while the job ran")

            # polling stops once nothing is active: no request for the JSON in the next 4 s
            polled = []
            page.on("request", lambda r: "jobs.json" in r.url and polled.append(r.url))
            page.wait_for_timeout(4000)
            assert polled == []

            # "results on this page" loads the page again, now with the analysis' results
            page.click(f"{row} .job-results a:text('results on this page')")
            page.wait_for_url(f"**?job={job.pk}#results")
            assert page.evaluate("() => window.__live === undefined")  # a new load of the page
            assert page.inner_text("#results + table tr:nth-child(2) td") == str(n)  # particles
            assert page.locator(f"{row} .job-results a").count() == 3  # the links, drawn by the server

            # a bad file queued while another run's page is open fails live, naming the file
            other = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
            page.goto(f"{url}{reverse('characterization:run-detail', args=[other.pk])}")
            bad_path = tmp_path / "bench movie (truncated).tif"
            bad_path.write_bytes(b"")
            bad_raw = _store(project, bad_path)
            bad = job_submit(kind="blinking", files={"movie": bad_raw}, run=other, user=user)
            page.evaluate("() => document.getElementById('jobs').dispatchEvent(new Event('labbook:poll'))")
            bad_row = f'#jobs tr[data-job-id="{bad.pk}"]'
            page.wait_for_selector(f'{bad_row}[data-status="failed"] .job-error', timeout=120_000)
            error = page.inner_text(f"{bad_row} .job-error")
            assert error.startswith("bench movie (truncated).tif: ") and bad_raw.sha256 not in error, error
            page.screenshot(path=str(ARTIFACTS / "live-04-run-failed.png"), full_page=True)

            # the dashboard: a worker alive, nothing queued or running, one failure
            page.goto(f"{url}{reverse('pages:dashboard')}")
            assert "1 job worker alive" in page.inner_text("#worker-status")
            assert not page.locator("#no-worker").is_visible()
            counts = {k: page.inner_text(f'[data-count="{k}"]') for k in ("queued", "running", "failed")}
            assert counts == {"queued": "0", "running": "0", "failed": "1"}
            assert "bench movie (truncated).tif" in page.inner_text("#recent-jobs")
            page.screenshot(path=str(ARTIFACTS / "live-05-dashboard-worker.png"), full_page=True)
            console.check("dashboard")
        finally:
            if worker is not None:
                out = stop_worker(worker)
                assert worker.returncode == 0, out
        # the worker stopped cleanly (its heartbeat row removed): the dashboard says so within a poll
        page.wait_for_function("() => !document.getElementById('no-worker').hidden", timeout=30_000)
        assert page.inner_text("#no-worker").startswith("No analysis worker is running")
        assert "No job worker" in page.inner_text("#worker-status")
        console.check("dashboard after the worker stopped")
        browser.close()
