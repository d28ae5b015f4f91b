from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The processes that run labbook, above every app they serve: ``jobs_worker`` (analysis and
    archive jobs), ``serve_demo`` (web server and worker together), ``load_demo``."""

    name = "labbook.ops"
    verbose_name = "operations"
