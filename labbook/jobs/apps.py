from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "labbook.jobs"
    verbose_name = "Analysis jobs"

    def ready(self):
        from labbook.jobs import signals  # noqa: F401  (connects the receivers)
