"""The commands' declarations and what reads them: the registry, the example bodies, the
event's columns, the command-line tools, the system checks, the docs' table."""

import io
import re
from pathlib import Path
from types import ModuleType

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import include, path

from django_imcallback import decisions
from django_imcallback.commands import Handler, registry, table
from django_imcallback.models import CallbackEvent
from django_imcallback.testing import body, deliver, read_answer
from django_imcallback.urls import bare_url

from .conftest import SUCCESS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
DECLARED = [command.name for command in registry.declarations()]
AGREE = "callbackBeforeAddFriendAgreeCommand"


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


def test_the_friend_agreement_is_typed_with_the_servers_keys():
    sent = body(AGREE, user_id="asker", user_ids=["accepter"])
    assert {"fromUserID", "blackUserID", "HandleResult", "HandleMsg"} <= set(sent)

    result = deliver(AGREE, {**sent, "HandleResult": "1"})  # an int32 on the wire

    assert result.status_code == 400
    assert "HandleResult" in result.event.error
    assert deliver(AGREE, sent).event.user_id == "asker"


def test_the_event_names_the_group_and_user_its_declaration_says():
    conversation = deliver("callbackBeforeCreateGroupChatConversationsCommand", group_id="G9")
    message = deliver("callbackBeforeSendSingleMsgCommand", user_id="alice", user_ids=["bob"])

    assert (conversation.event.group_id, conversation.event.user_id) == ("G9", "")
    assert (message.event.group_id, message.event.user_id) == ("", "alice")


def test_the_revoke_callback_is_an_after_callback_despite_its_name():
    assert not registry.is_before("callbackBeforeAfterMsgCommand")
    with pytest.raises(ValueError, match="not a before-callback"):
        decisions.decides("callbackBeforeAfterMsgCommand")
    assert deliver("callbackBeforeAfterMsgCommand").answer == SUCCESS


def test_the_docs_table_of_commands_is_current():
    doc = (ROOT / "docs" / "commands.md").read_text()
    assert doc.endswith(table()), "run `make commands`"


# -- the command-line tools --------------------------------------------------------------


def test_send_takes_a_webhooks_yml_key(live_server, capsys):
    call_command("imcallback_send", f"{live_server.url}/imcallback", "--command", "afterQuitGroup")

    assert CallbackEvent.objects.get().command == "callbackAfterQuitGroupCommand"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("callbackAfterKickGroupMemberCommand", "callbackAfterKickGroupCommand"),
        ("callbackBeforeSendSingleMessageCommand", "callbackBeforeSendSingleMsgCommand"),
        ("callbackAfterQuitGruopCommand", "callbackAfterQuitGroupCommand"),
    ],
)
def test_a_near_miss_is_an_error_that_names_the_command(live_server, typed, meant):
    with pytest.raises(CommandError, match=f"Did you mean {meant}"):
        call_command("imcallback_send", live_server.url, "--command", typed)
    with pytest.raises(CommandError, match=f"Did you mean {meant}"):
        call_command("imcallback_replay", "--command", typed)


def test_replay_takes_a_stored_command_the_app_does_not_declare(capsys):
    deliver("callbackAfterUserOnlineCommand", b'{"userID":"u"}')
    call_command(
        "imcallback_replay", "--command", "callbackAfterUserOnlineCommand", "--status", "unhandled"
    )
    assert "1" in capsys.readouterr().out


def test_send_lists_every_command_with_its_yml_key(capsys):
    call_command("imcallback_send", "--list")
    listed = capsys.readouterr().out

    for command in registry.declarations():
        assert re.search(rf"^{command.name}\s+{command.yml_key}\s", listed, re.MULTILINE)


def test_send_says_how_the_server_reads_a_change(live_server, capsys):
    @decisions.decides("callbackBeforeUpdateUserInfoExCommand")
    def tidy(event, payload):
        return decisions.Change(nickname=payload["nickName"].strip())

    try:
        call_command(
            "imcallback_send",
            f"{live_server.url}/imcallback",
            "--command",
            "beforeUpdateUserInfoEx",
            "--text",
            " bob ",
        )
    finally:
        decisions.forget(tidy)

    assert "OpenIM would let the action go on, CHANGED: nickName='bob'." in capsys.readouterr().out


# -- system checks ------------------------------------------------------------------------


def urlconf(*patterns):
    module = ModuleType("urls")
    module.urlpatterns = list(patterns)
    return module


def _check_urls():
    return [message.id for message in checks.run_checks(tags=[checks.Tags.urls])]


def test_a_check_says_when_the_endpoint_is_not_mounted(settings):
    settings.ROOT_URLCONF = urlconf()
    assert "imcallback.W002" in _check_urls()


def test_a_check_says_when_the_bare_url_is_not_mounted(settings):
    app = path("imcallback/", include("django_imcallback.urls"))
    settings.ROOT_URLCONF = urlconf(app)
    assert "imcallback.I001" in _check_urls()
    settings.ROOT_URLCONF = urlconf(app, bare_url("imcallback"))
    assert {"imcallback.W002", "imcallback.I001"}.isdisjoint(_check_urls())


# -- the README's examples ----------------------------------------------------------------


def readme_block(title):
    """The README's Python block that starts with the comment ``# title``."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    return next(block for block in blocks if block.startswith(f"# {title}"))


def test_the_readmes_moderation_example_does_what_it_says():
    namespace = {}
    exec(compile(readme_block("myapp/moderation.py"), "README.md", "exec"), namespace)  # noqa: S102
    deciders = [v for v in namespace.values() if callable(v) and hasattr(v, "__code__")]
    try:
        spam = deliver("callbackBeforeSendGroupMsgCommand", text="buy SPAM now")
        rename = body("callbackBeforeUpdateUserInfoExCommand", text="  Bob ")
        renamed = deliver("callbackBeforeUpdateUserInfoExCommand", rename)
    finally:
        for decider in deciders:
            decisions.forget(decider)

    assert (spam.answer["nextCode"], spam.answer["errCode"]) == (1, 5001)
    reading = read_answer("callbackBeforeUpdateUserInfoExCommand", rename, renamed.response.content)
    assert reading.changed(rename) == {"nickName": "Bob"}


def readme_block_with(text):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    return next(block for block in blocks if text in block)


def test_the_readmes_dismissal_receiver_gets_the_members():
    told = []
    namespace = {"notify_users": lambda users: told.append(sorted(users))}
    exec(readme_block_with("def on_dismissed"), namespace)  # noqa: S102
    try:
        deliver("callbackAfterDisMissGroupCommand", user_ids=["u1", "u2"])
    finally:
        from django_imcallback.signals import group_dismissed

        group_dismissed.disconnect(namespace["on_dismissed"])
    assert told == [["u1", "u2"]]


def test_the_readmes_mirror_query_finds_the_members():
    deliver("callbackAfterCreateGroupCommand", group_id="G001", user_ids=["a", "b"])
    namespace = {}
    exec(readme_block_with("IMGroup.objects.get"), namespace)  # noqa: S102
    members = namespace["group"].members.filter(left_at=None)
    assert sorted(members.values_list("user_id", flat=True)) == ["a", "b", "user123"]


def test_the_readmes_test_case_passes():
    import unittest

    namespace = {}
    exec(readme_block_with("class DismissalTests(TestCase)"), namespace)  # noqa: S102
    spam = decisions.decides("callbackBeforeSendSingleMsgCommand")(
        lambda e, p: decisions.Block(5001, "spam") if "spam" in p["content"] else None
    )
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(namespace["DismissalTests"])
        result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    finally:
        decisions.forget(spam)
    assert (result.testsRun, result.errors, result.failures) == (4, [], [])
