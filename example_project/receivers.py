"""A sample receiver: what a host project writes to react to dismissals."""

import logging

from django.dispatch import receiver

from django_imcallback.signals import group_dismissed

logger = logging.getLogger("example_project")


@receiver(group_dismissed)
def log_dismissal(sender, dismissal, event, **kwargs):
    members = list(dismissal.members.values_list("user_id", flat=True)[:10])
    logger.info(
        "Group %s (owner %s) was dismissed with %d member(s), e.g. %s",
        dismissal.group_id,
        dismissal.owner_id,
        dismissal.member_count,
        members,
    )
