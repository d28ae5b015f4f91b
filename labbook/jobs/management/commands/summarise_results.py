from django.core.management.base import BaseCommand, CommandError

from labbook.jobs.backfill import results_summarise
from labbook.projects.models import Project


class Command(BaseCommand):
    help = (
        "Compute what the pages and comparisons read for results made before it was stored: particle "
        "summaries from the particle rows, curves (TRPL decay with the job's fit, spectra, XRD, I-V, "
        "photoresponse) from the raw files, by the jobs' own code. Safe to run again: only what is "
        "missing or out of date is computed (all of it with --force)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="only this project (slug)")
        parser.add_argument("--force", action="store_true", help="recompute summaries that exist too")

    def handle(self, *args, project=None, force=False, verbosity=1, **options):
        p = None
        if project:
            try:
                p = Project.objects.get(slug=project)
            except Project.DoesNotExist:
                raise CommandError(f"no project with slug {project!r}", returncode=2) from None
        log = self.stdout.write if verbosity > 1 else (lambda line: None)
        done = results_summarise(force=force, project=p, log=log, warn=self.stderr.write)
        self.stdout.write(
            f"{done['particle_summaries']} particle summaries and {done['curves']} curves computed"
            + (f"; {done['curves_failed']} curves failed" if done["curves_failed"] else "")
            + (
                f"; {done['curves_without_data']} results have nothing to draw"
                if done["curves_without_data"]
                else ""
            )
        )
        if done["curves_failed"]:
            raise CommandError(f"{done['curves_failed']} curves could not be computed", returncode=1)
