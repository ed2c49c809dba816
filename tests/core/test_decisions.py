"""Deciding before-callbacks: deciders, blocks, changes, defaults, the record policy."""

import json
import logging
import re
import time

import pytest
from django.core.checks import run_checks
from django.db.backends.utils import CursorWrapper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_imcallback import decisions
from django_imcallback.decisions import Block, Change, decides
from django_imcallback.models import CallbackEvent
from django_imcallback.openim import body

from ..conftest import SUCCESS, database_down
from ..factories import SINGLE, message

pytestmark = pytest.mark.django_db


MODIFY = "callbackBeforeMsgModifyCommand"


Status = CallbackEvent.Status


def refuses(answer):
    """How the server reads an answer: only this refuses the user's action."""
    return answer.get("actionCode") == 0 and answer.get("nextCode") == 1


verdicts = st.one_of(
    st.none(),
    st.just(Change(nickname="x")),
    st.just(Change(content=1)),
    st.sampled_from([True, 0, "block", {"nextCode": 1}]),
    st.just(ZeroDivisionError),
)


def _fails(verdict, command):
    """Whether a decider answering ``verdict`` counts as a failure (the default follows)."""
    if verdict is None:
        return False
    if isinstance(verdict, Change):
        try:
            decisions.checked_change(command, verdict, {})
        except decisions.BadChange:
            return True
        return False
    return True


def test_a_block_is_answered_as_the_server_reads_a_refusal(post, decider):
    decider(SINGLE)(lambda event, payload: Block(5001, "Message refused", "spam"))

    answer = post(message("buy now"), SINGLE).json()

    assert answer == {
        "actionCode": 0,
        "errCode": 5001,
        "errMsg": "Message refused",
        "errDlt": "spam",
        "nextCode": 1,
    }
    event = CallbackEvent.objects.get()
    assert (event.verdict, event.answer) == ("block", answer)


def test_no_opinion_is_the_allow_answer(post, decider):
    decider(SINGLE)(lambda event, payload: None)

    assert post(message(), SINGLE).json() == SUCCESS
    assert CallbackEvent.objects.get().verdict == "allow"


def test_changes_merge_in_registration_order(post, decider):
    decider(MODIFY)(lambda e, p: Change(content='{"content":"first"}', ex="kept"))
    decider(MODIFY)(lambda e, p: Change(content='{"content":"second"}'))

    answer = post(message(callbackCommand=MODIFY), MODIFY).json()

    assert answer == {**SUCCESS, "content": '{"content":"second"}', "ex": "kept"}
    assert CallbackEvent.objects.get().verdict == "change"


def test_the_first_block_wins_and_ends_the_run(post, decider):
    ran = []
    decider(SINGLE)(lambda e, p: ran.append("first"))
    decider(SINGLE)(lambda e, p: Block(1, "first block"))
    decider(SINGLE)(lambda e, p: ran.append("never") or Block(2, "second block"))

    answer = post(message(), SINGLE).json()

    assert (answer["errMsg"], ran) == ("first block", ["first"])


def test_the_decider_sees_the_payload_and_the_event(post, decider):
    seen = []
    decider(SINGLE)(lambda event, payload: seen.append((event.command, payload["recvID"])))

    post(message(), SINGLE)

    assert seen == [(SINGLE, "bob")]


def test_a_key_the_command_cannot_take_is_a_clear_error_not_dropped(post, decider, caplog):
    decider(SINGLE)(lambda e, p: Change(content="rewritten"))

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        answer = post(message(), SINGLE).json()

    assert answer == SUCCESS  # the default: allow
    event = CallbackEvent.objects.get()
    assert (event.status, event.verdict) == (Status.FAILED, "default")
    assert "cannot change content; it takes nothing (block or allow only)" in event.error


@pytest.mark.parametrize("returned", [True, "block", {"errCode": 1}])
def test_a_decider_returning_something_else_answers_the_default(post, decider, returned):
    decider(SINGLE)(lambda e, p: returned)

    assert post(message(), SINGLE).json() == SUCCESS
    assert CallbackEvent.objects.get().status == Status.FAILED


def test_a_raising_decider_answers_the_default_and_records_the_traceback(post, decider, caplog):
    def broken(event, payload):
        raise RuntimeError("moderation service down")

    decider(SINGLE)(broken)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        answer = post(message(), SINGLE).json()

    assert answer == SUCCESS
    event = CallbackEvent.objects.get()
    assert (event.status, event.verdict) == (Status.FAILED, "default")
    assert "moderation service down" in event.error
    name = f"{__name__}.{broken.__qualname__}"
    assert event.error.startswith(f"Decider {name} failed:\n")
    assert f"Decider {name} of {SINGLE} failed; answering the default." in caplog.text


def test_the_default_verdict_is_configurable_per_command(post, decider, settings):
    settings.IMCALLBACK = {
        "DECISION_DEFAULTS": {"*": "allow", SINGLE: {"errCode": 5000, "errMsg": "Try later"}}
    }
    decider(SINGLE)(lambda e, p: 1 / 0)

    answer = post(message(), SINGLE).json()

    assert refuses(answer)
    assert (answer["errCode"], answer["errMsg"]) == (5000, "Try later")


def test_a_misconfigured_default_answers_allow_with_an_error_logged(
    post, decider, settings, caplog
):
    settings.IMCALLBACK = {"DECISION_DEFAULTS": {"*": "deny"}}
    decider(SINGLE)(lambda e, p: 1 / 0)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        assert post(message(), SINGLE).json() == SUCCESS

    assert "DECISION_DEFAULTS" in caplog.text
    ids = {message.id for message in run_checks()}
    assert "imcallback.E012" in ids


def test_a_slow_decider_is_logged_and_marked(post, decider, settings, caplog):
    settings.IMCALLBACK = {"DECISION_BUDGET_MS": 5, "RECORD": {"*": "failures"}}
    decider(SINGLE)(lambda e, p: time.sleep(0.02))

    with caplog.at_level(logging.WARNING, logger="django_imcallback"):
        assert post(message(), SINGLE).json() == SUCCESS

    assert "took" in caplog.text
    event = CallbackEvent.objects.get()  # kept although the policy keeps only failures
    assert event.error.startswith("Slow decider: tests.core.test_decisions")


@pytest.mark.django_db(transaction=True)
def test_the_database_down_never_stops_a_block(post, decider, monkeypatch, caplog):
    decider(SINGLE)(lambda e, p: Block(5001, "refused"))
    monkeypatch.setattr(CursorWrapper, "execute", database_down)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        answer = post(message(), SINGLE).json()

    assert refuses(answer)
    assert answer["errMsg"] == "refused"
    assert "callbackBeforeSendSingleMsgCommand" in caplog.text  # logged whole, as any outage


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        ("all", {"allow", "block", "change", "default", "invalid"}),
        ("decisions", {"block", "change", "default", "invalid"}),
        ("failures", {"default", "invalid"}),
    ],
)
def test_the_record_policy_keeps_per_message_traffic_out_of_the_database(
    post, decider, settings, policy, kept
):
    settings.IMCALLBACK = {"RECORD": {MODIFY: policy}}

    @decider(MODIFY)
    def verdicts(event, payload):
        text = json.loads(payload["content"])["content"]
        return {
            "block": Block(1, "no"),
            "change": Change(content='{"content":"changed"}'),
            "default": Change(nope=1),
        }.get(text)

    for text in ("allow", "block", "change", "default"):
        post(message(text, callbackCommand=MODIFY), MODIFY)
    post(b"not json", MODIFY)

    stored = {event.verdict or event.status for event in CallbackEvent.objects.all()}
    assert stored == kept


def test_a_misconfigured_record_policy_records_everything(post, settings, caplog):
    settings.IMCALLBACK = {"RECORD": {SINGLE: "some"}}

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        assert post(message(), SINGLE).json() == SUCCESS

    assert CallbackEvent.objects.count() == 1
    assert "imcallback.E011" in {message.id for message in run_checks()}


def test_only_before_callbacks_can_be_decided():
    with pytest.raises(ValueError, match="not a before-callback"):
        decides("callbackAfterSendSingleMsgCommand")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from([SINGLE, MODIFY, "callbackBeforeUpdateUserInfoCommand"]),
    body=st.one_of(
        st.builds(message),
        st.dictionaries(st.text(max_size=8), st.integers() | st.text() | st.none(), max_size=4),
        st.binary(max_size=20),
    ),
    behaviour=st.lists(verdicts, max_size=3),
    block=st.booleans(),
)
def test_nothing_but_a_block_is_ever_read_as_a_refusal(post, command, body, behaviour, block):
    functions = []
    for verdict in behaviour:

        def function(event, payload, verdict=verdict):
            if verdict is ZeroDivisionError:
                return 1 / 0
            return verdict

        functions.append(decides(command)(function))
    if block:
        functions.append(decides(command)(lambda e, p: Block(7, "blocked")))
    try:
        response = post(body, command)
    finally:
        for function in functions:
            decisions.forget(function)

    answer = response.json()
    assert set(SUCCESS) <= set(answer)
    decided = CallbackEvent.objects.order_by("-pk").first().verdict != ""
    assert refuses(answer) == (
        block and decided and not any(_fails(verdict, command) for verdict in behaviour)
    )


def test_a_message_body_of_the_wrong_types_is_invalid_and_not_a_refusal(post, decider):
    decider(SINGLE)(lambda e, p: Block(1, "never reached"))

    response = post(message(sendTime="yesterday"), SINGLE)

    assert response.status_code == 400
    assert not refuses(response.json())
    assert CallbackEvent.objects.get().status == Status.INVALID


def test_the_new_columns_have_database_defaults_for_a_rolling_deploy():
    """The previous release inserts events without verdict and answer, and dismissals
    without members_source, while the new one is being rolled out."""
    from django_imcallback.models import DismissedGroup

    new_columns = {"verdict", "answer", "members_source"}
    for model, obj in (
        (CallbackEvent, CallbackEvent(command="c")),
        (DismissedGroup, DismissedGroup(group_id="g")),
    ):
        fields = [
            f
            for f in model._meta.concrete_fields
            if not f.primary_key and f.name not in new_columns
        ]
        model._base_manager._insert([obj], fields=fields)

    assert CallbackEvent.objects.get().verdict == ""
    assert DismissedGroup.objects.get().members_source == "callback"


def test_a_misconfigured_budget_still_decides(post, decider, settings, caplog):
    settings.IMCALLBACK = {"DECISION_BUDGET_MS": "fast"}
    decider(SINGLE)(lambda e, p: Block(5001, "refused"))

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        assert refuses(post(message(), SINGLE).json())

    [logged] = [r.getMessage() for r in caplog.records if "DECISION_BUDGET_MS" in r.getMessage()]
    assert logged.endswith(f" Using {decisions.DEFAULT_BUDGET_MS} ms.")


def test_a_default_block_sends_its_errdlt_and_a_missing_one_sends_an_empty_one(
    post, decider, settings
):
    blocks = {"errCode": 5000, "errMsg": "Try later", "errDlt": "moderation down"}
    settings.IMCALLBACK = {
        "DECISION_DEFAULTS": {SINGLE: blocks, MODIFY: {"errCode": 1, "errMsg": "x"}}
    }
    decider(SINGLE)(lambda e, p: 1 / 0)
    decider(MODIFY)(lambda e, p: 1 / 0)

    single = post(message(), SINGLE).json()
    modify = post({**message(), "callbackCommand": MODIFY}, MODIFY).json()

    assert single == {"actionCode": 0, "nextCode": 1, **blocks}
    assert (modify["errDlt"], modify["nextCode"]) == ("", 1)


def test_a_misconfigured_default_is_logged_naming_the_command(post, decider, settings, caplog):
    settings.IMCALLBACK = {"DECISION_DEFAULTS": {"*": "deny"}}
    decider(SINGLE)(lambda e, p: 1 / 0)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        answer = post(message("hello"), SINGLE).json()

    assert answer == SUCCESS
    [logged] = [r.getMessage() for r in caplog.records if "DECISION_DEFAULTS" in r.getMessage()]
    assert logged == (
        f'IMCALLBACK["DECISION_DEFAULTS"] for {SINGLE} is neither "allow" nor a block '
        '({"errCode": ..., "errMsg": ...}); answering allow.'
    )


class Moderator:
    """A decider that is a callable object (no ``__qualname__`` of its own)."""

    def __call__(self, event, payload):
        raise RuntimeError("moderation service down")

    def __repr__(self):
        return "<Moderator>"


def test_a_failing_decider_object_is_named_by_its_module_and_repr(post, decider):
    decider(SINGLE)(Moderator())

    post(message(), SINGLE)

    event = CallbackEvent.objects.get()
    assert event.error.startswith(f"Decider {__name__}.<Moderator> failed:\n")


def test_equal_changes_are_one_change():
    assert Change(nickName="a") == Change(nickName="a")
    assert Change(nickName="a") != Change(nickName="b")
    assert Change(nickName="a") != {"nickName": "a"}
    assert len({Change(nickName="a", ex=""), Change(ex="", nickName="a")}) == 1
    assert hash(Change(nickName="a")) == hash(Change(nickName="b"))  # hashed by its keys


def test_without_a_configured_default_a_failing_decider_is_allowed_quietly(post, decider, caplog):
    decider(SINGLE)(lambda e, p: 1 / 0)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        answer = post(message(), SINGLE).json()

    assert answer == SUCCESS
    assert "DECISION_DEFAULTS" not in caplog.text  # allow is the default, not a mistake


def test_the_first_decider_of_a_command_is_registered_and_consulted(post, monkeypatch):
    monkeypatch.setattr(decisions, "_deciders", {})  # nobody decides anything yet

    @decides(SINGLE)
    def refuse(event, payload):
        return Block(7, "no")

    try:
        answer = post(message(), SINGLE).json()
    finally:
        decisions.forget(refuse)

    assert (answer["errCode"], answer["nextCode"]) == (7, 1)


def test_a_slow_decider_that_blocks_is_kept_with_its_note_and_logged(
    post, decider, settings, caplog
):
    settings.IMCALLBACK = {"DECISION_BUDGET_MS": 5, "RECORD": {"*": "failures"}}

    def slow_block(event, payload):
        time.sleep(0.02)
        return Block(5001, "refused")

    decider(SINGLE)(slow_block)

    with caplog.at_level(logging.WARNING, logger="django_imcallback"):
        assert refuses(post(message(), SINGLE).json())

    name = f"{__name__}.{slow_block.__qualname__}"
    event = CallbackEvent.objects.get()  # kept: slow, though the policy keeps only failures
    assert event.verdict == "block"
    assert re.fullmatch(rf"Slow decider: {re.escape(name)} took \d+ ms", event.error)
    [logged] = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert re.fullmatch(
        rf"Decider {re.escape(name)} of {SINGLE} took \d+ ms \(budget 5 ms\)\.", logged
    )


@pytest.mark.parametrize(("returned", "type_name"), [(True, "bool"), ({"errCode": 1}, "dict")])
def test_a_decider_returning_something_else_is_told_what_it_may_return(
    post, decider, returned, type_name
):
    decider(SINGLE)(lambda e, p: returned)

    post(message(), SINGLE)

    last = CallbackEvent.objects.get().error.splitlines()[-1]
    assert last == f"TypeError: A decider returns Block, Change or None, not {type_name}."


def test_a_failing_decider_is_logged_once_with_its_traceback(post, decider, caplog):
    def broken(event, payload):
        raise RuntimeError("moderation service down")

    decider(SINGLE)(broken)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(message(), SINGLE)

    [record] = [r for r in caplog.records if "failed; answering the default" in r.getMessage()]
    name = f"{__name__}.{broken.__qualname__}"
    assert record.getMessage() == f"Decider {name} of {SINGLE} failed; answering the default."
    assert record.exc_info[0] is RuntimeError


def test_slow_deciders_that_change_the_request_are_kept_with_a_note_naming_each(
    post, decider, settings
):
    settings.IMCALLBACK = {"DECISION_BUDGET_MS": 5, "RECORD": {"*": "failures"}}

    def slow(event, payload):
        time.sleep(0.02)

    def slower(event, payload):
        time.sleep(0.02)
        return Change(content=json.dumps({"content": "rewritten"}))

    decider(MODIFY)(slow)
    decider(MODIFY)(slower)

    post({**message(), "callbackCommand": MODIFY}, MODIFY)

    event = CallbackEvent.objects.get()  # kept: slow, though the policy keeps only failures
    assert event.verdict == "change"
    names = [f"{__name__}.{f.__qualname__}" for f in (slow, slower)]
    pattern = "; ".join(rf"{re.escape(name)} took \d+ ms" for name in names)
    assert re.fullmatch(f"Slow decider: {pattern}", event.error)


def test_the_record_policy_never_drops_a_delivery_that_changes_the_mirror(post, settings):
    settings.IMCALLBACK = {"RECORD": {"*": "failures"}}

    join = "callbackAfterJoinGroupCommand"
    post(body(join, group_id="g", user_ids=["u"]), join)

    event = CallbackEvent.objects.get()
    assert (event.command, event.status, event.error) == (join, Status.PROCESSED, "")
