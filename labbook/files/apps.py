from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "labbook.files"
    verbose_name = "Raw files"
