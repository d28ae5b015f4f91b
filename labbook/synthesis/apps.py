from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "labbook.synthesis"
    verbose_name = "Syntheses, treatments and samples"
