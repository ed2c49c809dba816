"""imcallback_sync: the mirror mended from the server's REST API (a fake server)."""

import threading

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import Client as DjangoClient
from django.test.utils import CaptureQueriesContext

from django_imcallback.models import DismissedGroup, IMGroup, IMGroupMember
from django_imcallback.openim import body, go_json
from django_imcallback.openim_api import Client as APIClient
from django_imcallback.sync import sync
from django_imcallback.testing import deliver

from ..conftest import requires_postgres

pytestmark = pytest.mark.django_db


def members(group_id):
    rows = IMGroupMember.objects.filter(group__group_id=group_id, left_at=None)
    return dict(rows.values_list("user_id", "role_level"))


def run(*args):
    call_command("imcallback_sync", *args)


def test_an_empty_mirror_is_filled_page_by_page(server):
    many = {f"u{i:04d}": 20 for i in range(2100)}
    server.add_group("big", "owner", many, name="Big")
    server.add_group("small", "alice", ["bob"])

    run()

    group = IMGroup.objects.get(group_id="big")
    assert (group.name, group.owner_id, group.status) == ("Big", "owner", "active")
    assert members("big") == {"owner": 100, **many}
    assert members("small") == {"alice": 100, "bob": 20}
    assert server.calls("/group/get_group_member_list") == 3 + 1  # 2,101 members in pages of 1,000
    joined = IMGroupMember.objects.filter(group=group).values_list("joined_how", flat=True)
    assert set(joined) == {"synced"}
    assert group.synced_at is not None
    assert "added" in group.sync_changes


def test_missed_callbacks_are_mended_and_a_second_run_changes_nothing(server, capsys):
    deliver("callbackAfterCreateGroupCommand", group_id="G1", user_id="owner", user_ids=["a", "b"])
    deliver("callbackAfterCreateGroupCommand", group_id="G2", user_id="owner", user_ids=["c"])
    # What the app missed: b quit, d joined, a became an admin, G2 was dismissed.
    server.add_group("G1", "owner", {"a": 60, "d": 20}, name="Group G1")
    server.add_group("G2", "owner", ["c"], status=2)

    run()

    assert members("G1") == {"owner": 100, "a": 60, "d": 20}
    quit = IMGroupMember.objects.get(group__group_id="G1", user_id="b")
    assert quit.left_how == "synced"
    assert IMGroup.objects.get(group_id="G2").status == "dismissed"
    out = capsys.readouterr().out
    assert "members: 1 added, 1 changed, 1 ended." in out
    assert "1 dismissed" in out

    run()
    assert "0 added, 0 changed, 0 dismissed" in capsys.readouterr().out


def test_after_a_sync_an_administrators_member_less_dismissal_has_its_members(server):
    server.add_group("old", "owner", ["a", "b"])  # predates the app
    run()

    deliver("callbackAfterDisMissGroupCommand", group_id="old", user_id="owner", user_ids=[])

    dismissal = DismissedGroup.objects.get(group_id="old")
    assert dismissal.members_source == "mirror"
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == ["a", "b", "owner"]


def test_a_dry_run_prints_the_differences_and_writes_nothing(server, capsys):
    server.add_group("G1", "owner", ["a"])
    run("--dry-run")

    out = capsys.readouterr().out
    assert "G1: a joined (role 20)" in out
    assert out.strip().endswith("members: 2 added, 0 changed, 0 ended.")
    assert not IMGroup.objects.exists()


def test_only_the_groups_asked_for(server):
    server.add_group("G1", "owner", ["a"])
    server.add_group("G2", "owner", ["b"])
    run("--group", "G2")

    assert list(IMGroup.objects.values_list("group_id", flat=True)) == ["G2"]
    assert server.calls("/group/get_groups") == 0


def test_groups_changed_recently_are_skipped(server, capsys):
    deliver("callbackAfterJoinGroupCommand", group_id="G1", user_ids=["x"])
    server.add_group("G1", "owner", ["a"])

    run("--skip-recent", "10")

    assert members("G1") == {"x": 20}
    assert "1 skipped" in capsys.readouterr().out


def test_one_admin_token_per_run_and_one_new_one_after_it_expires(server):
    for index in range(3):
        server.add_group(f"G{index}", "owner", ["a"])
    client = APIClient(server.url, "openIM123")

    sync(client)
    assert server.calls("/auth/get_admin_token") == 1
    server.expire_tokens()
    sync(client)
    assert server.calls("/auth/get_admin_token") == 2
    every = [headers for _, headers, _ in server.requests]
    assert all(h.get("operationid") for h in every)
    assert all(h.get("token") for path, h, _ in server.requests if path != "/auth/get_admin_token")


def test_a_token_refused_again_is_an_error_not_a_loop(server):
    server.add_group("G1", "owner", ["a"])
    client = APIClient(server.url, "openIM123")
    client.token()
    server._tokens.clear()  # every token unknown, and the new ones too
    server.admin_user_ids = ()
    with pytest.raises(Exception, match="errCode"):
        sync(client)
    assert server.calls("/auth/get_admin_token") == 2


def test_network_errors_are_retried_with_backoff(server):
    server.add_group("G1", "owner", ["a"])
    pauses = []
    client = APIClient(server.url, "openIM123", sleep=pauses.append)
    server.drop = 2

    sync(client)

    assert members("G1") == {"owner": 100, "a": 20}
    assert pauses == [0.5, 1.0]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda s, settings: settings.IMCALLBACK["OPENIM_API"].update(SECRET="wrong"), "secret"),
        (
            lambda s, settings: settings.IMCALLBACK["OPENIM_API"].update(URL="http://127.0.0.1:9"),
            "cannot reach",
        ),
        (lambda s, settings: setattr(s, "html", True), "not OpenIM's"),
        (lambda s, settings: setattr(s, "fail", (500, "ServerInternalError")), "errCode 500"),
        (lambda s, settings: settings.IMCALLBACK.update(OPENIM_API={"URL": s.url}), "SECRET"),
        (lambda s, settings: settings.IMCALLBACK["OPENIM_API"].update(URL="ftp://x"), "URL"),
    ],
)
def test_every_failure_is_a_clear_error_and_leaves_the_mirror_alone(
    server, settings, setup, message
):
    server.add_group("G1", "owner", ["a"])
    settings.IMCALLBACK = {"OPENIM_API": {"URL": server.url, "SECRET": "openIM123"}}
    setup(server, settings)
    settings.IMCALLBACK = dict(settings.IMCALLBACK)  # the change is seen

    with pytest.raises(CommandError, match=message):
        call_command("imcallback_sync")
    assert not IMGroup.objects.exists()


def test_a_half_configured_api_is_a_warning(settings):
    settings.IMCALLBACK = {"OPENIM_API": {"URL": "http://openim:10002"}}
    found = [m.id for m in checks.run_checks()]
    assert "imcallback.W003" in found


def test_a_sync_of_many_groups_writes_in_bulk(server):
    for index in range(20):
        server.add_group(f"G{index}", "owner", [f"u{i}" for i in range(50)])

    with CaptureQueriesContext(connection) as queries:
        sync(APIClient(server.url, "openIM123"))

    assert IMGroupMember.objects.count() == 20 * 51
    assert len(queries) / 20 < 15  # per group, whatever its size


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_callback_after_the_sync_read_the_server_wins(server):
    """The server says x is a member; x quits after the sync read that, before it writes."""
    deliver("callbackAfterCreateGroupCommand", group_id="G1", user_id="owner", user_ids=["x"])
    server.add_group("G1", "owner", ["x", "y"])

    def quit_meanwhile(group_id):
        def post():
            try:
                quit = body("callbackAfterQuitGroupCommand", group_id=group_id, user_ids=["x"])
                DjangoClient().post(
                    "/imcallback/callbackAfterQuitGroupCommand",
                    go_json(quit),
                    content_type="application/json",
                )
            finally:
                connections.close_all()

        worker = threading.Thread(target=post)
        worker.start()
        worker.join()
        server.on_members = None

    server.on_members = quit_meanwhile
    sync(APIClient(server.url, "openIM123"))

    assert members("G1") == {"owner": 100, "y": 20}
    assert IMGroupMember.objects.get(user_id="x").left_how == "quit"


def test_the_sync_runs_as_a_task(server):
    from django_imcallback.tasks import sync_mirror

    server.add_group("G1", "owner", ["a"])
    result = sync_mirror.enqueue(group_ids=["G1"])

    assert "1 groups read: 1 added" in result.return_value
    assert members("G1") == {"owner": 100, "a": 20}
