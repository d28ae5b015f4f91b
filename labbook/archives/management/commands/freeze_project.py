"""``manage.py freeze_project SLUG --reason TEXT [--user NAME]`` and ``--unfreeze``."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from labbook.archives.management.commands._common import acting_user, refused
from labbook.archives.services import project_freeze, project_unfreeze
from labbook.projects.models import Project
from labbook.projects.permissions import RecordNotFound


class Command(BaseCommand):
    help = "Freeze a project (a project admin) or unfreeze it (--unfreeze, a superuser), with a reason."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user")
        parser.add_argument("--unfreeze", action="store_true")

    def handle(self, *args, slug, reason, user=None, unfreeze=False, **options):
        user = acting_user(user)
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project {slug!r}", returncode=2)
        try:
            if unfreeze:
                project_unfreeze(project=project, user=user, reason=reason)
                self.stdout.write(f"unfroze {slug}")
            else:
                event = project_freeze(project=project, user=user, reason=reason)
                self.stdout.write(f"froze {slug}; manifest: {event.manifest_path}")
        except (ValidationError, PermissionDenied, RecordNotFound) as exc:
            raise refused(exc) from None
