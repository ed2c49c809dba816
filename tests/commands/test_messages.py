"""The message callbacks."""

import pytest

from django_imcallback import decisions
from django_imcallback.commands import registry
from django_imcallback.testing import deliver

from ..conftest import SUCCESS

pytestmark = pytest.mark.django_db


def test_the_revoke_callback_is_an_after_callback_despite_its_name():
    assert not registry.is_before("callbackBeforeAfterMsgCommand")
    with pytest.raises(ValueError, match="not a before-callback"):
        decisions.decides("callbackBeforeAfterMsgCommand")
    assert deliver("callbackBeforeAfterMsgCommand").answer == SUCCESS
