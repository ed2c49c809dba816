"""Factories for test data: wire payloads as OpenIM sends them, and stored rows."""

import json

import factory

from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember
from django_imcallback.openim import body, go_json

DISMISS = "callbackAfterDisMissGroupCommand"
SINGLE = "callbackBeforeSendSingleMsgCommand"


class DismissPayloadFactory(factory.DictFactory):
    """A ``CallbackDisMissGroupReq`` body as the open-source server builds it."""

    callbackCommand = DISMISS
    groupID = factory.Sequence(lambda n: f"group-{n:06d}")
    ownerID = factory.Sequence(lambda n: f"owner-{n:06d}")
    groupType = "\u0002"
    membersID = factory.Sequence(lambda n: [f"user-{n:06d}-{i}" for i in range(3)])


class CallbackEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallbackEvent

    command = DISMISS
    operation_id = factory.Sequence(lambda n: f"op-{n}")
    body = factory.LazyAttribute(lambda o: b'{"groupID":"g"}')
    body_size = factory.LazyAttribute(lambda o: len(o.body))
    status = CallbackEvent.Status.PROCESSED


class DismissedGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DismissedGroup

    group_id = factory.Sequence(lambda n: f"group-{n:06d}")
    owner_id = factory.Sequence(lambda n: f"owner-{n:06d}")
    group_type_raw = 2
    group_type = 2
    member_count = 0


class DismissedGroupMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DismissedGroupMember

    dismissal = factory.SubFactory(DismissedGroupFactory)
    user_id = factory.Sequence(lambda n: f"user-{n:06d}")


def message(text="hello", **extra):
    """A ``CommonCallbackReq`` as the server sends it for a one-to-one message."""
    return {
        "callbackCommand": SINGLE,
        "sendID": "alice",
        "serverMsgID": "",
        "clientMsgID": "c-1",
        "senderPlatformID": 1,
        "senderNickname": "Alice",
        "sessionType": 1,
        "msgFrom": 100,
        "contentType": 101,
        "status": 1,
        "sendTime": 1_700_000_000_000,
        "createTime": 1_700_000_000_000,
        "content": json.dumps({"content": text}),
        "seq": 0,
        "atUserList": None,
        "faceURL": "",
        "ex": "",
        "recvID": "bob",
        **extra,
    }


def group_body(command, group_id="G001", owner="user123", user_ids=None, op_id=""):
    users = ["user001", "user002"] if user_ids is None else user_ids
    return body(command, group_id=group_id, user_id=owner, user_ids=users, operation_id=op_id)


def dismiss_event(**kwargs):
    payload = DismissPayloadFactory(**kwargs.pop("payload", {}))
    return CallbackEventFactory(body=go_json(payload), **kwargs)
