from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "labbook.projects"
    verbose_name = "Projects and membership"
