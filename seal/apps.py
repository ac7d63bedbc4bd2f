from django.apps import AppConfig


class SealConfig(AppConfig):
    name = "seal"
    verbose_name = "Evaluation catalog"
