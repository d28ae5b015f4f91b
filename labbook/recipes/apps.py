from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "labbook.recipes"
    verbose_name = "Templates"
