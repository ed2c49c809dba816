"""The group callbacks, the mirror of groups and members, and whole dismissal snapshots."""

import json
import threading
import time
from datetime import timedelta
from typing import ClassVar

import pytest
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_imcallback import mirror
from django_imcallback.commands import registry
from django_imcallback.commands.groups import CREATE_INFO_FIELDS, founding_members
from django_imcallback.models import (
    CallbackEvent,
    DismissedGroup,
    IMGroup,
    IMGroupMember,
)
from django_imcallback.openim import go_json
from django_imcallback.replay import replay_events
from django_imcallback.signals import (
    group_created,
    group_dismissed,
    group_info_changed,
    group_member_changed,
    group_member_left,
    group_members_joined,
    group_owner_changed,
)

from ..conftest import SUCCESS, assert_goes_on_unchanged, requires_postgres, send
from ..factories import DISMISS, CallbackEventFactory, group_body
from ..handler_cases import HandlerContract

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


CREATE = "callbackAfterCreateGroupCommand"


JOIN = "callbackAfterJoinGroupCommand"


QUIT = "callbackAfterQuitGroupCommand"


KICK = "callbackAfterKickGroupCommand"


TRANSFER = "callbackAfterTransferGroupOwnerCommand"


GROUP_COMMANDS = [c.name for c in registry.declarations() if c.family in ("groups", "dismissals")]


def members_of(group_id):
    group = IMGroup.objects.get(group_id=group_id)
    return set(group.members.filter(left_at__isnull=True).values_list("user_id", flat=True))


def member_row(m):
    return (m.role_level, m.joined_how, m.left_how, m.is_member, m.info, m.last_event_id)


class GroupContract(HandlerContract):
    users: ClassVar[list[str]] = ["u-1"]
    extra: ClassVar[dict] = {}

    def body(self, key):
        return {**group_body(self.command, f"g-{key}", "owner", self.users, "op"), **self.extra}

    def stored(self, key):
        return mirror.history(IMGroup.objects.get(group_id=f"g-{key}")).count()

    def observe(self, key):
        group = IMGroup.objects.get(group_id=f"g-{key}")
        fields = ("name", "owner_id", "group_type", "status", "info", "last_event_id")
        return {
            "group": {field: getattr(group, field) for field in fields},
            "members": {
                m.user_id: (
                    m.role_level,
                    m.joined_how,
                    m.left_how,
                    m.is_member,
                    m.info,
                    m.last_event_id,
                )
                for m in group.members.all()
            },
            "history": [
                (e.pk, {k: v for k, v in e.outcome["announce"].items() if k != "group"})
                for e in mirror.history(group)
            ],
        }

    def arguments(self, call):
        return {**super().arguments(call), "group": call["group"].group_id}

    def expect(self, key, event, *, members, details, group=None):
        """The effect of a change to a group the mirror had not seen before it: ``members``
        maps each user to (role level, joined how, left how, is a member[, info]); ``group``,
        the group's own fields it changes (the group's row then names it as the last change:
        a change to members alone names it on the members' rows)."""
        row = {"name": "", "owner_id": "", "group_type": None, "status": "active", "info": {}}
        stored = {
            "group": {**row, **(group or {}), "last_event_id": event.pk if group else None},
            "members": {
                user: (*member, *([{}] if len(member) == 4 else []), event.pk)
                for user, member in members.items()
            },
            "history": [(event.pk, details)],
        }
        return {"stored": stored, "announced": {"group": f"g-{key}", **details}}


class TestCreate(GroupContract):
    command, signal = CREATE, group_created

    def effect(self, key, event):
        sent = json.loads(bytes(event.body))
        info = {field: sent[field] for field in CREATE_INFO_FIELDS}
        group = {"name": f"Group g-{key}", "owner_id": "owner", "group_type": 2, "info": info}
        members = {"owner": (100, "created", "", True), "u-1": (20, "created", "", True)}
        details = {"member_ids": ["owner", "u-1"]}
        return self.expect(key, event, group=group, members=members, details=details)


class TestMembersJoin(GroupContract):
    command, signal = "callbackBeforeMembersJoinGroupCommand", group_members_joined

    def effect(self, key, event):
        members = {"u-1": (20, "announced", "", True)}
        return self.expect(
            key, event, members=members, details={"user_ids": ["u-1"], "how": "announced"}
        )


class TestJoin(GroupContract):
    command, signal = JOIN, group_members_joined

    def effect(self, key, event):
        members = {"u-1": (20, "joined", "", True)}
        return self.expect(
            key, event, members=members, details={"user_ids": ["u-1"], "how": "joined"}
        )


class TestQuit(GroupContract):
    command, signal = QUIT, group_member_left

    def effect(self, key, event):
        details = {"user_ids": ["u-1"], "reason": "quit", "kicked_by": "", "message": ""}
        return self.expect(key, event, members={"u-1": (None, "", "quit", False)}, details=details)


class TestKick(GroupContract):
    command, signal = KICK, group_member_left
    extra: ClassVar[dict] = {"opUserID": "admin-1", "reason": "spam"}

    def effect(self, key, event):
        details = {
            "user_ids": ["u-1"],
            "reason": "kicked",
            "kicked_by": "admin-1",
            "message": "spam",
        }
        members = {"u-1": (None, "", "kicked", False)}
        return self.expect(key, event, members=members, details=details)


class TestTransfer(GroupContract):
    command, signal = TRANSFER, group_owner_changed

    def effect(self, key, event):
        members = {"owner": (20, "seen", "", True), "u-1": (100, "seen", "", True)}
        details = {"old_owner_id": "owner", "new_owner_id": "u-1"}
        return self.expect(key, event, group={"owner_id": "u-1"}, members=members, details=details)


class TestSetInfo(GroupContract):
    """``""`` and ``null`` both mean unchanged."""

    command, signal = "callbackAfterSetGroupInfoCommand", group_info_changed
    extra: ClassVar[dict] = {"notification": "", "introduction": None, "ex": "x"}

    def effect(self, key, event):
        changes = {"groupName": f"Group g-{key} renamed", "ex": "x"}
        group = {"name": f"Group g-{key} renamed", "info": {"ex": "x"}}
        return self.expect(key, event, group=group, members={}, details={"changes": changes})


class TestSetInfoEx(GroupContract):
    """Only ``null`` means unchanged: ``""`` empties a field."""

    command, signal = "callbackAfterSetGroupInfoExCommand", group_info_changed
    extra: ClassVar[dict] = {"notification": "", "introduction": None, "ex": "x"}

    def effect(self, key, event):
        changes = {"groupName": f"Group g-{key} renamed", "notification": "", "ex": "x"}
        group = {"name": f"Group g-{key} renamed", "info": {"notification": "", "ex": "x"}}
        return self.expect(key, event, group=group, members={}, details={"changes": changes})


class TestSetMemberInfo(GroupContract):
    command, signal = "callbackAfterSetGroupMemberInfoCommand", group_member_changed
    extra: ClassVar[dict] = {"nickName": "Nick", "faceURL": None, "roleLevel": 60}

    def effect(self, key, event):
        members = {"u-1": (60, "seen", "", True, {"nickName": "Nick"})}
        details = {"user_id": "u-1", "changes": {"nickName": "Nick", "roleLevel": 60}}
        return self.expect(key, event, members=members, details=details)


def creation(owner, admins=(), members=(), operator=None):
    """An after-create list as the server builds it: owner (100), admins (60), then every
    user of the creation at 20 (members, admins, owner), then the operator when not among
    them (``group.go`` CreateGroup)."""
    users = [*members, *admins, owner]
    if operator is not None and operator not in users:
        users.append(operator)
    entries = [{"userID": owner, "roleLevel": 100}]
    entries += [{"userID": u, "roleLevel": 60} for u in admins]
    entries += [{"userID": u, "roleLevel": 20} for u in users]
    return {"initMemberList": entries, "memberCount": len(users)}


def roles(group_id="G1"):
    group = IMGroup.objects.get(group_id=group_id)
    return dict(group.members.filter(left_at=None).values_list("user_id", "role_level"))


ops = st.lists(
    st.tuples(st.sampled_from(["join", "quit", "kick", "transfer"]), st.sampled_from("abcdef")),
    max_size=25,
)


def _post_in_thread(command, group_id, users, **changes):
    try:
        body = {**group_body(command, group_id, "owner", users, "op"), **changes}
        return Client().post(
            f"/imcallback/{command}", go_json(body), content_type="application/json"
        )
    finally:
        connections.close_all()


@pytest.mark.parametrize("command", GROUP_COMMANDS)
def test_every_group_command_is_typed_and_stored_as_the_server_sends_it(post, command):
    sent = group_body(command, "G1", "owner", ["a", "b"], "op-1")
    response = post(sent, command)

    assert_goes_on_unchanged(command, sent, response)  # before-callbacks: allowed at once
    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (command, Status.PROCESSED)


@pytest.mark.parametrize(
    "command",
    [c for c in GROUP_COMMANDS if c.startswith("callbackBefore") and "MembersJoin" not in c],
)
def test_before_callbacks_are_recorded_and_change_nothing(post, received_signals, command):
    send(post, command, users=["a"])

    assert not IMGroup.objects.exists()
    assert [call["command"] for call in received_signals] == [command]


def test_a_create_body_has_an_integer_group_type_and_an_application_a_string(post):
    send(post, CREATE)
    assert IMGroup.objects.get().group_type == 2
    bad = {**group_body(CREATE, "G2"), "groupType": "two"}
    assert post(bad, CREATE).status_code == 400
    apply = group_body("callbackBeforeJoinGroupCommand", "G3", user_ids=["a"])
    assert apply["groupType"] == "\u0002"
    assert post(apply, "callbackBeforeJoinGroupCommand").json() == SUCCESS


def test_null_lists_and_html_escapes_are_read_as_go_writes_them(post):
    event = send(post, CREATE, groupName="<b>Tom & Jerry</b>")
    assert b'"groupName":"\\u003cb\\u003eTom \\u0026 Jerry' in bytes(event.body)
    assert IMGroup.objects.get().name == "<b>Tom & Jerry</b>"

    event = send(post, KICK, kickedUserIDs=None)
    assert event.status == Status.DUPLICATE  # nobody named: nothing changed

    event = send(post, "callbackBeforeMembersJoinGroupCommand", memberList=None)
    assert event.status == Status.DUPLICATE


@pytest.mark.parametrize(
    ("command", "body"),
    [
        (CREATE, {"initMemberList": [None]}),
        ("callbackBeforeMembersJoinGroupCommand", {"memberList": [None]}),
    ],
)
def test_a_null_member_in_a_member_list_is_an_invalid_body(post, command, body):
    response = post({**group_body(command), **body}, command)

    assert response.status_code == 400
    assert CallbackEvent.objects.get().status == Status.INVALID


def test_the_join_callbacks_joiner_is_its_inviter_user_id(post):
    send(post, JOIN, users=["joiner"])

    member = IMGroupMember.objects.get(user_id="joiner")
    assert (member.is_member, member.joined_how) == (True, "joined")


def test_set_info_ex_null_means_unchanged(post, recorder):
    changed = recorder(group_info_changed)
    send(post, CREATE, groupName="Old")
    send(post, "callbackAfterSetGroupInfoExCommand", groupName="New", ex="x")

    group = IMGroup.objects.get()
    assert (group.name, group.info["ex"], group.info["notification"]) == (
        "New",
        "x",
        "",
    )  # null: unchanged (the creation's "")
    assert changed.calls[0]["changes"] == {"groupName": "New", "ex": "x"}


def test_founders_keep_their_first_role_though_the_server_repeats_them_at_20(post, recorder):
    created = recorder(group_created)
    send(post, CREATE, **creation("owner", admins=["adm"], members=["m1", "m2"]))

    assert roles() == {"owner": 100, "adm": 60, "m1": 20, "m2": 20}
    assert created.calls[0]["member_ids"] == ["owner", "adm", "m1", "m2"]


def test_the_servers_admin_user_creating_through_the_rest_api_is_no_member(post, recorder):
    created = recorder(group_created)
    send(post, CREATE, **creation("owner", members=["m1"], operator="imAdmin"))

    assert roles() == {"owner": 100, "m1": 20}
    assert created.calls[0]["member_ids"] == ["owner", "m1"]
    send(post, "callbackAfterDisMissGroupCommand", users=[])
    snapshot = DismissedGroup.objects.get().members.values_list("user_id", flat=True)
    assert sorted(snapshot) == ["m1", "owner"]


def test_the_servers_admin_user_listed_as_a_member_is_one(post, settings):
    settings.IMCALLBACK = {"ADMIN_USER_IDS": ["imAdmin", "ops"]}
    send(post, CREATE, "G1", **creation("owner", members=["imAdmin", "m1"], operator="ops"))
    send(post, CREATE, "G2", owner="imAdmin", **creation("imAdmin", members=["m1"]))

    assert roles("G1") == {"owner": 100, "imAdmin": 20, "m1": 20}
    assert roles("G2") == {"imAdmin": 100, "m1": 20}


def test_a_group_name_longer_than_255_characters_is_stored(post):
    name = "n" * 1000  # the server sets no limit
    send(post, CREATE, groupName=name)
    assert IMGroup.objects.get().name == name


@pytest.mark.parametrize("members", [None, ["owner", "c", "invited"]])
def test_a_group_followed_from_creation_gives_the_administrators_dismissal_its_members(
    post, recorder, members
):
    dismissed = recorder(group_dismissed)
    left = recorder(group_member_left)
    send(post, CREATE, users=["a", "b"])
    send(post, JOIN, users=["c"])
    send(post, "callbackBeforeMembersJoinGroupCommand", users=["invited"])
    send(post, QUIT, users=["a"])
    send(post, KICK, users=["b"], reason="spam")
    send(post, TRANSFER, users=["c"])

    # None: deleteMember true, one callback; else the server's full list (route 1 on PG).
    send(post, DISMISS, users=[], membersID=members)

    dismissal = DismissedGroup.objects.get()
    assert dismissal.members_source == ("mirror" if members is None else "callback")
    assert set(dismissal.members.values_list("user_id", flat=True)) == {"owner", "c", "invited"}
    assert dismissal.member_count == 3
    group = IMGroup.objects.get()
    assert (group.status, group.owner_id) == ("dismissed", "c")
    assert [call["dismissal"].pk for call in dismissed.calls] == [dismissal.pk]
    assert [(c["user_ids"], c["reason"], c["message"]) for c in left.calls] == [
        (["a"], "quit", ""),
        (["b"], "kicked", "spam"),
    ]


def test_the_servers_own_member_list_replaces_a_snapshot_from_the_mirror(post, recorder):
    dismissed = recorder(group_dismissed)
    send(post, CREATE, users=["a"])
    send(post, DISMISS, users=[], membersID=None)
    send(post, DISMISS, users=["a", "late"])
    send(post, DISMISS, users=[], membersID=[])  # never shrinks it

    dismissal = DismissedGroup.objects.get()
    assert dismissal.members_source == "callback"
    assert set(dismissal.members.values_list("user_id", flat=True)) == {"a", "late"}
    assert len(dismissed.calls) == 1


def test_a_dismissal_of_a_group_never_seen_knows_nothing_of_its_members(post):
    """Both routes: the member-less copy goes through the transaction, the full one is
    stored by one statement on PostgreSQL."""
    send(post, DISMISS, "unknown", users=[], membersID=None)

    send(post, DISMISS, "unseen-with-members", users=["a"])

    dismissal = DismissedGroup.objects.get(group_id="unknown")
    assert (dismissal.members_source, dismissal.member_count) == ("none", 0)
    assert not IMGroup.objects.exists()  # a dismissal does not add a group to the mirror


def test_a_user_who_quits_and_rejoins_is_a_member_again(post, recorder):
    joined = recorder(group_members_joined)
    send(post, JOIN, users=["u"])
    send(post, QUIT, users=["u"])
    send(post, JOIN, users=["u"])

    member = IMGroupMember.objects.get()
    assert (member.is_member, member.left_how) == (True, "")
    assert len(joined.calls) == 2


def test_a_quit_for_a_group_never_seen_creates_it_and_remembers_the_departure(post):
    send(post, QUIT, users=["u"])

    member = IMGroupMember.objects.get()
    assert (member.is_member, member.left_how, member.group.group_id) == (False, "quit", "G1")


def test_an_older_event_time_never_overwrites_a_newer_change(post):
    send(post, TRANSFER, users=["new"], eventTime=2_000_000)
    event = send(post, TRANSFER, users=["older"], eventTime=1_000_000)

    assert IMGroup.objects.get().owner_id == "new"
    assert event.status == Status.DUPLICATE
    send(post, QUIT, users=["x"], eventTime=5_000)
    send(post, JOIN, users=["x"], eventTime=4_000)  # sent before the quit: stays out
    assert "x" not in members_of("G1")


def test_a_change_sent_at_the_same_event_time_is_applied_in_arrival_order(post):
    send(post, JOIN, users=["x"], eventTime=5_000)
    quit = send(post, QUIT, users=["x"], eventTime=5_000)  # the same millisecond: not older

    assert quit.status == Status.PROCESSED
    assert "x" not in members_of("G1")


def test_a_current_members_new_role_names_the_event_that_set_it(post):
    send(post, CREATE, users=["m"])
    transfer = send(post, TRANSFER, users=["m"])  # the owner's role goes to m

    member, owner = IMGroupMember.objects.order_by("user_id").filter(user_id__in=["m", "owner"])
    assert (member.user_id, member.role_level, member.last_event_id) == ("m", 100, transfer.pk)
    assert (owner.user_id, owner.role_level, owner.last_event_id) == ("owner", 20, transfer.pk)


def test_a_member_less_repeat_leaves_the_mirrored_dismissal_as_the_first_copy_left_it(post):
    send(post, CREATE, users=["a"])
    first = send(post, DISMISS, users=["a"])
    dismissed_at = IMGroup.objects.get().dismissed_at

    repeat = send(post, DISMISS, users=[], membersID=None)

    group = IMGroup.objects.get()
    assert repeat.status == Status.DUPLICATE
    assert (group.status, group.dismissed_at, group.last_event_id) == (
        "dismissed",
        dismissed_at,
        first.pk,
    )


@requires_postgres
def test_a_second_change_to_a_group_waits_for_the_first_ones_transaction():
    """Two transactions stepped through the race: the second locks the group only after
    the first commits, and then sees the first one's member."""
    event = CallbackEventFactory()
    IMGroup.objects.create(group_id="raced")  # known already: only the row lock can order them
    locked, release, seen, errors = threading.Event(), threading.Event(), [], []

    def first():
        try:
            with transaction.atomic():
                group = mirror.lock_group("raced")
                mirror.admit(group, event, {"early": None}, "joined")
                locked.set()
                release.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def second():
        try:
            with transaction.atomic():
                group = mirror.lock_group("raced")
                seen.append(sorted(mirror.members(group, ["early"])))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert locked.wait(10)
    threads[1].start()
    waiting = wait_for_a_lock_wait()
    release.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert waiting, "the second transaction did not wait for the group's lock"
    assert seen == [["early"]]


def wait_for_a_lock_wait(timeout=5.0):
    """Whether another connection of this test is seen waiting for a row lock."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(founders=st.sets(st.sampled_from("abcdef"), max_size=4), steps=ops)
def test_the_mirror_follows_any_lifecycle_as_a_plain_model_does(post, founders, steps):
    group_id = f"prop-{IMGroup.objects.count()}"
    model = {"owner": 100, **{u: 20 for u in founders if u != "owner"}}
    owner = "owner"
    send(post, CREATE, group_id, users=sorted(founders))
    for op, user in steps:
        if op == "join":
            send(post, JOIN, group_id, users=[user])
            model.setdefault(user, 20)
        elif op in ("quit", "kick"):
            send(post, QUIT if op == "quit" else KICK, group_id, users=[user])
            model.pop(user, None)
        else:
            body = {"oldOwnerUserID": owner, "newOwnerUserID": user}
            send(post, TRANSFER, group_id, users=[user], **body)
            model[owner], model[user], owner = 20, 100, user

    group = IMGroup.objects.get(group_id=group_id)
    mirrored = dict(group.members.filter(left_at=None).values_list("user_id", "role_level"))
    assert mirrored == model
    assert group.owner_id == owner


@requires_postgres
def test_concurrent_joins_and_quits_of_one_group_lose_nothing():
    threads, answers = [], []

    def worker(n):
        for i in range(6):
            answers.append(_post_in_thread(JOIN, "busy", [f"u{n}-{i}"]).status_code)
            if i % 2:
                answers.append(_post_in_thread(QUIT, "busy", [f"u{n}-{i}"]).status_code)

    for n in range(8):
        threads.append(threading.Thread(target=worker, args=(n,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert answers == [200] * 72
    assert members_of("busy") == {f"u{n}-{i}" for n in range(8) for i in (0, 2, 4)}
    assert mirror.history(IMGroup.objects.get(group_id="busy")).count() == 72


@requires_postgres
@pytest.mark.parametrize("attempt", range(4))
def test_a_quit_racing_the_member_less_dismissal_gives_one_of_two_whole_snapshots(post, attempt):
    group_id = f"race-{attempt}"
    send(post, CREATE, group_id, users=["a", "b", "c"])
    threads = [
        threading.Thread(target=_post_in_thread, args=(QUIT, group_id, ["c"])),
        threading.Thread(
            target=_post_in_thread, args=(DISMISS, group_id, []), kwargs={"membersID": None}
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    dismissal = DismissedGroup.objects.get(group_id=group_id)
    snapshot = sorted(dismissal.members.values_list("user_id", flat=True))
    assert snapshot in (["a", "b", "c", "owner"], ["a", "b", "owner"])
    assert dismissal.member_count == len(snapshot)
    assert dismissal.members_source == "mirror"


def test_an_integer_beyond_go_int32_is_an_invalid_body_not_a_failed_store(post):
    command = "callbackAfterSetGroupMemberInfoCommand"
    response = post({**group_body(command), "roleLevel": 2**31}, command)

    assert response.status_code == 400
    assert CallbackEvent.objects.get().status == Status.INVALID


SET_INFO = "callbackAfterSetGroupInfoCommand"
SET_MEMBER = "callbackAfterSetGroupMemberInfoCommand"
MEMBERS_JOIN = "callbackBeforeMembersJoinGroupCommand"


@pytest.mark.parametrize(
    ("newer", "older", "unchanged"),
    [
        ((QUIT, {}), (MEMBERS_JOIN, {}), lambda: "u" not in members_of("G1")),
        ((JOIN, {}), (KICK, {}), lambda: "u" in members_of("G1")),
        ((JOIN, {}), (QUIT, {}), lambda: "u" in members_of("G1")),
        (
            (SET_INFO, {"groupName": "new"}),
            (SET_INFO, {"groupName": "old"}),
            lambda: IMGroup.objects.get().name == "new",
        ),
        (
            (SET_MEMBER, {"roleLevel": 60}),
            (SET_MEMBER, {"roleLevel": 20}),
            lambda: IMGroupMember.objects.get(user_id="u").role_level == 60,
        ),
        (
            (TRANSFER, {}),
            (SET_MEMBER, {"roleLevel": 20}),
            lambda: IMGroupMember.objects.get(user_id="u").role_level == 100,
        ),
    ],
)
def test_a_change_sent_before_the_last_one_applied_is_not_applied(post, newer, older, unchanged):
    (first, first_changes), (then, then_changes) = newer, older
    send(post, first, users=["u"], eventTime=5_000, **first_changes)

    late = send(post, then, users=["u"], eventTime=4_000, **then_changes)

    assert late.status == Status.DUPLICATE
    assert unchanged()


@pytest.mark.parametrize(
    ("state", "changed"),
    [
        ({"owner_id": "o", "roles": {"o": 20, "n": 100}}, True),  # only the owner is stale
        ({"owner_id": "n", "roles": {"o": 100, "n": 20}}, True),  # only the roles are stale
        ({"owner_id": "n", "roles": {"n": 100}, "left": {"o": 20}}, True),  # the old owner left
        ({"owner_id": "n", "roles": {"o": 20, "n": 100}}, False),  # the mirror shows it all
    ],
)
def test_a_transfer_is_a_change_when_any_part_of_it_is_news(post, state, changed):
    group = IMGroup.objects.create(group_id="G1", owner_id=state["owner_id"])
    for user, role in state["roles"].items():
        group.members.create(user_id=user, role_level=role, joined_how="seen")
    for user, role in state.get("left", {}).items():
        group.members.create(user_id=user, role_level=role, left_at=timezone.now())

    event = send(post, TRANSFER, owner="o", users=["n"])

    assert event.status == (Status.PROCESSED if changed else Status.DUPLICATE)
    assert roles() == {"o": 20, "n": 100}
    assert IMGroup.objects.get().owner_id == "n"


def test_a_members_later_edits_change_what_they_name_and_keep_the_rest(post):
    send(post, SET_MEMBER, users=["u"], roleLevel=60, nickName="First")
    renamed = send(post, SET_MEMBER, users=["u"], roleLevel=None, nickName="Second")

    member = IMGroupMember.objects.get(user_id="u")
    assert renamed.status == Status.PROCESSED
    assert (member.role_level, member.info, member.last_event_id) == (
        60,
        {"nickName": "Second"},
        renamed.pk,
    )
    assert member.joined_at is not None  # first seen by the edit, joined by then


def test_a_group_edit_of_one_field_keeps_the_name(post):
    send(post, CREATE, groupName="Name")

    send(post, SET_INFO, groupName="", ex="y")

    group = IMGroup.objects.get()
    assert (group.name, group.info["ex"]) == ("Name", "y")


def test_a_kick_without_an_operator_or_a_reason_says_so_with_empty_strings(post, recorder):
    left = recorder(group_member_left)
    send(post, CREATE, users=["u"])

    send(post, KICK, users=["u"])

    [call] = left.calls
    assert (call["kicked_by"], call["message"]) == ("", "")


def test_a_dismissal_snapshot_from_the_mirror_lists_the_owner_first_and_unknown_roles_last(post):
    send(post, CREATE, users=["b"])
    send(post, SET_MEMBER, users=["a"], roleLevel=None, nickName="Seen")  # role unknown

    group = IMGroup.objects.get()
    assert mirror.current_member_ids(group) == ["owner", "b", "a"]


@pytest.mark.parametrize(
    ("newer", "older", "unchanged"),
    [
        ((QUIT, {}), (JOIN, {}), lambda: "u" not in members_of("G1")),
        ((KICK, {}), (MEMBERS_JOIN, {}), lambda: "u" not in members_of("G1")),
        (
            (TRANSFER, {}),
            (SET_MEMBER, {"roleLevel": 20}),
            lambda: IMGroupMember.objects.get(user_id="u").role_level == 100,
        ),
    ],
)
def test_a_members_change_remembers_when_it_was_sent(post, newer, older, unchanged):
    send(post, CREATE, users=["u"], eventTime=1_000)
    (first, first_changes), (then, then_changes) = newer, older
    applied = send(post, first, users=["u"], eventTime=5_000, **first_changes)

    late = send(post, then, users=["u"], eventTime=4_000, **then_changes)

    assert (applied.status, late.status) == (Status.PROCESSED, Status.DUPLICATE)
    assert unchanged()
    assert IMGroupMember.objects.get(user_id="u").last_event_id == applied.pk


def test_one_user_skipped_in_a_list_does_not_stop_the_others(post):
    send(post, CREATE, users=["gone", "stays"])
    send(post, QUIT, users=["gone"], eventTime=5_000)
    send(post, KICK, users=["gone", "stays"])  # gone had left already

    assert members_of("G1") == {"owner"}
    send(post, MEMBERS_JOIN, users=["gone", "new"], eventTime=4_000)  # gone: older than its quit

    assert members_of("G1") == {"owner", "new"}


def test_an_operator_who_is_no_admin_user_is_a_founder_and_a_null_role_is_ordinary():
    entries = creation("owner", admins=["adm"], members=["m1"], operator="ops")["initMemberList"]
    entries.append({"userID": "late", "roleLevel": None})

    founders = founding_members(entries, admin_user_ids={"imAdmin"})

    assert founders == {"owner": 100, "adm": 60, "m1": 20, "ops": 20, "late": 20}


@pytest.mark.parametrize("owner_listed", [True, False])
def test_the_owner_is_a_founder_whether_or_not_the_member_list_names_them(post, owner_listed):
    entries = [{"userID": "m1", "roleLevel": 20}]
    if owner_listed:
        entries.insert(0, {"userID": "owner", "roleLevel": 100})

    send(post, CREATE, initMemberList=entries)

    assert roles() == {"owner": 100, "m1": 20}


def test_a_creation_without_an_owner_adds_no_nameless_member(post):
    send(post, CREATE, owner="", initMemberList=[{"userID": "m1", "roleLevel": 20}])

    assert roles() == {"m1": 20}


def test_a_creation_remembers_when_it_was_sent_for_the_group_and_its_founders(post):
    send(post, CREATE, users=["u"], eventTime=5_000, groupName="Created")

    renamed = send(post, SET_INFO, groupName="Older name", eventTime=4_000)
    quit = send(post, QUIT, users=["u"], eventTime=4_000)

    assert (renamed.status, quit.status) == (Status.DUPLICATE, Status.DUPLICATE)
    assert IMGroup.objects.get().name == "Created"
    assert "u" in members_of("G1")


def test_a_creation_older_than_what_the_mirror_shows_is_not_applied(post):
    send(post, SET_INFO, groupName="Newer", eventTime=5_000)

    created = send(post, CREATE, groupName="Older", eventTime=4_000)

    assert created.status == Status.DUPLICATE
    assert IMGroup.objects.get().name == "Newer"


@pytest.mark.parametrize("quit_after", [True, False])
def test_a_replayed_change_never_overwrites_a_members_newer_one(post, quit_after):
    """Without eventTime the order is the order of arrival: a join a killed worker left
    "received", replayed after the same user's quit, leaves them out."""
    send(post, CREATE, users=["a"])
    stuck = CallbackEventFactory(
        command=JOIN, body=go_json(group_body(JOIN, "G1", user_ids=["u"])), status=Status.RECEIVED
    )
    if quit_after:
        send(post, QUIT, users=["u"])  # arrived after the join: the newest word on u
    else:
        send(post, QUIT, users=["a"])  # about someone else

    replay_events([stuck], stale_after=timedelta(0))

    stuck.refresh_from_db()
    assert ("u" in members_of("G1")) is not quit_after
    assert stuck.status == (Status.DUPLICATE if quit_after else Status.PROCESSED)
