from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "labbook.devices"
    verbose_name = "Photodetector devices"
