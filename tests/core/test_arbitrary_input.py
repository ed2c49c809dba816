"""Whatever arrives, the answer is OpenIM's JSON and nothing is lost (hypothesis)."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_imcallback.models import CallbackEvent

from ..conftest import go_json
from ..factories import DISMISS

pytestmark = pytest.mark.django_db

RESPONSE_KEYS = {"actionCode", "errCode", "errMsg", "errDlt", "nextCode"}


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


ids = st.text(max_size=300) | st.integers() | st.none() | st.booleans()


dismiss_like = st.fixed_dictionaries(
    {},
    optional={
        "callbackCommand": st.just(DISMISS) | st.text(max_size=20),
        "groupID": ids,
        "ownerID": ids,
        "groupType": st.integers() | st.text(max_size=3) | st.none() | st.floats(),
        "membersID": st.none() | st.lists(ids, max_size=8) | json_values,
        "eventTime": st.integers() | st.text(max_size=25) | st.none(),
    },
)


def deliver_and_check(body: bytes, command: str = DISMISS) -> None:
    before = CallbackEvent.objects.count()

    response = Client().post(f"/imcallback/{command}", body, content_type="application/json")

    assert response.status_code < 500, response.content
    assert set(json.loads(response.content)) == RESPONSE_KEYS
    assert CallbackEvent.objects.count() == before + 1
    assert bytes(CallbackEvent.objects.latest("pk").body) == body


@PROPERTY_SETTINGS
@given(st.binary(max_size=512))
def test_any_bytes_are_recorded_and_answered_in_openim_json(body):
    deliver_and_check(body)


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_value_is_recorded_and_answered_in_openim_json(value):
    deliver_and_check(go_json(value))


@PROPERTY_SETTINGS
@given(dismiss_like)
def test_any_dismissal_shaped_object_is_recorded_and_answered_without_a_500(payload):
    deliver_and_check(go_json(payload))


@PROPERTY_SETTINGS
@given(
    st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/?#%"),
        min_size=1,
        max_size=40,
    ),
    json_values,
)
def test_any_command_name_is_recorded_and_answered_in_openim_json(command, value):
    deliver_and_check(go_json(value), command=command)
