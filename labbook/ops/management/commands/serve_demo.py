"""``manage.py serve_demo [ADDR:PORT]``: the whole system for a demo in one command (``make demo``).

Starts the web server (Django's runserver, DEBUG stays as set: off by default; WhiteNoise serves the
static files and BokehJS) and ``--workers`` job workers, each in its own session so that a terminal's
Ctrl-C reaches only this process, which then stops them in order: the web server at once, the workers
with SIGTERM (a worker finishes the job it is running, up to ``--grace`` seconds, then is killed; its
job is re-queued by the next worker's stale-job sweep). If either side dies, the other is stopped too.
Production runs them as separate services instead (README "Production").
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the site and run job workers together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="ADDR:PORT to serve on")
        parser.add_argument("--workers", type=int, default=1, help="job workers to run (default 1)")
        parser.add_argument(
            "--grace", type=float, default=30.0, help="seconds a stopping worker may finish its job"
        )

    def handle(self, *args, addrport, workers, grace, verbosity, **options):
        if workers < 0:
            raise CommandError("--workers must be 0 or more")
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        stopping = []

        def on_signal(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        children = []
        try:
            for _ in range(workers):
                worker = subprocess.Popen([*manage, "jobs_worker"], start_new_session=True)
                children.append(("job worker", worker))
            web = subprocess.Popen([*manage, "runserver", "--noreload", addrport], start_new_session=True)
            children.insert(0, ("web server", web))
            url = f"http://{addrport if ':' in addrport else '127.0.0.1:' + addrport}/"
            self.stdout.write(
                f"serving labbook at {url} (admin at {url}admin/) with {workers} job "
                f"worker{'s' * (workers != 1)}; Ctrl-C stops them all"
            )
            while not stopping:
                dead = [(name, p.returncode) for name, p in children if p.poll() is not None]
                if dead:
                    name, code = dead[0]
                    self.stderr.write(f"the {name} stopped (exit {code}); stopping the rest")
                    break
                time.sleep(0.3)
        finally:
            self._stop(children, grace)
        if not stopping and any(p.returncode for _, p in children):
            sys.exit(1)

    def _stop(self, children, grace):
        for _, p in children:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        for name, p in children:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"the {name} did not stop within {grace:.0f} s; killing it")
                p.kill()
                p.wait()
