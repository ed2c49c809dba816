"""System checks: an open endpoint is a warning, a broken setting is an error."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_imcallback.checks import check_settings


def ids(settings_value, settings):
    settings.IMCALLBACK = settings_value
    return [message.id for message in check_settings()]


def test_open_endpoint_is_warned_about(settings):
    assert ids({}, settings) == ["imcallback.W001"]


@pytest.mark.parametrize(
    "value", [{"BASIC_AUTH": ["u:p"]}, {"ALLOWED_IPS": ["10.0.0.1"]}, {"SECRET_PATH": "t"}]
)
def test_any_caller_check_silences_the_warning(settings, value):
    assert ids(value, settings) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], "imcallback.E001"),
        ({"BASIC_AUTHS": ["u:p"], "ALLOWED_IPS": ["10.0.0.1"]}, "imcallback.E002"),
        ({"BASIC_AUTH": "u:p"}, "imcallback.E003"),
        ({"BASIC_AUTH": ["no-colon"]}, "imcallback.E003"),
        ({"BASIC_AUTH": [":p"]}, "imcallback.E003"),
        ({"BASIC_AUTH": ["u:"]}, "imcallback.E003"),
        ({"BASIC_AUTH": [42]}, "imcallback.E003"),
        ({"ALLOWED_IPS": ["10.0.0.0/33"]}, "imcallback.E004"),
        ({"ALLOWED_IPS": "10.0.0.1"}, "imcallback.E004"),
        ({"TRUSTED_PROXIES": ["proxy.local"]}, "imcallback.E005"),
        ({"SECRET_PATH": "a/b"}, "imcallback.E006"),
        ({"SECRET_PATH": 123}, "imcallback.E006"),
        ({"MAX_BODY_BYTES": 0}, "imcallback.E007"),
        ({"MAX_BODY_BYTES": "big"}, "imcallback.E007"),
        ({"RECORD_FIRST_BYTES": -1}, "imcallback.E008"),
    ],
)
def test_misconfiguration_is_an_error_with_a_hint(settings, value, expected):
    settings.IMCALLBACK = value

    messages = check_settings()

    assert expected in [message.id for message in messages]
    assert all(message.hint for message in messages)


def test_errors_never_echo_a_password(settings):
    settings.IMCALLBACK = {"BASIC_AUTH": ["user-without-separator-hunter2"]}

    [message] = check_settings()

    assert "hunter2" not in message.msg


def test_manage_py_check_and_check_deploy_show_the_warning(settings, capsys):
    settings.IMCALLBACK = {}
    call_command("check")
    assert "imcallback.W001" in capsys.readouterr().err

    with pytest.raises(SystemCheckError, match=r"imcallback\.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING")


def test_manage_py_check_fails_on_a_broken_setting(settings):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["nope"]}

    with pytest.raises(SystemCheckError, match=r"imcallback\.E004"):
        call_command("check")


@pytest.mark.django_db
def test_the_migrations_match_the_models():
    """A model change without its migration would break every host's next migrate."""
    try:
        call_command("makemigrations", "django_imcallback", check=True, dry_run=True, verbosity=0)
    except SystemExit:
        pytest.fail("django_imcallback's models have changes without a migration")
