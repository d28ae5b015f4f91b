"""The jobs app's answers to what lower layers announce (connected in JobsConfig.ready)."""

from django.dispatch import receiver

from labbook.files.signals import analysis_requested
from labbook.jobs.services import job_submit_natural, natural_kind


@receiver(analysis_requested, dispatch_uid="labbook.jobs.queue_natural_analysis")
def queue_natural_analysis(sender, *, target, user, **kwargs):
    """Queue ``target``'s natural analysis (None when its files have none); the job is returned."""
    if natural_kind(target) is None:
        return None
    return job_submit_natural(target=target, user=user)
