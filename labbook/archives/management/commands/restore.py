"""``manage.py restore BACKUP.zip``: restore a backup into an empty, migrated database."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from labbook.archives.backup import backup_restore
from labbook.archives.management.commands._common import refused


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` into an empty database (run migrate first)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path, **options):
        try:
            counts = backup_restore(path)
        except (ValidationError, OSError) as exc:
            raise refused(exc) from None
        self.stdout.write(f"restored {counts['objects']} objects and {counts['files']} files from {path}")
