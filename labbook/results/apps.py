from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "labbook.results"
    verbose_name = "Analysis results"
