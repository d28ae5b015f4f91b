from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "labbook.api"
    label = "api"
    verbose_name = "API"
