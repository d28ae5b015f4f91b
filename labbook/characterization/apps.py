from django.apps import AppConfig


class CharacterizationConfig(AppConfig):
    name = "labbook.characterization"
    verbose_name = "Characterisation"
