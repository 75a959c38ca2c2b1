from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "評価"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evaluations import signals  # noqa: F401  (connects the receivers)
