"""The README's examples do what it says."""

import io
import re
from pathlib import Path

import pytest

from django_imcallback import decisions
from django_imcallback.testing import body, deliver, read_answer

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def readme_block(title):
    """The README's Python block that starts with the comment ``# title``."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    return next(block for block in blocks if block.startswith(f"# {title}"))


def readme_block_with(text):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    return next(block for block in blocks if text in block)


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
