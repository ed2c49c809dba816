"""The declarations: one per command, each valid, found, documented."""

from pathlib import Path

import pytest

from django_imcallback.commands import Handler, registry, table
from django_imcallback.models import CallbackEvent
from django_imcallback.openim import body
from django_imcallback.testing import deliver

from ..factories import DISMISS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


DECLARED = [command.name for command in registry.declarations()]


@pytest.mark.parametrize("command", DECLARED)
def test_every_declared_commands_example_is_valid_and_stored_as_typed(command):
    result = deliver(command)

    assert result.event.status == CallbackEvent.Status.PROCESSED, result.event.error
    assert registry.get(command).command == command


def test_a_command_is_declared_once_and_found_in_any_case():
    assert len(DECLARED) == len({name.lower() for name in DECLARED})
    assert registry.command("callbackafterdismissgroupcommand").name == (
        "callbackAfterDisMissGroupCommand"
    )
    with pytest.raises(ValueError, match="declared twice"):
        registry.declare(registry.command(DECLARED[0]))


def test_a_hosts_handler_replaces_a_declared_one_until_unregistered():
    class Mine(Handler):
        command = "callbackAfterQuitGroupCommand"
        serializer_class = registry.command(command).serializer
        records_only = True

    builtin = registry.get(Mine.command)
    registry.register(Mine())
    try:
        assert isinstance(registry.get(Mine.command), Mine)
    finally:
        registry.unregister(Mine.command)
    assert type(registry.get(Mine.command)) is type(builtin)


def test_the_event_names_the_group_and_user_its_declaration_says():
    conversation = deliver("callbackBeforeCreateGroupChatConversationsCommand", group_id="G9")
    message = deliver("callbackBeforeSendSingleMsgCommand", user_id="alice", user_ids=["bob"])

    assert (conversation.event.group_id, conversation.event.user_id) == ("G9", "")
    assert (message.event.group_id, message.event.user_id) == ("", "alice")


def test_the_docs_table_of_commands_is_current():
    doc = (ROOT / "docs" / "commands.md").read_text()
    assert doc.endswith(table()), "run `make commands`"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("command", "params", "about"),
    [
        (DISMISS, {"group_id": "g-1", "user_id": "own"}, ("g-1", "own")),
        (
            "callbackAfterJoinGroupCommand",
            {"group_id": "g-2", "user_ids": ["joiner"]},
            ("g-2", "joiner"),
        ),
        (
            "callbackAfterQuitGroupCommand",
            {"group_id": "g-3", "user_ids": ["quitter"]},
            ("g-3", "quitter"),
        ),
        ("callbackBeforeSendSingleMsgCommand", {"user_id": "sender"}, ("", "sender")),
        ("callbackAfterUserOnlineCommand", None, ("", "u-online")),  # no handler: still known
    ],
)
def test_every_event_knows_the_group_and_user_it_is_about(post, command, params, about):
    from django_imcallback.openim import body

    payload = body(command, **params) if params else {"userID": "u-online", "platformID": 1}
    post(payload, command=command)

    event = CallbackEvent.objects.get()
    assert (event.group_id, event.user_id) == about


@pytest.mark.django_db(transaction=True)
def test_an_invalid_delivery_still_names_its_group(post):
    post({"callbackCommand": DISMISS, "groupID": "g-bad", "membersID": "not a list"})

    event = CallbackEvent.objects.get()
    assert (event.status, event.group_id) == (CallbackEvent.Status.INVALID, "g-bad")


#: Keys a serializer reads that the open-source server's bodies leave out.
NOT_SENT_BY_THE_OPEN_SOURCE_SERVER = {"eventTime", "operationID", "opUserID"}


def unread_keys(value, serializer):
    """The keys of ``value`` (and of the objects in its lists) that ``serializer`` does not
    read, and the keys it reads that ``value`` lacks, as dotted paths."""
    fields = serializer.fields
    unread = [key for key in value if key not in fields]
    missing = [key for key in fields if key not in value]
    for key, field in fields.items():
        child = getattr(field, "child", None)
        if key in value and hasattr(child, "fields") and isinstance(value[key], list):
            for item in value[key]:
                more_unread, more_missing = unread_keys(item, child)
                unread += [f"{key}[].{k}" for k in more_unread]
                missing += [f"{key}[].{k}" for k in more_missing]
    return sorted(set(unread)), sorted(set(missing))


@pytest.mark.parametrize("command", [c.name for c in registry.declarations()])
def test_every_example_body_has_exactly_the_keys_its_serializer_reads(command):
    unread, missing = unread_keys(body(command), registry.command(command).serializer())

    assert unread == [], "keys the server does not send"
    assert set(missing) <= NOT_SENT_BY_THE_OPEN_SOURCE_SERVER
