"""The task the worker runs: only the job's id travels through the queue (JSON)."""

from django.tasks import task


@task()
def run_analysis_job(job_id: int) -> str:
    from labbook.jobs.services import job_execute

    return job_execute(job_id)
