from django.db import models


class Announcement(models.Model):
    """One group_dismissed received, by whichever process received it (test only)."""

    group_id = models.CharField(max_length=255)
    event_id = models.BigIntegerField()
    pid = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.group_id} (event {self.event_id}, pid {self.pid})"


class GroupQuit(models.Model):
    """A user who left a group (the contract test's second handler)."""

    group_id = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255)
    event = models.ForeignKey(
        "django_imcallback.CallbackEvent", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group_id", "user_id"], name="one_quit")]

    def __str__(self) -> str:
        return f"{self.user_id} left {self.group_id}"


class LoggedMessage(models.Model):
    """A message a host logs, every copy (the contract test's handler without duplicates)."""

    sender_id = models.CharField(max_length=255)
    content = models.TextField()
    event = models.ForeignKey(
        "django_imcallback.CallbackEvent", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"message from {self.sender_id}"
