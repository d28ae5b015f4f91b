from django.core.management.base import BaseCommand, CommandError

from labbook.demo import SERIES, demo_user, load_paper_series
from labbook.projects.models import Project


class Command(BaseCommand):
    help = "Load the paper's 0/3/9/17 % Cl series (synthetic raw files) and create the demo user."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-perovskite")
        parser.add_argument("--no-files", action="store_true", help="skip attaching the synthetic raw files")

    def handle(self, *args, username, password, no_files, **options):
        import json

        user, created = demo_user(username, password)
        slug = json.loads(SERIES.read_text())["project"]["slug"]
        if Project.objects.filter(slug=slug).exists():
            self.stdout.write(f"demo series already loaded (project {slug})")
        else:
            try:
                project = load_paper_series(user=user, with_files=not no_files)
            except FileNotFoundError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(f"loaded the paper's series into project {project.slug!r}"))
            if not no_files:
                from labbook.jobs.services import jobs_submit_for_project

                jobs = jobs_submit_for_project(project=project, user=user)
                self.stdout.write(f"queued {len(jobs)} analysis jobs; `manage.py jobs_worker` runs them")
        self.stdout.write(
            f"demo login: user {username!r}, password {password!r}"
            + ("" if created else " (user existed; password unchanged)")
        )
