"""The server delivers each dismissal more than once; it is stored and announced once."""

import pytest

from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember

from .conftest import SUCCESS
from .factories import DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


def members_of(group_id):
    return sorted(
        DismissedGroupMember.objects.filter(dismissal__group_id=group_id).values_list(
            "user_id", flat=True
        )
    )


def test_second_copy_without_members_keeps_the_snapshot(post, dismissed_signals):
    full = DismissPayloadFactory(groupID="g1", membersID=["a", "b", "c"])
    post(full, operation_id="op-api")

    response = post({**full, "membersID": None}, operation_id="op-push")

    assert response.json() == SUCCESS
    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 3
    assert members_of("g1") == ["a", "b", "c"]
    first, second = CallbackEvent.objects.order_by("pk")
    assert (first.status, second.status) == (Status.PROCESSED, Status.DUPLICATE)
    assert dismissal.event == first
    assert "already stored" in second.error
    assert len(dismissed_signals) == 1


def test_repeat_with_other_members_never_rewrites_the_snapshot(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", ownerID="o1", membersID=["a", "b"]))

    post(DismissPayloadFactory(groupID="g1", ownerID="o2", membersID=["x"]))

    dismissal = DismissedGroup.objects.get()
    assert (dismissal.owner_id, dismissal.member_count) == ("o1", 2)
    assert members_of("g1") == ["a", "b"]
    assert len(dismissed_signals) == 1


def test_member_less_copy_first_is_completed_by_the_full_copy(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", membersID=[]))

    post(DismissPayloadFactory(groupID="g1", membersID=["a", "b"]))

    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 2
    assert members_of("g1") == ["a", "b"]
    first, second = CallbackEvent.objects.order_by("pk")
    assert (first.status, second.status) == (Status.PROCESSED, Status.PROCESSED)
    assert "Completed" in second.error
    assert len(dismissed_signals) == 1


def test_different_groups_are_separate_dismissals(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", membersID=["a"]))
    post(DismissPayloadFactory(groupID="g2", membersID=["a"]))

    assert DismissedGroup.objects.count() == 2
    assert len(dismissed_signals) == 2


def test_duplicates_are_still_announced_through_callback_received(post, received_signals):
    payload = DismissPayloadFactory()
    post(payload)
    post(payload)

    assert len(received_signals) == 2
