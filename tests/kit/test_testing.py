"""django_imcallback.testing: body(), deliver(), the imcallback fixture."""

from types import ModuleType

import pytest
from django.test import Client
from django.urls import NoReverseMatch

from django_imcallback import decisions
from django_imcallback.decisions import Block, decides
from django_imcallback.handlers import registry
from django_imcallback.models import CallbackEvent, DismissedGroup, IMGroup
from django_imcallback.signals import group_members_joined
from django_imcallback.testing import COMMANDS, body, deliver

from ..conftest import Recorder
from ..factories import SINGLE

pytestmark = pytest.mark.django_db

DISMISS = "callbackAfterDisMissGroupCommand"


JOIN = "callbackAfterJoinGroupCommand"


def test_every_typed_command_has_a_body_its_handler_accepts():
    """A new typed command without a builder fails here, as does a body the app refuses.
    (The after-message commands have bodies too, though no handler types them.)"""
    assert set(registry.commands()) <= set(COMMANDS)
    for command in registry.commands():
        payload = body(command, group_id="g-kit", user_id="owner", user_ids=["a", "b"])
        assert payload["callbackCommand"] == command
        _data, errors = registry.get(command).validate(payload)
        assert errors is None, (command, errors)


def test_a_body_takes_wire_keys_on_top():
    payload = body(DISMISS, group_id="g1", user_ids=["a"], membersID=None)
    assert (payload["groupID"], payload["membersID"]) == ("g1", None)
    with pytest.raises(ValueError, match="No body known for callbackFooCommand"):
        body("callbackFooCommand")


def test_deliver_runs_the_receivers_a_plain_test_client_post_leaves_waiting(dismissed_signals):
    """Inside a TestCase the storing transaction never commits: a bare client.post stores
    the dismissal but never announces it."""
    payload = body(DISMISS, group_id="g-plain", user_ids=["a"])
    Client().post(f"/imcallback/{DISMISS}", payload, content_type="application/json")
    assert DismissedGroup.objects.filter(group_id="g-plain").exists()
    assert dismissed_signals == []

    result = deliver(DISMISS, group_id="g-kit", user_id="owner", user_ids=["a", "b"])

    assert result.status_code == 200
    assert result.answer["errCode"] == 0
    assert result.event.status == CallbackEvent.Status.PROCESSED
    [call] = dismissed_signals
    assert call["dismissal"].group_id == "g-kit"
    assert sorted(call["dismissal"].members.values_list("user_id", flat=True)) == ["a", "b"]
    assert call["event"] == result.event


def test_deliver_passes_the_configured_authentication(settings, dismissed_signals):
    settings.IMCALLBACK = {
        "BASIC_AUTH": ["openim:kit-secret"],
        "ALLOWED_IPS": ["10.20.0.0/16"],
        "SECRET_PATH": "kit-path",
    }
    refused = Client().post(
        f"/imcallback/kit-path/{DISMISS}", body(DISMISS), content_type="application/json"
    )
    assert refused.status_code in (401, 403)

    result = deliver(DISMISS, group_id="g-auth")

    assert result.status_code == 200, result.answer
    assert result.event.remote_addr == "10.20.0.1"
    assert len(dismissed_signals) == 1


def test_deliver_answers_as_the_deciders_decide_and_keeps_to_the_record_policy(settings):
    settings.IMCALLBACK = {"RECORD": {SINGLE: "failures"}}

    @decides(SINGLE)
    def no_spam(event, payload):
        return Block(5001, "refused", "spam") if "spam" in payload["content"] else None

    try:
        blocked = deliver(SINGLE, text="buy spam")
        allowed = deliver(SINGLE, text="hello")
    finally:
        decisions.forget(no_spam)

    assert (blocked.answer["errCode"], blocked.answer["errMsg"]) == (5001, "refused")
    assert allowed.answer["errCode"] == 0
    assert allowed.event is None  # "failures": an allowed message is not kept


def test_deliver_sends_garbage_as_it_is_and_rejects_a_payload_with_parameters():
    result = deliver(DISMISS, b"{not json")
    assert result.status_code == 400
    assert result.event.status == CallbackEvent.Status.INVALID
    with pytest.raises(TypeError):
        deliver(DISMISS, {"groupID": "g"}, group_id="g")


def test_the_imcallback_fixture_delivers_through_the_test_client(imcallback):
    joins = Recorder()
    group_members_joined.connect(joins, weak=False)
    try:
        imcallback.deliver(JOIN, group_id="g-fixture", user_ids=["newcomer"])
    finally:
        group_members_joined.disconnect(joins)

    group = IMGroup.objects.get(group_id="g-fixture")
    assert group.members.get().user_id == "newcomer"
    [call] = joins.calls
    assert (call["group"], call["user_ids"], call["how"]) == (group, ["newcomer"], "joined")


def test_deliver_finds_the_event_by_the_operation_id_it_sent_in_headers():
    result = deliver(DISMISS, headers={"operationID": "mine"})

    assert result.event is not None
    assert result.event.operation_id == "mine"


@pytest.mark.parametrize(
    ("allowed", "address"),
    [(None, "127.0.0.1"), (["10.0.0.5/32"], "10.0.0.5"), (["10.0.0.0/24"], "10.0.0.1")],
)
def test_deliver_comes_as_the_server_does_from_an_address_the_allowlist_lets_in(
    settings, allowed, address
):
    settings.IMCALLBACK = {"ALLOWED_IPS": allowed} if allowed else {}

    result = deliver("callbackAfterDisMissGroupCommand")

    assert result.status_code == 200
    assert result.event.remote_addr == address
    assert result.event.headers["User-Agent"] == "Go-http-client/1.1"


def test_deliver_into_a_project_without_the_urls_says_how_to_mount_them(settings):
    unmounted = ModuleType("urls")
    unmounted.urlpatterns = []
    settings.ROOT_URLCONF = unmounted

    with pytest.raises(NoReverseMatch) as raised:
        deliver("callbackAfterDisMissGroupCommand")

    assert str(raised.value) == (
        'django_imcallback.urls is not mounted: add path("imcallback/", '
        'include("django_imcallback.urls")) to your ROOT_URLCONF.'
    )


def test_the_kit_offers_the_commands_body_builds_and_nothing_else():
    import django_imcallback.testing as kit
    from django_imcallback import openim

    assert kit.COMMANDS == openim.COMMANDS
    with pytest.raises(AttributeError, match=r"^no_such_helper$"):
        kit.no_such_helper  # noqa: B018


def test_deliver_refuses_a_payload_and_body_parameters_together():
    with pytest.raises(TypeError) as raised:
        deliver("callbackAfterDisMissGroupCommand", {"groupID": "g"}, group_id="g")

    assert str(raised.value) == "Pass either a payload or the body's parameters, not both."
