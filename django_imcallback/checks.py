"""System checks: a misconfiguration shows up in ``manage.py check``, not as a 500."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .conf import DEFAULTS, RECORD_POLICIES, imcallback_settings, unknown_keys

# (setting, attribute of imcallback_settings that parses it, check id, hint)
SETTING_CHECKS = [
    (
        "BASIC_AUTH",
        "basic_auth",
        "imcallback.E003",
        gettext_lazy('Use a list such as ["openim:a-long-random-password"].'),
    ),
    (
        "ALLOWED_IPS",
        "allowed_ips",
        "imcallback.E004",
        gettext_lazy('Use a list such as ["10.0.0.5", "192.168.0.0/16", "fd00::/8"].'),
    ),
    (
        "TRUSTED_PROXIES",
        "trusted_proxies",
        "imcallback.E005",
        gettext_lazy('Use a list such as ["127.0.0.1", "10.0.0.0/8"].'),
    ),
    (
        "SECRET_PATH",
        "secret_path",
        "imcallback.E006",
        gettext_lazy(
            "Use a long random string: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        ),
    ),
    (
        "MAX_BODY_BYTES",
        "max_body_bytes",
        "imcallback.E007",
        gettext_lazy("Use a positive number of bytes, e.g. 64 * 1024 * 1024."),
    ),
    (
        "DISPATCH",
        "dispatch",
        "imcallback.E009",
        gettext_lazy(
            'Use "inline" or "task"; "task" needs django.tasks (Django 6.0+) or '
            "pip install 'django-imcallback[tasks]', and a TASKS setting."
        ),
    ),
    (
        "PERMISSION_CLASSES",
        "permission_classes",
        "imcallback.E010",
        gettext_lazy(
            "Use a list of dotted paths to DRF permission classes, e.g. "
            '["django_imcallback.permissions.BasicAuth"].'
        ),
    ),
    (
        "DECISION_BUDGET_MS",
        "decision_budget_ms",
        "imcallback.E013",
        gettext_lazy("Use a number of milliseconds, e.g. 1000."),
    ),
    (
        "ADMIN_USER_IDS",
        "admin_user_ids",
        "imcallback.E014",
        gettext_lazy('Use the server\'s imAdminUser.userIDs, e.g. ["imAdmin"].'),
    ),
    (
        "RECORD_FIRST_BYTES",
        "record_first_bytes",
        "imcallback.E008",
        gettext_lazy(
            "Use a number of bytes, e.g. 64 * 1024, or 0 to record every event before processing."
        ),
    ),
]


@checks.register(checks.Tags.security, checks.Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    try:
        raw = imcallback_settings.raw
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint=_("Use a dict: IMCALLBACK = {...}."), id="imcallback.E001")
        ]

    messages: list[checks.CheckMessage] = [
        checks.Error(
            _("IMCALLBACK has an unknown key %(key)r.") % {"key": key},
            hint=_("Known keys: %(keys)s. A misspelt security setting leaves the endpoint open.")
            % {"keys": ", ".join(sorted(DEFAULTS))},
            id="imcallback.E002",
        )
        for key in unknown_keys(raw)
    ]
    if messages:  # Every setting refuses to be read until then (callers are refused).
        return messages
    messages += _decision_checks(raw)
    broken = False
    for _name, attribute, check_id, hint in SETTING_CHECKS:
        try:
            getattr(imcallback_settings, attribute)
        except ImproperlyConfigured as exc:
            broken = True
            messages.append(checks.Error(str(exc), hint=str(hint), id=check_id))
    if raw.get("OPENIM_API"):
        try:
            _api = imcallback_settings.openim_api
        except ImproperlyConfigured as exc:
            messages.append(
                checks.Warning(
                    str(exc),
                    hint=_("imcallback_sync and the sync_mirror task cannot run until it is."),
                    id="imcallback.W003",
                )
            )
    if not broken and imcallback_settings.dispatch == "task":
        messages += _task_backend_checks()
    if not broken and imcallback_settings.is_open:
        messages.append(
            checks.Warning(
                _("The OpenIM callback endpoint accepts requests from anyone."),
                hint=_(
                    'Set IMCALLBACK["BASIC_AUTH"], IMCALLBACK["ALLOWED_IPS"] or '
                    'IMCALLBACK["SECRET_PATH"]; see "Secure it" in the README.'
                ),
                id="imcallback.W001",
            )
        )
    return messages


def _task_backend_checks() -> list[checks.CheckMessage]:
    """Task mode with a backend that runs each task at once: the receivers would run inside
    the request, which task mode exists to spare."""
    backend = (getattr(django_settings, "TASKS", None) or {}).get("default", {}).get("BACKEND")
    if backend and not str(backend).endswith("ImmediateBackend"):
        return []
    return [
        checks.Error(
            _(
                'IMCALLBACK["DISPATCH"] is "task", but the default TASKS backend (%(backend)s) '
                "runs each task at once, inside the request."
            )
            % {"backend": backend or _("none set: Django's immediate backend")},
            hint=_(
                "Set TASKS to a backend that queues (e.g. django_tasks_db.DatabaseBackend) "
                'and run its worker, or use DISPATCH "inline".'
            ),
            id="imcallback.E015",
        )
    ]


def _decision_checks(raw: dict[str, Any]) -> list[checks.CheckMessage]:
    """RECORD and DECISION_DEFAULTS: at run time a bad value falls back (record all,
    allow) with an error in the log, so that no misconfiguration refuses a user's action;
    here it is an error before the server starts."""
    messages: list[checks.CheckMessage] = []
    record = raw.get("RECORD", {})
    if not isinstance(record, dict) or any(v not in RECORD_POLICIES for v in record.values()):
        messages.append(
            checks.Error(
                _(
                    'IMCALLBACK["RECORD"] must map command names (or "*") to one of '
                    "%(policies)s, got %(value)r."
                )
                % {"policies": ", ".join(RECORD_POLICIES), "value": record},
                hint=_('e.g. {"callbackBeforeSendSingleMsgCommand": "decisions"}'),
                id="imcallback.E011",
            )
        )
    defaults = raw.get("DECISION_DEFAULTS", {})

    def valid(value: Any) -> bool:
        if value == "allow":
            return True
        return (
            isinstance(value, dict)
            and isinstance(value.get("errCode"), int)
            and isinstance(value.get("errMsg"), str)
        )

    if not isinstance(defaults, dict) or not all(valid(v) for v in defaults.values()):
        messages.append(
            checks.Error(
                _(
                    'IMCALLBACK["DECISION_DEFAULTS"] must map command names (or "*") to '
                    '"allow" or a block, got %(value)r.'
                )
                % {"value": defaults},
                hint=_(
                    'e.g. {"*": "allow", "callbackBeforeSendGroupMsgCommand": '
                    '{"errCode": 5000, "errMsg": "Moderation is unavailable"}}'
                ),
                id="imcallback.E012",
            )
        )
    return messages


@checks.register(checks.Tags.urls)
def check_urls(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The endpoint is mounted (else every callback is a 404), and so is the bare url old
    servers post to (else Django's APPEND_SLASH redirect loses their bodies)."""
    try:
        reverse(
            "django_imcallback:callback", kwargs={"command": "callbackAfterDisMissGroupCommand"}
        )
    except NoReverseMatch:
        return [
            checks.Warning(
                _("django_imcallback.urls is not mounted: OpenIM's callbacks reach no view."),
                hint=_(
                    'Add path("imcallback/", include("django_imcallback.urls")) to your URLconf.'
                ),
                id="imcallback.W002",
            )
        ]
    try:
        reverse("imcallback-bare")
    except NoReverseMatch:
        return [
            checks.Info(
                _("The bare webhook url (without its slash) is not mounted."),
                hint=_(
                    'Old OpenIM servers post to it: add bare_url("imcallback") from '
                    "django_imcallback.urls beside the include, or silence imcallback.I001."
                ),
                id="imcallback.I001",
            )
        ]
    return []
