"""README "Production", started for real: the settings of deploy/labbook.env.example (DEBUG off,
HTTPS behind a proxy), PostgreSQL (a fresh database, dropped at the end), migrate, collectstatic,
gunicorn with deploy/gunicorn.conf.py and one job worker on 127.0.0.1; a user logs in through the API,
uploads a decay and its IRF to a run, starts the analysis and waits for its result."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PG = "postgresql://postgres@127.0.0.1:5432"
# What the proxy of deploy/nginx-labbook.conf adds to every request.
HTTPS = {"X-Forwarded-Proto": "https"}

pytestmark = pytest.mark.slow


def documented_env() -> dict[str, str]:
    """deploy/labbook.env.example as systemd reads it (KEY=VALUE lines; # starts a comment line)."""
    env = {}
    for line in (DEPLOY / "labbook.env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _postgres_up() -> None:
    """.ci/run starts PostgreSQL when it is down; so does this test, rather than skipping."""
    ready = ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]
    if subprocess.run(ready).returncode == 0:
        return
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False)
    for _ in range(30):
        if subprocess.run(ready).returncode == 0:
            return
        time.sleep(1)
    pytest.fail("PostgreSQL is not running at 127.0.0.1:5432 and could not be started")


@pytest.fixture
def database():
    import psycopg

    _postgres_up()
    name = f"labbook_deploy_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, env, timeout=120) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _stop(proc: subprocess.Popen, timeout: float = 40) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_production_setup_serves_and_analyses(database, tmp_path):
    started = time.monotonic()
    port = _free_port()
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ", "PYTHONPATH"}}
    env = {
        **keep,
        **documented_env(),
        # What the README says to fill in for a site, here on 127.0.0.1:
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database,
        "LABBOOK_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "LABBOOK_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    assert env["DEBUG"] == "0" and env["LABBOOK_HTTPS"] == "1"
    manage = [sys.executable, "manage.py"]

    # The set-up steps of README "Production" (collectstatic and the deploy check beside the database).
    side = [
        subprocess.Popen(
            [*manage, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for args in (
            ["collectstatic", "--no-input", "-v", "0"],
            ["check", "--deploy", "--fail-level", "WARNING"],
        )
    ]
    _run([*manage, "migrate", "--no-input", "-v", "0"], env)
    _run([*manage, "load_demo", "--no-files"], env)  # the demo user and the paper's records, no files
    for proc in side:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{proc.args}:\n{out}"
        if "check" in proc.args:
            assert "System check identified no issues" in out, out
    assert (tmp_path / "static" / "bokeh" / "static" / "js" / "bokeh.min.js.gz").exists()

    logs = {name: (tmp_path / f"{name}.log").open("w+") for name in ("web", "worker")}
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=logs["web"],
    )  # fmt: skip
    worker = subprocess.Popen(
        [*manage, "jobs_worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=logs["worker"],
        stderr=logs["worker"],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            assert web.poll() is None, "gunicorn exited"
            try:
                if requests.get(f"{base}/accounts/login/", headers=HTTPS, timeout=30).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < end, "gunicorn did not answer within 60 s"
            time.sleep(0.2)

        # Plain http is sent to https; through the proxy, HSTS and no debug pages.
        r = requests.get(f"{base}/", allow_redirects=False, timeout=10)
        assert r.status_code == 301 and r.headers["Location"].startswith("https://"), r.status_code
        r = requests.get(f"{base}/no-such-page/", headers=HTTPS, timeout=10)
        assert r.status_code == 404 and "Traceback" not in r.text and "DEBUG = True" not in r.text
        assert "max-age=31536000" in r.headers["Strict-Transport-Security"]
        # Static files from collectstatic, compressed, through WhiteNoise.
        r = requests.get(
            f"{base}/static/bokeh/static/js/bokeh.min.js",
            headers={**HTTPS, "Accept-Encoding": "gzip"},
            timeout=10,
        )
        assert (
            r.status_code == 200 and r.headers.get("Content-Encoding") == "gzip" and len(r.content) > 100_000
        )

        # Log in, upload a decay and its IRF to a run, start its analysis, wait for the result.
        r = requests.post(
            f"{base}/api/auth/token/",
            json={"username": "demo", "password": "demo-perovskite"},
            headers=HTTPS,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        api = requests.Session()
        api.headers.update({**HTTPS, "Authorization": f"Token {r.json()['token']}"})
        [run] = api.get(f"{base}/api/runs/", params={"code": "R-3Cl-TRPL"}, timeout=10).json()["results"]
        project = run["project"]["id"] if isinstance(run["project"], dict) else run["project"]
        for name in ("trpl_3pct_cl.csv", "trpl_irf.csv"):
            with (ROOT / "fixtures" / "demo" / name).open("rb") as fh:
                r = api.post(
                    f"{base}/api/files/",
                    data={"project": project, "run": run["id"]},
                    files={"file": (name, fh)},
                    timeout=30,
                )
            assert r.status_code == 201, r.text
        r = api.post(f"{base}/api/jobs/", json={"run": run["id"]}, timeout=30)
        assert r.status_code == 201, r.text
        job_url = f"{base}/api/jobs/{r.json()['id']}/"
        end = time.monotonic() + 60
        while (job := api.get(job_url, timeout=10).json())["status"] in ("queued", "running"):
            assert worker.poll() is None, "the job worker exited"
            assert time.monotonic() < end, f"the job did not finish within 60 s: {job}"
            time.sleep(0.3)
        assert job["status"] == "succeeded", job
        assert job["kind"] == "trpl"
    finally:
        _stop(worker)
        _stop(web)
    for log in logs.values():
        log.seek(0)
    worker_log, web_log = logs["worker"].read(), logs["web"].read()
    assert worker.returncode == 0 and web.returncode == 0, worker_log + web_log
    assert "Traceback" not in worker_log and "Traceback" not in web_log, worker_log + web_log
    assert "(trpl): succeeded" in worker_log, worker_log
    print(f"production set-up: {time.monotonic() - started:.1f} s")
