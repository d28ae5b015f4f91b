from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "labbook.tagging"
    verbose_name = "Tags"

    def ready(self) -> None:
        from labbook.tagging import signals  # noqa: F401  (tags leave with their record)
