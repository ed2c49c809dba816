from django.db import models


class Announcement(models.Model):
    """One group_dismissed received, by whichever process received it (test only)."""

    group_id = models.CharField(max_length=255)
    event_id = models.BigIntegerField()
    pid = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.group_id} (event {self.event_id}, pid {self.pid})"
