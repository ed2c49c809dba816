"""What a host project writes: receivers that react, and a decider that moderates."""

import json
import logging

from django.dispatch import receiver

from django_imcallback.decisions import Block, decides
from django_imcallback.signals import group_dismissed, group_members_joined

logger = logging.getLogger("example_project")


@receiver(group_dismissed)
def log_dismissal(sender, dismissal, event, **kwargs):
    members = list(dismissal.members.values_list("user_id", flat=True)[:10])
    logger.info(
        "Group %s (owner %s) was dismissed with %d member(s) (from %s), e.g. %s",
        dismissal.group_id,
        dismissal.owner_id,
        dismissal.member_count,
        dismissal.members_source,
        members,
    )


@receiver(group_members_joined)
def log_joins(sender, group, user_ids, how, event, **kwargs):
    logger.info("%s joined group %s (%s)", ", ".join(user_ids), group.group_id, how)


@decides("callbackBeforeSendSingleMsgCommand")
@decides("callbackBeforeSendGroupMsgCommand")
def no_spam(event, payload):
    """Refuse messages that say "spam"; let every other one through."""
    text = json.loads(payload.get("content") or "{}").get("content", "")
    if isinstance(text, str) and "spam" in text.lower():
        return Block(5001, "Message refused", "spam")
    return None
