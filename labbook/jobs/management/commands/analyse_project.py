from django.core.management.base import BaseCommand, CommandError

from labbook.jobs.services import jobs_submit_for_project
from labbook.projects.models import Project


class Command(BaseCommand):
    help = "Queue the analysis of every run and device measurement of a project that has raw files."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project slug")
        parser.add_argument("--force", action="store_true", help="run again even where a result exists")

    def handle(self, *args, project, force, **options):
        try:
            p = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with slug {project!r}", returncode=2) from None
        jobs = jobs_submit_for_project(project=p, force=force)
        queued = [j for j in jobs if j.status == "queued"]
        self.stdout.write(
            f"{len(jobs)} analyses: {len(queued)} queued, {len(jobs) - len(queued)} already done or running"
        )
