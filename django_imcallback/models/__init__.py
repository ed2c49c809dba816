"""What django-imcallback stores: every delivery, and what it meant. One module per part:
the event log (``events``), dismissals, the mirror of groups."""

from .dismissals import DismissedGroup, DismissedGroupMember, MembersSource
from .events import (
    COMMAND_MAX_LENGTH,
    ID_MAX_LENGTH,
    OPERATION_ID_MAX_LENGTH,
    USER_KEYS,
    CallbackAttempt,
    CallbackEvent,
    is_stored,
    storable,
    subject,
)
from .groups import IMGroup, IMGroupMember, last_event_field

__all__ = [
    "COMMAND_MAX_LENGTH",
    "ID_MAX_LENGTH",
    "OPERATION_ID_MAX_LENGTH",
    "USER_KEYS",
    "CallbackAttempt",
    "CallbackEvent",
    "DismissedGroup",
    "DismissedGroupMember",
    "IMGroup",
    "IMGroupMember",
    "MembersSource",
    "is_stored",
    "last_event_field",
    "storable",
    "subject",
]
