"""imcallback_send: a callback sent the way the server sends it."""

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_imcallback import decisions, openim
from django_imcallback.commands import registry
from django_imcallback.models import CallbackEvent, DismissedGroup

pytestmark = pytest.mark.django_db(transaction=True)


def test_sends_a_dismissal_the_way_the_server_does(live_server, capsys):
    call_command(
        "imcallback_send",
        f"{live_server.url}/imcallback",
        "--group",
        "G<&>1",
        "--members",
        "3",
        "--operation-id",
        "op-send-1",
    )

    assert "HTTP 200" in capsys.readouterr().out
    dismissal = DismissedGroup.objects.get()
    assert dismissal.group_id == "G<&>1"
    assert dismissal.member_count == 3
    assert dismissal.group_type_raw == "\u0002"
    event = CallbackEvent.objects.get()
    body = bytes(event.body)
    assert b"G\\u003c\\u0026\\u003e1" in body
    assert body.endswith(b"}\n")
    assert event.operation_id == "op-send-1"
    assert event.headers["User-Agent"] == "Go-http-client/1.1"


def test_basic_auth_comes_from_the_url(live_server, settings, capsys):
    settings.IMCALLBACK = {"BASIC_AUTH": ["openim:p@ss"]}
    host = live_server.url.removeprefix("http://")

    call_command("imcallback_send", f"http://openim:p%40ss@{host}/imcallback")
    assert DismissedGroup.objects.count() == 1

    with pytest.raises(CommandError, match="did not accept"):
        call_command("imcallback_send", f"http://openim:wrong@{host}/imcallback")
    assert "HTTP 401" in capsys.readouterr().out


def test_sends_a_body_from_a_file(live_server, tmp_path):
    path = tmp_path / "online.json"
    path.write_text(
        json.dumps({"callbackCommand": "callbackAfterUserOnlineCommand", "userID": "u"})
    )

    call_command("imcallback_send", f"{live_server.url}/imcallback", "--from-file", str(path))

    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == ("callbackAfterUserOnlineCommand", "unhandled")


def test_unreachable_receiver_is_a_clear_error():
    with pytest.raises(CommandError, match="Could not reach"):
        call_command("imcallback_send", "http://127.0.0.1:9/imcallback", "--timeout", "2")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/imcallback", "http://h/imcallback/cmd"),
        ("http://h/imcallback/", "http://h/imcallback//cmd"),  # as the server does
        ("http://u:p@h:8000/x?contenttype=json", "http://h:8000/x/cmd?contenttype=json"),
    ],
)
def test_urls_are_built_like_the_server_builds_them(url, expected):
    assert openim.build_request(url, "cmd", b"{}", "op").url == expected


def test_go_json_matches_gos_encoder():
    assert openim.go_json({"a": "<&>\u2028é"}) == b'{"a":"\\u003c\\u0026\\u003e\\u2028\xc3\xa9"}\n'


@pytest.mark.parametrize(
    "command", ["callbackAfterJoinGroupCommand", "callbackAfterKickGroupCommand"]
)
def test_sends_a_group_command_as_the_server_encodes_it(live_server, command):
    call_command(
        "imcallback_send", f"{live_server.url}/imcallback", "--command", command, "--users", "u7"
    )

    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (command, "processed")
    assert bytes(event.body).endswith(b"}\n")  # Go's encoder: a trailing newline
    assert b'"u7"' in bytes(event.body)


def test_a_command_without_a_known_body_needs_a_file(live_server):
    with pytest.raises(CommandError, match="No body known"):
        call_command(
            "imcallback_send", live_server.url, "--command", "callbackAfterUserOnlineCommand"
        )


def test_sends_a_before_callback_and_says_how_openim_reads_the_answer(live_server, capsys):
    from django_imcallback.decisions import Block, decides, forget

    @decides("callbackBeforeSendSingleMsgCommand")
    def moderate(event, payload):
        return Block(5001, "Message refused") if "spam" in payload["content"] else None

    url = f"{live_server.url}/imcallback"
    try:
        command = ["--command", "callbackBeforeSendSingleMsgCommand", "--users", "bob"]
        call_command("imcallback_send", url, *command, "--text", "spam, spam")
        blocked = capsys.readouterr().out
        call_command("imcallback_send", url, *command, "--text", "hello")
        allowed = capsys.readouterr().out
    finally:
        forget(moderate)

    assert "OpenIM would BLOCK the action (errCode 5001, errMsg 'Message refused')" in blocked
    assert "OpenIM would let the action go on, unchanged." in allowed
    assert CallbackEvent.objects.filter(verdict="block").count() == 1


def test_a_missing_file_is_a_clear_error_not_a_traceback(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.json"):
        call_command(
            "imcallback_send", "http://127.0.0.1:9/x", "--from-file", str(tmp_path / "missing.json")
        )


@pytest.mark.parametrize(
    "command",
    [
        "callbackBeforeOnlinePushCommand",
        "callbackBeforeUserRegisterCommand",
        "callbackBeforeAddFriendCommand",
    ],
)
def test_sends_every_typed_command_not_only_groups_and_messages(live_server, command):
    call_command("imcallback_send", f"{live_server.url}/imcallback", "--command", command)

    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (command, "processed")


def test_count_seeds_many_groups_with_varied_members(live_server, capsys):
    call_command(
        "imcallback_send", f"{live_server.url}/imcallback", "--count", "6", "--members", "4"
    )

    dismissals = DismissedGroup.objects.order_by("group_id")
    assert [d.group_id for d in dismissals] == [f"G001-{i:04d}" for i in range(1, 7)]
    sizes = [d.member_count for d in dismissals]
    assert all(1 <= size <= 8 for size in sizes)
    assert len(set(sizes)) > 1  # varied, not six copies
    operation_ids = CallbackEvent.objects.values_list("operation_id", flat=True)
    assert len(set(operation_ids)) == 6
    assert capsys.readouterr().out.count("HTTP 200") == 6


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


@contextmanager
def answering(answer: bytes):
    """A receiver on 127.0.0.1 that answers every POST with HTTP 200 and ``answer``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_200_with_an_error_code_is_not_taken_for_acceptance(capsys):
    answer = b'{"actionCode":0,"errCode":5001,"errMsg":"busy","errDlt":"","nextCode":0}'

    with answering(answer) as url, pytest.raises(CommandError, match="did not accept"):
        call_command("imcallback_send", f"{url}/imcallback")

    assert "HTTP 200" in capsys.readouterr().out
