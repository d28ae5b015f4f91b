from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "labbook.projects"
    verbose_name = "Projects and membership"

    def ready(self) -> None:
        from labbook.projects import signals

        signals.connect()
