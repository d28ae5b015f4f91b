from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "labbook.archives"
    verbose_name = "Archives: freezing, history, .eln and backups"
