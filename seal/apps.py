from django.apps import AppConfig


class SealConfig(AppConfig):
    name = "seal"
    verbose_name = "Evaluation catalog"

    def ready(self) -> None:
        # Connects the receivers that log logins, logouts, failures and lockouts.
        from seal import security  # noqa: F401
