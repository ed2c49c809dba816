import os

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if os.environ.get("IMCALLBACK_RECORD_ANNOUNCEMENTS"):
            from django_imcallback.signals import group_dismissed

            group_dismissed.connect(record_announcement, dispatch_uid="record_announcement")


def record_announcement(sender, dismissal, event, **kwargs):
    from .models import Announcement

    Announcement.objects.create(group_id=dismissal.group_id, event_id=event.pk, pid=os.getpid())
