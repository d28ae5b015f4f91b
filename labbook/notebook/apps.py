from django.apps import AppConfig


class NotebookConfig(AppConfig):
    name = "labbook.notebook"
    verbose_name = "Notebook"
