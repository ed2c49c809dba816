"""The friend callbacks."""

import pytest

from django_imcallback.testing import body, deliver

pytestmark = pytest.mark.django_db

AGREE = "callbackBeforeAddFriendAgreeCommand"


def test_the_friend_agreement_is_typed_with_the_servers_keys():
    sent = body(AGREE, user_id="asker", user_ids=["accepter"])
    assert {"fromUserID", "blackUserID", "HandleResult", "HandleMsg"} <= set(sent)

    result = deliver(AGREE, {**sent, "HandleResult": "1"})  # an int32 on the wire

    assert result.status_code == 400
    assert "HandleResult" in result.event.error
    assert deliver(AGREE, sent).event.user_id == "asker"
