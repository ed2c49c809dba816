"""A second handler, written as the README's "Handling another command" tells a host to."""

from typing import Any

from rest_framework import serializers

from django_imcallback.handlers import Handler, Outcome
from django_imcallback.models import CallbackEvent
from django_imcallback.serializers import IDField
from django_imcallback.signals import CallbackSignal

from .models import GroupQuit, LoggedMessage

#: Sent once per stored quit, with ``quit`` (a GroupQuit) and ``event``.
member_quit = CallbackSignal()


class QuitGroupSerializer(serializers.Serializer):
    groupID = IDField(source="group_id")
    userID = IDField(source="user_id")


class QuitGroupHandler(Handler):
    command = "callbackAfterQuitGroupCommand"
    serializer_class = QuitGroupSerializer
    signal = member_quit
    sender = GroupQuit

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        GroupQuit.objects.bulk_create([GroupQuit(event=event, **data)], ignore_conflicts=True)
        stored = GroupQuit.objects.select_for_update().get(**data)
        if stored.event_id == event.pk:  # stored by this delivery, now or on an earlier try
            return Outcome(announce={"quit": stored})
        return Outcome(CallbackEvent.Status.DUPLICATE, f"Already stored as quit #{stored.pk}.")


#: Sent once per logged message, with ``message`` (a LoggedMessage) and ``event``.
message_logged = CallbackSignal()


class MessageLogSerializer(serializers.Serializer):
    sendID = IDField(source="sender_id")
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class MessageLogHandler(Handler):
    """Logs every message: two copies of one are two messages to this host."""

    command = "callbackAfterSendSingleMsgCommand"
    serializer_class = MessageLogSerializer
    signal = message_logged
    sender = LoggedMessage

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        logged, _ = LoggedMessage.objects.get_or_create(event=event, defaults=data)
        return Outcome(announce={"message": logged})
