from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImCallbackConfig(AppConfig):
    name = "django_imcallback"
    verbose_name = _("OpenIM callbacks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, handlers  # noqa: F401 - registers checks and built-in handlers
