"""``manage.py import_eln FILE.eln [--user NAME] [--slug SLUG]``: import a .eln as a new project.

A hostile or broken archive is refused with one line and exit code 2; nothing is imported then."""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand

from labbook.archives.eln import eln_import
from labbook.archives.management.commands._common import acting_user, refused


class Command(BaseCommand):
    help = "Import a .eln (RO-Crate) archive as a new project; refuses hostile or broken archives."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--user", help="the importing user, admin of the new project (default: the only superuser)"
        )
        parser.add_argument("--slug", help="slug of the new project (default: from the archive)")

    def handle(self, *args, path, user=None, slug=None, **options):
        user = acting_user(user)
        try:
            project = eln_import(path=path, user=user, slug=slug)
        except (ValidationError, PermissionDenied, OSError) as exc:
            raise refused(exc) from None
        record = project.eln_imports.first()
        summary = record.summary
        unverified = len(summary.get("unverified_files", []))
        n, f = summary.get("datasets", 0), summary.get("files", 0)
        self.stdout.write(
            f"imported {path} as project {project.slug!r} from {record.source}: "
            f"{n} dataset{'s' * (n != 1)}, {f} file{'s' * (f != 1)}"
            + (
                f", {unverified} file{'s' * (unverified != 1)} without a sha256 (unverified)"
                if unverified
                else ""
            )
            + f"; {record.signature_text}"
        )
        for kind, label in (
            ("missing_parts", "listed but not in the archive"),
            ("absent_files", "described but not in the archive"),
        ):
            if summary.get(kind):
                self.stdout.write(f"  {len(summary[kind])} {label}: {', '.join(summary[kind][:5])}")
