"""``manage.py backup OUT.zip``: the whole instance (database as JSON + stored files) in one zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labbook.archives.backup import backup_create


class Command(BaseCommand):
    help = "Back up the database (JSON, natural keys, history included) and MEDIA_ROOT to one zip."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)

    def handle(self, *args, out, **options):
        try:
            backup_create(out)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc}", returncode=2) from None
        self.stdout.write(f"wrote {out} ({out.stat().st_size} bytes)")
