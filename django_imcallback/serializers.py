"""The field kit, for a host's own serializers (``IDField`` and the rest); it lives in
``django_imcallback.wire.fields``."""

from .commands.dismissals import DismissGroupSerializer
from .wire.fields import (
    BodySerializer,
    BooleanField,
    EventTimeField,
    GroupTypeField,
    IDField,
    MemberIDsField,
    StrictIntegerField,
    WireStringField,
    boolean,
    group_id,
    ids,
    integer,
    object_list,
    text,
)

__all__ = [
    "BodySerializer",
    "BooleanField",
    "DismissGroupSerializer",
    "EventTimeField",
    "GroupTypeField",
    "IDField",
    "MemberIDsField",
    "StrictIntegerField",
    "WireStringField",
    "boolean",
    "group_id",
    "ids",
    "integer",
    "object_list",
    "text",
]
