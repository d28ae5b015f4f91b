"""Reads of analysis jobs for the pages: jobs with their input files' names, counts by status, and
a job's error as people read it.

Errors written since issue 15 name the file as it was uploaded (``services.job_execute``); older rows
may still carry the stored file's checksum or a worker's temporary path, which
:func:`job_error_readable` turns into the file's name when they are shown.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePosixPath

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from labbook.core.text import scrub_paths
from labbook.jobs.models import AnalysisJob, JobInput, JobStatus, WorkerHeartbeat

_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


def with_input_names(jobs):
    """``jobs`` with their inputs' roles and file names prefetched (one query for the page)."""
    inputs = JobInput.objects.select_related("raw_file").only(
        "job_id", "role", "raw_file__sha256", "raw_file__original_name"
    )
    return jobs.prefetch_related(Prefetch("inputs", queryset=inputs))


def job_error_readable(job: AnalysisJob) -> str:
    """The job's error naming files by their names: server paths cut to their last part, checksums
    and a worker's temporary links ("/tmp/labbook-job-x/decay.csv") replaced by the uploaded name."""
    text = job.error or ""
    if not text:
        return ""
    inputs = list(job.inputs.all())
    had_links = "labbook-job-" in text
    text = scrub_paths(text)
    by_sha = {i.raw_file.sha256: i.raw_file.original_name for i in inputs}
    text = _SHA256.sub(lambda m: by_sha.get(m.group(), m.group()), text)
    if had_links:  # local_inputs linked each file as <role><suffix>
        for i in inputs:
            link = f"{i.role}{PurePosixPath(i.raw_file.original_name).suffix}"
            text = re.sub(rf"(?<![\w.-]){re.escape(link)}(?![\w.-])", i.raw_file.original_name, text)
    return text


#: the dashboard counts failures of the last FAILED_DAYS days (older ones are history, not news)
FAILED_DAYS = 7


def job_counts(jobs, *, now=None) -> dict[str, int]:
    """How many of ``jobs`` are queued, running, and failed in the last FAILED_DAYS days (one query)."""
    since = (now or timezone.now()) - dt.timedelta(days=FAILED_DAYS)
    return jobs.aggregate(
        queued=Count("pk", filter=Q(status=JobStatus.QUEUED)),
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED, finished_at__gte=since)),
    )


def workers_seen(*, now=None) -> dict:
    """The job workers' signs of life: how many are alive (a heartbeat within JOB_STALE_AFTER_S),
    their rows, and the last heartbeat of any worker (None: no worker ever ran or all exited)."""
    from labbook.jobs.services import stale_after_s

    now = now or timezone.now()
    rows = list(WorkerHeartbeat.objects.order_by("-beat_at")[:20])
    cutoff = now - dt.timedelta(seconds=stale_after_s())
    alive = [w for w in rows if w.beat_at >= cutoff]
    return {"alive": alive, "n_alive": len(alive), "last_beat": rows[0].beat_at if rows else None, "now": now}


def worker_text(seen: dict, *, names: bool = False) -> str:
    """One line for the dashboard: "2 job workers alive (last heartbeat 3 s ago)" or why not."""
    now, last = seen["now"], seen["last_beat"]
    if seen["n_alive"]:
        ago = max(0, round((now - seen["alive"][0].beat_at).total_seconds()))
        who = f": {', '.join(w.name for w in seen['alive'])}" if names else ""
        n = seen["n_alive"]
        return f"{n} job worker{'s' if n > 1 else ''} alive{who} (last heartbeat {ago} s ago)"
    if last is None:
        return "No job worker is running: queued analyses wait (start one with manage.py jobs_worker)"
    return (
        f"No job worker alive since {timezone.localtime(last):%Y-%m-%d %H:%M:%S}: queued analyses wait "
        "(start one with manage.py jobs_worker)"
    )
