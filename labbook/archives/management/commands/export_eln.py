"""``manage.py export_eln PROJECT_SLUG OUT.eln [--user NAME]``: write a project as a .eln file."""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from labbook.archives.eln import eln_export
from labbook.archives.management.commands._common import acting_user, refused
from labbook.archives.signing import minisign_public_key
from labbook.projects.models import Project
from labbook.projects.permissions import RecordNotFound


class Command(BaseCommand):
    help = "Export a project (records, files with their SHA-256, metadata) to a .eln (RO-Crate) file."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("out", type=Path)
        parser.add_argument("--user", help="act as this user (default: the only superuser)")

    def handle(self, *args, slug, out, user=None, **options):
        user = acting_user(user)
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project {slug!r}", returncode=2)
        try:
            eln_export(project=project, user=user, out=out)
        except (ValidationError, PermissionDenied, RecordNotFound, OSError) as exc:
            raise refused(exc) from None
        self.stdout.write(
            f"wrote {out} ({out.stat().st_size} bytes), signed (minisign public key {minisign_public_key()})"
        )
