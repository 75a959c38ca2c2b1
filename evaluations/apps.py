from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "評価"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evaluations import signals  # noqa: F401  (connects the receivers)
        from evaluations.structure_rules import CHECKS
        from initiatives.services import register_structure_check

        for check in CHECKS:
            register_structure_check(check)
