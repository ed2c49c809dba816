"""The system checks: a misconfiguration is an error that says how to fix it."""

from types import ModuleType

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import include, path

from django_imcallback.checks import check_settings
from django_imcallback.urls import bare_url


def ids(settings_value, settings):
    settings.IMCALLBACK = settings_value
    return [message.id for message in check_settings()]


def urlconf(*patterns):
    module = ModuleType("urls")
    module.urlpatterns = list(patterns)
    return module


def _check_urls():
    return [message.id for message in checks.run_checks(tags=[checks.Tags.urls])]


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


@pytest.mark.django_db(transaction=True)
def test_a_bad_dispatch_setting_is_a_check_error(settings):
    settings.IMCALLBACK = {"DISPATCH": "celery"}

    assert "imcallback.E009" in [message.id for message in check_settings()]


@pytest.mark.django_db(transaction=True)
def test_a_bad_permission_class_is_a_check_error(settings):
    settings.IMCALLBACK = {"PERMISSION_CLASSES": ["no.such.Permission"]}

    assert "imcallback.E010" in [message.id for message in check_settings()]


@pytest.mark.django_db
def test_a_check_says_when_the_endpoint_is_not_mounted(settings):
    settings.ROOT_URLCONF = urlconf()
    assert "imcallback.W002" in _check_urls()


@pytest.mark.django_db
def test_a_check_says_when_the_bare_url_is_not_mounted(settings):
    app = path("imcallback/", include("django_imcallback.urls"))
    settings.ROOT_URLCONF = urlconf(app)
    assert "imcallback.I001" in _check_urls()
    settings.ROOT_URLCONF = urlconf(app, bare_url("imcallback"))
    assert {"imcallback.W002", "imcallback.I001"}.isdisjoint(_check_urls())


IMMEDIATE = "django_tasks.backends.immediate.ImmediateBackend"


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        (None, ["imcallback.E015"]),
        (
            {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}},
            ["imcallback.E015"],
        ),
        ({"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}, []),
    ],
)
def test_task_mode_with_a_backend_that_runs_tasks_at_once_is_an_error(settings, tasks, expected):
    settings.IMCALLBACK = {"DISPATCH": "task", "BASIC_AUTH": ["openim:secret"]}
    if tasks is None:
        del settings.TASKS
    else:
        settings.TASKS = tasks

    assert [m.id for m in check_settings() if m.id == "imcallback.E015"] == expected
