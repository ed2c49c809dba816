"""Before-answers read as the server reads them (wire.server, wire.golang)."""

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_imcallback import decisions
from django_imcallback.commands import registry
from django_imcallback.decisions import BadChange, Block, Change, decides
from django_imcallback.models import CallbackEvent
from django_imcallback.testing import deliver, read_answer
from django_imcallback.wire import golang
from django_imcallback.wire.server import BEFORE, server_command

from ..conftest import SUCCESS

pytestmark = pytest.mark.django_db

BEFORE_COMMANDS = [c.name for c in registry.declarations() if c.before]


SET_INFO = "callbackBeforeSetGroupInfoCommand"


SET_INFO_EX = "callbackBeforeSetGroupInfoExCommand"


OFFLINE_PUSH = "callbackBeforeOfflinePushCommand"


ONLINE_PUSH = "callbackBeforeOnlinePushCommand"


GROUP_PUSH = "callbackBeforeGroupOnlinePushCommand"


MODIFY = "callbackBeforeMsgModifyCommand"


USER_INFO = "callbackBeforeUpdateUserInfoCommand"


USER_INFO_EX = "callbackBeforeUpdateUserInfoExCommand"


MEMBER_INFO = "callbackBeforeSetGroupMemberInfoCommand"


JOINING = "callbackBeforeMembersJoinGroupCommand"


def answer_to(command, body):
    """The answer the endpoint gives ``body`` (as the view builds it, without HTTP)."""
    event = CallbackEvent(command=command)
    decision = decisions.decide(command, event, body)
    return SUCCESS if decision is None else decision.answer


def _example():
    from django_imcallback.commands import Example

    return Example()


TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=8,
)


IDS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)


def values(go_type):
    """A strategy for what ``go_type`` holds, as the server encodes it."""
    if isinstance(go_type, golang.Pointer):
        return st.none() | values(go_type.target)
    if isinstance(go_type, golang.Wrapper):
        return values(go_type.inner)
    if isinstance(go_type, golang.Slice):
        return st.none() | st.lists(values(go_type.item), max_size=3)
    if isinstance(go_type, golang.Map):
        return st.none() | st.dictionaries(IDS, values(go_type.item), max_size=2)
    if isinstance(go_type, golang.Struct):
        return st.fixed_dictionaries({f.key: values(f.type) for f in go_type.fields})
    if isinstance(go_type, golang.Bytes):
        return st.none()
    if isinstance(go_type, golang.Int):
        return st.integers(go_type.low, go_type.high)
    if isinstance(go_type, golang.Bool):
        return st.booleans()
    return TEXT


def requests(command):
    model = server_command(command)
    required = {f.key: values(f.type) for f in model.request if f.key not in model.optional}
    optional = {f.key: values(f.type) for f in model.request if f.key in model.optional}
    body = st.fixed_dictionaries(required, optional=optional)
    return body.map(lambda b: {**b, "callbackCommand": command})


def changes(command):
    """A Change of some of the fields the server applies, keys in the server's spelling or
    in lower case, values of their Go types (some of which the checks refuse)."""
    fields = registry.command(command).changeable.fields
    chosen = st.lists(st.sampled_from(fields), unique_by=lambda f: f.key, max_size=3)
    entry = lambda f: st.tuples(st.sampled_from([f.key, f.key.lower()]), _value(f))  # noqa: E731
    return chosen.flatmap(lambda picked: st.tuples(*map(entry, picked))).map(dict)


def _value(spec):
    if spec.how == "json":
        return st.dictionaries(IDS, TEXT, max_size=2).map(json.dumps)
    if spec.how == "bykey":
        return st.lists(st.fixed_dictionaries({"userID": IDS, "roleLevel": st.integers(0, 100)}))
    strategy = values(spec.type)
    return strategy.filter(lambda v: v is not None) if spec.how != "always" else strategy


def test_every_before_command_is_declared_with_the_answer_fields_the_server_reads():
    assert sorted(BEFORE_COMMANDS) == sorted(BEFORE)
    for command in BEFORE_COMMANDS:
        declared = registry.command(command)
        model = server_command(command).response
        assert [str(f) for f in declared.answer] == [str(f) for f in model.fields], command


def test_the_model_knows_the_server_structs_it_names():
    for command in BEFORE:
        model = server_command(command)
        assert model.request, command  # every request has at least callbackCommand
        assert {f.key for f in model.request} >= {"callbackCommand"}


def test_keys_match_exactly_first_then_ignoring_case_and_unknown_keys_are_ignored():
    struct = golang.struct("S", "nickName *string, NICKNAME *string")
    assert struct.field("nickname").key == "nickName"  # the first case-insensitive match
    assert struct.field("NICKNAME").key == "NICKNAME"  # the exact tag wins
    decoded = struct.decode({"nickname": "a", "whatever": 1}, "S")
    assert decoded == {"nickName": "a", "NICKNAME": None}


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("int32", "5"),  # a string where the struct has an int32
        ("int32", 1.0),  # no fractions, not even .0
        ("int32", 2**31),  # out of range
        ("uint32", -1),
        ("string", 5),
        ("bool", 0),
        ("*StringValue", 5),
        ("*Int32Value", "7"),
        ("[]string", "a"),
        ("map[string]bool", {"a": 1}),
    ],
)
def test_a_value_of_the_wrong_type_fails_the_decoding(spec, value):
    go_type = golang.go_type(spec)
    with pytest.raises(golang.GoDecodeError):
        go_type.fill(value, "x", go_type.zero())


def test_null_leaves_a_plain_field_as_it_is_and_makes_a_pointer_nil():
    assert golang.go_type("string").fill(None, "x", "kept") == "kept"
    assert golang.go_type("*string").fill(None, "x", "kept") is None


def test_an_answer_that_is_not_json_refuses_the_action():
    reading = read_answer(SET_INFO, {}, b"<html>oops</html>")
    assert reading.outcome == "refused"


def test_only_action_code_0_with_next_code_1_blocks():
    blocked = read_answer(ONLINE_PUSH, {}, {**SUCCESS, "nextCode": 1, "errCode": 9})
    not_blocked = read_answer(ONLINE_PUSH, {}, {**SUCCESS, "actionCode": 1, "nextCode": 1})
    assert (blocked.outcome, blocked.error["errCode"]) == ("blocked", 9)
    assert not_blocked.outcome == "goes on"


def test_a_bare_allow_blanks_a_group_edit():
    """Why the allow answer echoes: the server copies groupID and the name from any answer."""
    request = registry.command(SET_INFO).example(_example())
    reading = read_answer(SET_INFO, request, SUCCESS)
    assert (reading.request["groupID"], reading.request["groupName"]) == ("", "")


@pytest.mark.parametrize("command", [SET_INFO, SET_INFO_EX])
def test_a_group_edit_goes_on_as_the_user_made_it(command):
    """The server copies every answer field over the request: the allow answer repeats
    groupID and the rest, or the server would go on with an empty one."""
    body = registry.command(command).example(_example())
    result = deliver(command, body)

    reading = read_answer(command, body, result.response.content)
    assert (reading.outcome, reading.changed(body)) == ("goes on", {})
    assert reading.request["groupID"] == body["groupID"]


def test_the_allow_to_set_group_info_never_sets_what_the_user_did_not_touch():
    body = registry.command(SET_INFO).example(_example())
    answer = deliver(SET_INFO, body).answer
    assert "ex" not in answer  # a pointer: echoing "" would blank the group's ex
    assert {"needVerification", "lookMemberInfo", "applyMemberFriend"}.isdisjoint(answer)


def test_an_invalid_group_edit_is_answered_with_the_echo_too():
    body = {**registry.command(SET_INFO).example(_example()), "needVerification": "yes"}
    result = deliver(SET_INFO, body)

    assert result.status_code == 400
    reading = read_answer(SET_INFO, body, result.response.content)
    assert reading.request["groupID"] == body["groupID"]
    assert reading.request["groupName"] == body["groupName"]


def test_a_failing_decider_answers_the_default_with_the_echo(decider):
    @decider(SET_INFO_EX)
    def broken(event, payload):
        raise RuntimeError("bug")

    body = registry.command(SET_INFO_EX).example(_example())
    result = deliver(SET_INFO_EX, body)

    assert result.event.status == "failed"
    reading = read_answer(SET_INFO_EX, body, result.response.content)
    assert (reading.outcome, reading.changed(body)) == ("goes on", {})


def test_a_push_change_replaces_the_recipients(decider):
    decider(OFFLINE_PUSH)(lambda e, p: Change(userIDList=["only-me"]))
    decider(GROUP_PUSH)(lambda e, p: Change(userIDList=["only-me"]))

    for command in (OFFLINE_PUSH, GROUP_PUSH):
        body = registry.command(command).example(_example())
        result = deliver(command, body)
        reading = read_answer(command, body, result.response.content)
        assert reading.request["userIDList"] == ["only-me"], command
        assert result.event.verdict == "change"


MODIFY_TAKES = (
    "content, recvID, groupID, clientMsgID, serverMsgID, senderPlatformID, senderNickname, "
    "senderFaceURL, sessionType, msgFrom, contentType, status, options, offlinePushInfo, "
    "atUserIDList, attachedInfo, ex"
)
GROUP_INFO_TAKES = (
    "groupID, groupName, introduction, faceURL, ex, needVerification, lookMemberInfo, "
    "applyMemberFriend"
)
NOT_A_JSON_OBJECT = (
    f"{MODIFY}: content must be a JSON object in a string; the server refuses the message "
    "otherwise."
)
JOINING_NEEDS = f"{JOINING}: memberCallbackList: every entry needs the userID of a joining member"


@pytest.mark.parametrize(
    ("command", "change", "why"),
    [
        (  # the server applies nothing
            ONLINE_PUSH,
            Change(userIDList=["x"]),
            f"{ONLINE_PUSH} cannot change userIDList; it takes nothing (block or allow only).",
        ),
        (  # not the server's key
            OFFLINE_PUSH,
            Change(userIDs=["x"]),
            f"{OFFLINE_PUSH} cannot change userIDs; it takes userIDList, offlinePushInfo.",
        ),
        (
            OFFLINE_PUSH,
            Change(userIDList=[]),
            f"{OFFLINE_PUSH}: userIDList is ignored by the server when empty.",
        ),
        (  # not in the server's answer struct
            MODIFY,
            Change(sendTime=1),
            f"{MODIFY} cannot change sendTime; it takes {MODIFY_TAKES}.",
        ),
        (MODIFY, Change(content="not json"), NOT_A_JSON_OBJECT),
        (MODIFY, Change(content='"a string"'), NOT_A_JSON_OBJECT),
        (
            MEMBER_INFO,
            Change(roleLevel="60"),
            f"{MEMBER_INFO}: roleLevel must be Go's *int32: json: cannot unmarshal string into "
            "roleLevel of type int32",
        ),
        (
            MEMBER_INFO,
            Change(roleLevel=2**31),
            f"{MEMBER_INFO}: roleLevel must be Go's *int32: json: cannot unmarshal number "
            "2147483648 into roleLevel of type int32",
        ),
        (  # null changes nothing
            MEMBER_INFO,
            Change(nickName=None),
            f"{MEMBER_INFO}: nickName cannot be null: the server would ignore it.",
        ),
        (  # read, never applied
            SET_INFO,
            Change(notification="x"),
            f"{SET_INFO} cannot change notification; it takes {GROUP_INFO_TAKES}.",
        ),
        (
            SET_INFO_EX,
            Change(notification="x"),
            f"{SET_INFO_EX} cannot change notification; it takes {GROUP_INFO_TAKES}.",
        ),
        (  # the request's faceURL is null
            USER_INFO_EX,
            Change(faceURL="f"),
            f"{USER_INFO_EX}: faceURL: the request leaves faceURL unset, and the server would "
            "write through its unset value (the update would fail).",
        ),
        (
            JOINING,
            Change(memberCallbackList=[{"nickname": "x"}]),
            f"{JOINING_NEEDS} (user001, user002); got None.",
        ),
        (
            JOINING,
            Change(memberCallbackList=[{"userID": "stranger"}]),
            f"{JOINING_NEEDS} (user001, user002); got 'stranger'.",
        ),
        (
            MODIFY,
            Change(offlinePushInfo={"title": "t", "colour": "red"}),
            f"{MODIFY}: offlinePushInfo must be Go's *OfflinePushInfo: offlinePushInfo has no "
            "field 'colour'",
        ),
        (
            MODIFY,
            Change(offlinePushInfo={"title": 5}),
            f"{MODIFY}: offlinePushInfo must be Go's *OfflinePushInfo: json: cannot unmarshal "
            "number into offlinePushInfo.title of type string",
        ),
        (
            MODIFY,
            Change(offlinePushInfo="x"),
            f"{MODIFY}: offlinePushInfo must be Go's *OfflinePushInfo: offlinePushInfo must be "
            "an object",
        ),
        (
            MODIFY,
            Change(atUserIDList=["a", None]),
            f"{MODIFY}: atUserIDList must be Go's *[]string: atUserIDList has a null item",
        ),
        (
            MODIFY,
            Change(options={"a": "yes"}),
            f"{MODIFY}: options must be Go's *map[string]bool: json: cannot unmarshal string "
            "into options[a] of type bool",
        ),
        (
            MODIFY,
            Change(options={1: True}),
            f"{MODIFY}: options must be Go's *map[string]bool: options keys must be strings",
        ),
        (  # both name one field
            USER_INFO,
            Change(nickName="a", nickname="b"),
            f"{USER_INFO}: nickname and another key both name nickName.",
        ),
        (
            "callbackBeforeSetFriendRemarkCommand",
            Change(remark=""),
            "callbackBeforeSetFriendRemarkCommand: remark is ignored by the server when empty.",
        ),
        (
            JOINING,
            Change(memberCallbackList=[]),
            f"{JOINING}: memberCallbackList is ignored by the server when empty.",
        ),
        (  # no declaration: nothing to change
            "callbackAfterSomethingCommand",
            Change(x=1),
            "callbackAfterSomethingCommand cannot change x; it takes nothing (block or allow "
            "only).",
        ),
    ],
)
def test_a_change_the_server_would_ignore_or_choke_on_is_refused_saying_why(command, change, why):
    declared = registry.command(command)
    body = declared.example(_example()) if declared else {}
    with pytest.raises(BadChange) as refused:
        decisions.checked_change(command, change, body)

    assert str(refused.value) == why


def test_a_change_for_a_creation_that_adds_nobody_names_no_joining_member(decider):
    body = {**registry.command(JOINING).example(_example()), "memberList": []}

    with pytest.raises(BadChange) as refused:
        decisions.checked_change(JOINING, Change(memberCallbackList=[{"userID": "x"}]), body)

    assert str(refused.value) == f"{JOINING_NEEDS} (none); got 'x'."


def test_a_refused_change_answers_the_default_and_marks_the_event_failed(decider):
    decider(MEMBER_INFO)(lambda e, p: Change(roleLevel="60"))

    result = deliver(MEMBER_INFO)

    assert result.answer == SUCCESS
    assert result.event.status == "failed"
    assert "int32" in result.event.error


@pytest.mark.parametrize("key", ["nickName", "nickname", "NICKNAME"])
def test_a_change_is_read_as_go_reads_keys_and_answered_in_the_servers_spelling(decider, key):
    decider(USER_INFO)(lambda e, p: Change(**{key: p["nickName"].strip()}))

    body = {**registry.command(USER_INFO).example(_example()), "nickName": "  bob "}
    result = deliver(USER_INFO, body)

    assert result.answer == {**SUCCESS, "nickName": "bob"}
    assert read_answer(USER_INFO, body, result.response.content).request["nickName"] == "bob"


def test_a_block_the_server_cannot_read_answers_the_default(decider):
    decider("callbackBeforeSendSingleMsgCommand")(lambda e, p: Block(2**40, "too big"))

    result = deliver("callbackBeforeSendSingleMsgCommand")

    assert result.answer == SUCCESS
    assert result.event.status == "failed"


def test_joining_members_are_patched_by_user_id(decider):
    decider(JOINING)(
        lambda e, p: Change(
            memberCallbackList=[{"userid": "user001", "roleLevel": 60, "muteEndTime": 5}]
        )
    )
    body = registry.command(JOINING).example(_example())
    result = deliver(JOINING, body)

    reading = read_answer(JOINING, body, result.response.content)
    patched = {m["userID"]: m for m in reading.request["memberList"]}
    assert patched["user001"] == {"userID": "user001", "ex": "", "roleLevel": 60, "muteEndTime": 5}
    assert patched["user002"] == {"userID": "user002", "ex": ""}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize("command", BEFORE_COMMANDS)
def test_with_no_decider_every_request_goes_on_unchanged(command, data):
    request = data.draw(requests(command))

    reading = read_answer(command, request, json.dumps(answer_to(command, request)))

    assert (reading.outcome, reading.changed(request)) == ("goes on", {})


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize(
    "command", [c for c in BEFORE_COMMANDS if registry.command(c).changeable.fields]
)
def test_an_accepted_change_changes_the_request_in_exactly_its_fields(command, data, decider):
    request = data.draw(requests(command))
    fields = data.draw(changes(command))
    change = Change(**fields)
    try:
        expected = decisions.checked_change(command, change, request)
    except BadChange:
        expected = None  # refused: the default (allow, unchanged) is answered
    function = decides(command)(lambda e, p: change)
    try:
        answer = answer_to(command, request)
    finally:
        decisions.forget(function)

    reading = read_answer(command, request, json.dumps(answer))

    assert reading.outcome == "goes on"
    changed = reading.changed(request)
    if expected is None:
        assert changed == {}
        return
    declared = {f.key: f for f in registry.command(command).answer}
    targets = set()
    for key, value in expected.items():
        spec = declared[key]
        if spec.how == "bykey":  # patches the request's list (its own test above)
            targets.add(spec.lands_on)
        elif spec.lands_on == "*":
            targets |= set(value)
            assert all(reading.request[k] == v for k, v in value.items())
        else:
            targets.add(spec.lands_on)
            assert reading.request[spec.lands_on] == value
    assert set(changed) <= targets


@pytest.mark.parametrize(
    ("block", "why"),
    [
        (
            Block(2**40, "too big"),
            "Block: json: cannot unmarshal number 1099511627776 into errCode of type int32",
        ),
        (Block(1, None), "Block: err_msg and err_dlt must be strings."),
        (Block(1, "ok", 5), "Block: err_msg and err_dlt must be strings."),
        (Block(1, "\ud800"), "Block: err_msg and err_dlt must be valid Unicode text."),
        (Block(1, "ok", "\udc80"), "Block: err_msg and err_dlt must be valid Unicode text."),
    ],
)
def test_why_a_block_cannot_be_read_is_the_events_error(decider, block, why):
    decider("callbackBeforeSendSingleMsgCommand")(lambda e, p: block)

    result = deliver("callbackBeforeSendSingleMsgCommand")

    assert result.answer == SUCCESS
    assert (result.event.status, result.event.verdict) == ("failed", "default")
    assert result.event.error.splitlines()[-1] == f"django_imcallback.decisions.BadChange: {why}"


def test_a_misconfigured_default_still_answers_a_group_edit_with_its_echo(decider, settings):
    settings.IMCALLBACK = {"DECISION_DEFAULTS": {"*": "deny"}}

    @decider(SET_INFO_EX)
    def broken(event, payload):
        raise RuntimeError("bug")

    body = registry.command(SET_INFO_EX).example(_example())
    result = deliver(SET_INFO_EX, body)

    reading = read_answer(SET_INFO_EX, body, result.response.content)
    assert (reading.outcome, reading.changed(body)) == ("goes on", {})


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"nickName": ["a"]}, "callbackBeforeUpdateUserInfoCommand: nickName must be Go's "),
        ({"ex": {"k": "v"}}, "callbackBeforeUpdateUserInfoCommand: ex must be Go's "),
    ],
)
def test_a_change_of_the_wrong_shape_is_refused_naming_the_field(decider, change, error):
    decider(USER_INFO)(lambda e, p: Change(**change))

    result = deliver(USER_INFO)

    assert result.event.status == "failed"
    assert error in result.event.error.splitlines()[-1]


def test_a_null_for_a_field_the_server_leaves_alone_when_nil_is_a_change_to_nothing():
    body = registry.command(SET_INFO_EX).example(_example())

    checked = decisions.checked_change(SET_INFO_EX, Change(groupName=None, ex="x"), body)

    assert checked == {"groupName": None, "ex": "x"}


def test_the_echo_skips_what_the_request_lacks_or_has_in_another_type_and_keeps_the_rest():
    body = registry.command(SET_INFO).example(_example())
    echoed = decisions.echo(SET_INFO, body)
    first, *rest = list(echoed)

    without = decisions.echo(SET_INFO, {k: v for k, v in body.items() if k != first})
    mistyped = decisions.echo(SET_INFO, {**body, first: ["not", "its", "type"]})

    assert rest
    assert without == {k: echoed[k] for k in rest}
    assert mistyped == {k: echoed[k] for k in rest}


def test_a_before_callback_with_no_decider_records_the_verdict_it_was_answered_with():
    echoing = deliver(SET_INFO)
    plain = deliver("callbackBeforeSendSingleMsgCommand")

    assert echoing.event.verdict == "allow"  # answered with the echo
    assert plain.event.verdict == ""  # answered with the bare success


def test_a_null_inside_a_struct_is_kept_as_go_leaves_it():
    body = registry.command(MODIFY).example(_example())

    checked = decisions.checked_change(MODIFY, Change(offlinePushInfo={"title": None}), body)

    assert checked == {"offlinePushInfo": {"title": None}}


@pytest.mark.parametrize(
    ("command", "change", "why"),
    [
        (
            MODIFY,
            Change(atUserIDList=["a", 5]),
            f"{MODIFY}: atUserIDList must be Go's *[]string: json: cannot unmarshal number into "
            "atUserIDList[1] of type string",
        ),
        (
            USER_INFO,
            Change(nickName="bad \ud800"),
            f"{USER_INFO}: nickName must be Go's *string: nickName is not valid Unicode text",
        ),
    ],
)
def test_where_in_a_value_the_server_would_fail_is_named(command, change, why):
    body = registry.command(command).example(_example())
    with pytest.raises(BadChange) as refused:
        decisions.checked_change(command, change, body)

    assert str(refused.value) == why
