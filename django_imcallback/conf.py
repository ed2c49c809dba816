"""Settings of django-imcallback, all under one dict: ``settings.IMCALLBACK``.

Every value is read from ``django.conf.settings`` on each access, so
``override_settings(IMCALLBACK=...)`` works without any reload hook. Parsing
(CIDR networks, credentials) is cached on the raw value, so a request pays for it
once per distinct configuration, not once per request.
"""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULTS: dict[str, Any] = {
    # "user:password" pairs accepted as HTTP Basic credentials. A list, so that
    # credentials can be rotated: add the new pair, switch OpenIM, remove the old.
    "BASIC_AUTH": [],
    # Addresses or CIDR networks (IPv4 and IPv6) allowed to call. Empty: any.
    "ALLOWED_IPS": [],
    # Reverse proxies whose X-Forwarded-For header may be believed.
    "TRUSTED_PROXIES": [],
    # A secret first path segment: imcallback/<SECRET_PATH>/<command>. Empty: none.
    "SECRET_PATH": "",
    # Largest request body accepted; larger ones are answered 413. The default
    # holds a dismissal of a million members with 40-character user IDs.
    "MAX_BODY_BYTES": 64 * 1024 * 1024,
    # Bodies larger than this are committed as an event before processing starts, so a
    # worker killed during a long insert leaves a replayable record. Smaller ones are
    # recorded in the transaction that stores them (fewer round trips); 0: always first.
    "RECORD_FIRST_BYTES": 64 * 1024,
    # "inline": send the signals in the request, after commit. "task": enqueue a Django
    # Task that sends them on a worker (django.tasks, or the django-tasks backport).
    "DISPATCH": "inline",
    # DRF permission classes that decide who may call, in order; the first that refuses
    # answers. Add your own, or replace these.
    "PERMISSION_CLASSES": [
        "django_imcallback.permissions.AllowedIPs",
        "django_imcallback.permissions.BasicAuth",
        "django_imcallback.permissions.SecretPath",
    ],
    # Which deliveries of a command are written to the database: a dict from command
    # name (or "*") to "all", "decisions" (before-callbacks answered with a block or a
    # change, plus failures and invalid bodies) or "failures" (failures and invalid bodies).
    "RECORD": {},
    # The verdict answered when a decider fails: a dict from command (or "*") to "allow"
    # or a block, {"errCode": ..., "errMsg": ..., "errDlt": ...}. Default: allow.
    "DECISION_DEFAULTS": {},
    # A decider slower than this (milliseconds) is logged and marked on its event.
    "DECISION_BUDGET_MS": 1000,
    # The server's admin users (its share.yml imAdminUser.userIDs): when one creates a
    # group through the REST API, the creation's callback lists it, though it never joins.
    "ADMIN_USER_IDS": ["imAdmin"],
    # The server's REST API, for imcallback_sync: {"URL": "http://openim-server:10002",
    # "SECRET": share.yml's secret, "ADMIN_USER_ID": "imAdmin", "TIMEOUT": 10}. Empty: none.
    "OPENIM_API": {},
}

RECORD_POLICIES = ("all", "decisions", "failures")

DISPATCH_MODES = ("inline", "task")


@dataclass(frozen=True)
class OpenIMAPI:
    url: str
    secret: str
    admin_user_id: str
    timeout: float


OPENIM_API_KEYS = ("URL", "SECRET", "ADMIN_USER_ID", "TIMEOUT")


@dataclass(frozen=True)
class Credential:
    username: str
    password: str


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            _('IMCALLBACK["%(name)s"] must be a list, not %(type)s.')
            % {"name": name, "type": type(value).__name__}
        )
    return list(value)


@lru_cache(maxsize=32)
def parse_networks(name: str, values: tuple[Any, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for value in values:
        if not isinstance(value, str):
            raise ImproperlyConfigured(
                _('IMCALLBACK["%(name)s"] entries must be strings, got %(value)r.')
                % {"name": name, "value": value}
            )
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                _(
                    'IMCALLBACK["%(name)s"] has %(value)r, which is not an IP address or '
                    "network: %(error)s."
                )
                % {"name": name, "value": value, "error": exc}
            ) from exc
    return tuple(networks)


def tasks_framework_error() -> str:
    """Why task mode cannot work here, or "" when it can."""
    for module in ("django.tasks", "django_tasks"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return ""
    return _(
        'IMCALLBACK["DISPATCH"] = "task" needs Django\'s Tasks framework: Django 6.0+, or '
        "the django-tasks backport (pip install 'django-imcallback[tasks]')."
    )


@lru_cache(maxsize=32)
def import_classes(name: str, paths: tuple[Any, ...]) -> tuple[type, ...]:
    classes = []
    for path in paths:
        try:
            classes.append(import_string(path) if isinstance(path, str) else path)
        except ImportError as exc:
            message = _('IMCALLBACK["%(name)s"] has %(path)r: %(error)s')
            raise ImproperlyConfigured(
                message % {"name": name, "path": path, "error": exc}
            ) from exc
        if not isinstance(classes[-1], type):
            message = _('IMCALLBACK["%(name)s"] has %(path)r, which is not a class.')
            raise ImproperlyConfigured(message % {"name": name, "path": path})
    return tuple(classes)


@lru_cache(maxsize=32)
def parse_credentials(values: tuple[Any, ...]) -> tuple[Credential, ...]:
    credentials = []
    for position, value in enumerate(values):
        username, _sep, password = value.partition(":") if isinstance(value, str) else ("", "", "")
        if not (username and password):
            # The value is a secret: name its position, never echo it.
            raise ImproperlyConfigured(
                _(
                    'IMCALLBACK["BASIC_AUTH"][%(position)d] is not a "user:password" string '
                    "with a non-empty user and password."
                )
                % {"position": position}
            )
        credentials.append(Credential(username, password))
    return tuple(credentials)


def unknown_keys(raw: dict[str, Any]) -> list[Any]:
    """The keys of ``raw`` that are not settings, sorted."""
    return sorted(set(raw) - set(DEFAULTS), key=str)


def unknown_keys_message(raw: dict[str, Any]) -> str:
    """What is wrong with the keys of ``raw`` that are not settings, each with the setting
    it is closest to."""
    parts = []
    for key in unknown_keys(raw):
        close = difflib.get_close_matches(str(key), list(DEFAULTS), n=1)
        hint = _(" (did you mean %(setting)r?)") % {"setting": close[0]} if close else ""
        parts.append(f"{key!r}{hint}")
    return _("IMCALLBACK has an unknown key: %(keys)s.") % {"keys": ", ".join(parts)}


class Settings:
    """Typed, always-current view of ``settings.IMCALLBACK``."""

    @property
    def raw(self) -> dict[str, Any]:
        value = getattr(django_settings, "IMCALLBACK", {})
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                _("settings.IMCALLBACK must be a dict, not %(type)s.")
                % {"type": type(value).__name__}
            )
        return value

    def _get(self, name: str) -> Any:
        raw = self.raw
        if not raw.keys() <= DEFAULTS.keys():
            # A misspelt key may be a caller check that is not in force: refuse everyone.
            raise ImproperlyConfigured(unknown_keys_message(raw))
        return raw.get(name, DEFAULTS[name])

    @property
    def basic_auth(self) -> tuple[Credential, ...]:
        return parse_credentials(tuple(_as_list("BASIC_AUTH", self._get("BASIC_AUTH"))))

    @property
    def allowed_ips(self) -> tuple[IPNetwork, ...]:
        values = tuple(_as_list("ALLOWED_IPS", self._get("ALLOWED_IPS")))
        return parse_networks("ALLOWED_IPS", values)

    @property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        values = tuple(_as_list("TRUSTED_PROXIES", self._get("TRUSTED_PROXIES")))
        return parse_networks("TRUSTED_PROXIES", values)

    @property
    def secret_path(self) -> str:
        value = self._get("SECRET_PATH") or ""
        if not isinstance(value, str) or "/" in value or value != value.strip():
            raise ImproperlyConfigured(
                _(
                    'IMCALLBACK["SECRET_PATH"] must be a string with no "/" and no '
                    "surrounding spaces."
                )
            )
        return value

    def _size(self, name: str, minimum: int) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ImproperlyConfigured(
                _(
                    'IMCALLBACK["%(name)s"] must be an integer of at least %(minimum)d, '
                    "got %(value)r."
                )
                % {"name": name, "minimum": minimum, "value": value}
            )
        return value

    @property
    def max_body_bytes(self) -> int:
        return self._size("MAX_BODY_BYTES", 1)

    @property
    def record_first_bytes(self) -> int:
        return self._size("RECORD_FIRST_BYTES", 0)

    @property
    def dispatch(self) -> str:
        value = self._get("DISPATCH")
        if value not in DISPATCH_MODES:
            raise ImproperlyConfigured(
                _('IMCALLBACK["DISPATCH"] must be one of %(modes)s, got %(value)r.')
                % {"modes": ", ".join(DISPATCH_MODES), "value": value}
            )
        if value == "task" and (error := tasks_framework_error()):
            raise ImproperlyConfigured(error)
        return str(value)

    @property
    def permission_classes(self) -> tuple[type, ...]:
        paths = tuple(_as_list("PERMISSION_CLASSES", self._get("PERMISSION_CLASSES")))
        return import_classes("PERMISSION_CLASSES", paths)

    @property
    def admin_user_ids(self) -> frozenset[str]:
        values = _as_list("ADMIN_USER_IDS", self._get("ADMIN_USER_IDS"))
        if not all(isinstance(value, str) and value for value in values):
            raise ImproperlyConfigured(
                _('IMCALLBACK["ADMIN_USER_IDS"] must be a list of user IDs, got %(value)r.')
                % {"value": values}
            )
        return frozenset(values)

    @property
    def openim_api(self) -> OpenIMAPI:
        """The server's REST API; ``ImproperlyConfigured`` when it is not (fully) set."""
        value = self._get("OPENIM_API")
        if not isinstance(value, dict) or set(value) - set(OPENIM_API_KEYS):
            raise ImproperlyConfigured(
                _('IMCALLBACK["OPENIM_API"] must be a dict with the keys %(keys)s, got %(value)r.')
                % {"keys": ", ".join(OPENIM_API_KEYS), "value": value}
            )
        url, secret = value.get("URL"), value.get("SECRET")
        if not (isinstance(url, str) and url.startswith(("http://", "https://"))) or not (
            isinstance(secret, str) and secret
        ):
            raise ImproperlyConfigured(
                _(
                    'IMCALLBACK["OPENIM_API"] needs "URL" (the server\'s API, e.g. '
                    'http://openim-server:10002) and "SECRET" (share.yml\'s secret).'
                )
            )
        admin, timeout = value.get("ADMIN_USER_ID", "imAdmin"), value.get("TIMEOUT", 10)
        if not isinstance(admin, str) or not admin or isinstance(timeout, bool):
            raise ImproperlyConfigured(
                _('IMCALLBACK["OPENIM_API"]["ADMIN_USER_ID"] must be a user ID.')
            )
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ImproperlyConfigured(_('IMCALLBACK["OPENIM_API"]["TIMEOUT"] must be seconds.'))
        return OpenIMAPI(url, secret, admin, float(timeout))

    @property
    def decision_budget_ms(self) -> int:
        return self._size("DECISION_BUDGET_MS", 1)

    def per_command(self, name: str, command: str, fallback: Any) -> Any:
        """The value a per-command dict setting (``RECORD``, ``DECISION_DEFAULTS``) holds for
        ``command`` (any case), else for ``"*"``, else ``fallback``; unchecked."""
        values = self._get(name)
        if not isinstance(values, dict):
            return fallback
        lowered = {str(key).lower(): value for key, value in values.items()}
        return lowered.get(command.lower(), lowered.get("*", fallback))

    def record_policy(self, command: str) -> str:
        """``command``'s record policy; "all" (with the error logged) when misconfigured."""
        value = self.per_command("RECORD", command, "all")
        if value not in RECORD_POLICIES:
            logging.getLogger("django_imcallback").error(
                'IMCALLBACK["RECORD"] must map commands to one of %s; recording everything.',
                ", ".join(RECORD_POLICIES),
            )
            return "all"
        return str(value)

    @property
    def is_open(self) -> bool:
        """True when no caller check is configured and no permission class of the host's
        own is installed."""
        own = set(self.permission_classes) - set(
            import_classes("PERMISSION_CLASSES", tuple(DEFAULTS["PERMISSION_CLASSES"]))
        )
        return not (self.basic_auth or self.allowed_ips or self.secret_path or own)


imcallback_settings = Settings()
