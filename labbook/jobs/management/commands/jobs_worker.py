"""``manage.py jobs_worker``: the analysis worker (one process; computations go to dask).

It runs django-tasks-db's worker loop, plus what that worker lacks: at start and every
``--sweep-interval`` seconds it re-queues jobs whose worker died mid-run (no heartbeat for
JOB_STALE_AFTER_S). ``--batch`` runs what is queued and exits (used by ``make demo``).
"""

import threading

from django.core.management.base import BaseCommand
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from labbook.jobs.services import jobs_requeue_stale


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
        stop = threading.Event()

        def sweep():
            from django.db import connection

            try:
                while not stop.wait(sweep_interval):
                    jobs_requeue_stale()
            finally:
                connection.close()

        sweeper = threading.Thread(target=sweep, name="stale-job-sweep", daemon=True)
        if not batch:
            sweeper.start()
        worker = Worker(
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
        try:
            worker.run()
        finally:
            stop.set()
            from labbook.jobs.runners import close_dask_client

            close_dask_client()
