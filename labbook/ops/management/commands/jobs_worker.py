"""``manage.py jobs_worker``: the analysis worker (one process; computations go to dask).

It runs django-tasks-db's worker loop, plus what that worker lacks: at start and every
``--sweep-interval`` seconds it re-queues jobs whose worker died mid-run (no heartbeat for
JOB_STALE_AFTER_S). ``--batch`` runs what is queued and exits.

Quiet: one line per job on stdout (``-v 0``: none), warnings and errors on stderr; dask's own INFO
logging is held back by settings.LOGGING, and a clean shutdown prints nothing more.
"""

import contextlib
import logging
import threading
import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from labbook.archives.jobs import archive_jobs_fail_stale
from labbook.jobs.services import HEARTBEAT_S, jobs_requeue_stale, worker_beat, worker_gone


class ReportingWorker(Worker):
    """django-tasks-db's worker loop, writing one line per job: id, kind, outcome, time (analysis
    jobs, and the .eln exports and imports of labbook.archives.tasks)."""

    def __init__(self, *args, write, **kwargs):
        super().__init__(*args, **kwargs)
        self.write = write
        self.outcomes = Counter()

    def run_task(self, db_task_result) -> None:
        started = time.monotonic()
        super().run_task(db_task_result)
        from labbook.jobs.models import AnalysisJob

        try:
            job_id = int(db_task_result.args_kwargs["args"][0])
            if db_task_result.task_path.startswith("labbook.archives."):
                from labbook.archives.models import ArchiveJob

                row = ArchiveJob.objects.filter(pk=job_id).values("kind", "status", "error").first() or {}
                job_id, job = f"archive-{job_id}", {**row, "kind": f"eln {row.get('kind', '?')}"}
            else:
                job = AnalysisJob.objects.filter(pk=job_id).values("kind", "status", "error").first() or {}
        except Exception:  # a task that is not an analysis job, or a database hiccup: say what we know
            job_id = db_task_result.id
            job = {"kind": db_task_result.task_path, "status": db_task_result.status}
        status = str(job.get("status", "")).lower()
        self.outcomes[status] += 1
        line = f"job {job_id} ({job.get('kind', '?')}): {status} in {time.monotonic() - started:.1f} s"
        if job.get("error"):
            line += f": {job['error'].splitlines()[0]}"
        self.write(line)


@contextlib.contextmanager
def _quiet_dask_shutdown():
    """Closing the client and its LocalCluster races the comms they are closing (CommClosedError,
    "Stream is closed" tracebacks logged by distributed and tornado, more often on a busy machine);
    at a clean shutdown they say nothing about the results, so hold those loggers at CRITICAL."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class Command(BaseCommand):
    help = "Run analysis jobs: the task worker plus a sweep that re-queues jobs of dead workers."

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls of an empty queue"
        )
        parser.add_argument(
            "--sweep-interval", type=float, default=15.0, help="seconds between stale-job sweeps"
        )

    def handle(self, *args, batch, interval, sweep_interval, verbosity, **options):
        requeued = jobs_requeue_stale()
        if requeued:
            self.stdout.write(f"re-queued jobs of stopped workers: {requeued}")
        stale = archive_jobs_fail_stale()  # .eln exports and imports: failed, to be asked for again
        if stale:
            self.stdout.write(f"failed archive jobs of stopped workers: {stale}")
        stop = threading.Event()

        def sweep():
            from django.db import connection

            try:
                while not stop.wait(sweep_interval):
                    jobs_requeue_stale()
                    archive_jobs_fail_stale()
            finally:
                connection.close()

        def beat():  # the pages warn when no worker is alive (labbook.jobs.services.workers_alive)
            from django.db import connection

            try:
                while True:
                    try:
                        worker_beat()
                    except Exception:  # a busy database must not stop the worker; try again later
                        pass
                    if stop.wait(HEARTBEAT_S):
                        break
            finally:
                connection.close()

        sweeper = threading.Thread(target=sweep, name="stale-job-sweep", daemon=True)
        beater = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
        beater.start()
        if not batch:
            sweeper.start()
        worker = ReportingWorker(
            write=self.stdout.write if verbosity > 0 else (lambda line: None),
            queue_names=["default"],
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        if verbosity > 0 and not batch:
            dask = settings.DASK_SCHEDULER_ADDRESS or "a LocalCluster, started at the first movie"
            self.stdout.write(f"jobs_worker: waiting for analysis jobs (dask: {dask}); Ctrl-C stops it")
        try:
            worker.run()
        finally:
            stop.set()
            beater.join(timeout=5)
            try:
                worker_gone()
            except Exception:
                pass
            from labbook.jobs.runners import close_dask_client

            with _quiet_dask_shutdown():
                close_dask_client()
            if verbosity > 0 and (batch or worker.outcomes):
                done = ", ".join(f"{n} {status}" for status, n in sorted(worker.outcomes.items()))
                self.stdout.write(f"jobs_worker: stopped after {worker._run_tasks} jobs ({done or 'none'})")
