from django.apps import AppConfig


class InitiativesConfig(AppConfig):
    name = "initiatives"
    verbose_name = "計画の構成"
    default_auto_field = "django.db.models.BigAutoField"
