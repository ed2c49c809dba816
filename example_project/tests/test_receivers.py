"""The demo's receivers and decider, tested as a host project tests its own: with
django_imcallback.testing (run by `make test`, with the demo's settings)."""

import logging

import pytest

from django_imcallback.models import DismissedGroup
from django_imcallback.testing import deliver

pytestmark = pytest.mark.django_db


def test_a_dismissal_is_logged_with_its_members(caplog):
    with caplog.at_level(logging.INFO, logger="example_project"):
        deliver("callbackAfterDisMissGroupCommand", group_id="g1", user_ids=["ann", "bob"])

    assert DismissedGroup.objects.get().member_count == 2
    assert "Group g1 (owner user123) was dismissed with 2 member(s) (from callback)" in (
        caplog.text
    )


def test_a_dismissal_without_members_takes_them_from_the_groups_history(caplog):
    """The administrator's dismissal: no members on the wire, the mirror knows them."""
    deliver("callbackAfterCreateGroupCommand", group_id="g2", user_id="own", user_ids=["ann"])
    deliver("callbackAfterJoinGroupCommand", group_id="g2", user_ids=["bob"])
    with caplog.at_level(logging.INFO, logger="example_project"):
        deliver("callbackAfterDisMissGroupCommand", group_id="g2", user_id="own", user_ids=[])

    assert "Group g2 (owner own) was dismissed with 3 member(s) (from mirror)" in caplog.text


def test_spam_is_refused_and_other_messages_go_through(imcallback):
    refused = imcallback.deliver("callbackBeforeSendSingleMsgCommand", text="Cheap SPAM here")
    allowed = imcallback.deliver("callbackBeforeSendSingleMsgCommand", text="hello")

    assert (refused.answer["errCode"], refused.answer["errDlt"]) == (5001, "spam")
    assert allowed.answer["errCode"] == 0


def test_joins_are_logged(imcallback, caplog):
    with caplog.at_level(logging.INFO, logger="example_project"):
        imcallback.deliver("callbackAfterJoinGroupCommand", group_id="g3", user_ids=["cat"])

    assert "cat joined group g3 (joined)" in caplog.text
