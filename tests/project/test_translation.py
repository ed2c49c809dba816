"""The zh-hans catalogue."""

import gettext
import re
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

import django_imcallback

from ..factories import CallbackEventFactory

LOCALE = Path(django_imcallback.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"


#: Left to Django's own catalogue (the admin's base templates translate them).
DJANGO_S_OWN = {"Django site admin", "Home"}


def po_entries():
    text = (LOCALE / "django.po").read_text()
    entries = re.findall(
        r'^(?:msgctxt "(.*)"\n)?msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', text, re.M
    )

    def unquote(block):
        return "".join(
            bytes(part, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
            for part in re.findall(r'"(.*)"', block)
        )

    return {(context, unquote(msgid)): unquote(msgstr) for context, msgid, msgstr in entries}


def test_every_string_is_translated_and_the_compiled_catalogue_matches():
    entries = po_entries()
    assert len(entries) > 200
    untranslated = {msgid for (_, msgid), msgstr in entries.items() if not msgstr}
    assert untranslated == DJANGO_S_OWN
    with (LOCALE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = [
        msgid
        for (context, msgid), msgstr in entries.items()
        if msgid
        and msgstr
        and (catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)) != msgstr
    ]
    assert stale == [], "django.mo is older than django.po: run compilemessages"


@pytest.mark.django_db
def test_the_admin_renders_in_chinese(admin_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    event = CallbackEventFactory(status="failed", error="boom")

    listing = admin_client.get(reverse("admin:django_imcallback_callbackevent_changelist"))
    page = admin_client.get(
        reverse("admin:django_imcallback_callbackevent_change", args=[event.pk])
    )
    health = admin_client.get(reverse("admin:django_imcallback_callbackevent_health"))

    assert "回调事件" in listing.content.decode()
    assert "投递健康状况" in listing.content.decode()
    assert "失败" in listing.content.decode()
    assert "下载原始正文" in page.content.decode()
    assert "重放（全部接收器）" in page.content.decode()
    assert "最近 24 小时（按小时）" in health.content.decode()


def test_system_checks_speak_chinese(settings):
    settings.IMCALLBACK = {}
    with translation.override("zh-hans"):
        [warning] = [m for m in run_checks() if m.id == "imcallback.W001"]
        assert warning.msg == "OpenIM 回调端点接受任何人的请求。"
        settings.IMCALLBACK = {"MAX_BODY_BYTES": 0}
        [error] = [m for m in run_checks() if m.id == "imcallback.E007"]
        assert "必须是不小于 1 的整数" in error.msg
        assert error.hint == "请使用正的字节数，例如 64 * 1024 * 1024。"


@pytest.mark.django_db
def test_management_commands_speak_chinese(capsys):
    with translation.override("zh-hans"):
        call_command("imcallback_replay")
    assert "已重放 0 个事件" in capsys.readouterr().out
