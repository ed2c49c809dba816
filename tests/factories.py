"""Factories for test data: wire payloads as OpenIM sends them, and stored rows."""

import factory

from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember

DISMISS = "callbackAfterDisMissGroupCommand"


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
