from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "labbook.jobs"
    verbose_name = "Analysis jobs"
