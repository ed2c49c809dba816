import os
import time

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
    """Keep each group_dismissed received (by whichever process), for end-to-end tests.

    ``IMCALLBACK_RECEIVER_SECONDS`` makes it take that long, as real work would: the fault
    test kills workers, and some of them then die in the middle of an announcement.
    """
    from .models import Announcement

    time.sleep(float(os.environ.get("IMCALLBACK_RECEIVER_SECONDS") or 0))
    Announcement.objects.create(group_id=dismissal.group_id, event_id=event.pk, pid=os.getpid())
