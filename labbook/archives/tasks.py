"""The task the worker runs for a .eln export or import: only the job's id travels through the queue."""

from django.tasks import task


@task()
def run_archive_job(job_id: int) -> str:
    from labbook.archives.jobs import archive_job_execute

    return archive_job_execute(job_id)
