from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "評価"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evaluations import (  # noqa: F401  (connect their receivers)
            notifications,
            signals,
        )
        from evaluations.structure_rules import CHECKS
        from initiatives.services import register_structure_check

        for check in CHECKS:
            register_structure_check(check)
