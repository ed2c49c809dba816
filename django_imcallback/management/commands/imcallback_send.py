from __future__ import annotations

import json
import random
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_imcallback import openim
from django_imcallback.commands import registry
from django_imcallback.wire.server import BEFORE, read_answer


class Command(BaseCommand):
    help = gettext_noop(
        "Send a callback exactly as an OpenIM server does (Go-style JSON, Operationid header, "
        "Basic auth from the url) and print the answer. URL is what you would put in "
        "OpenIM's webhooks.yml, e.g. http://openim:secret@127.0.0.1:8000/imcallback"
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = _(type(self).help)  # in the active language, as the options' help
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "url", nargs="?", help=_("The webhook url, as configured in webhooks.yml.")
        )
        parser.add_argument(
            "--list", action="store_true", help=_("List the commands the app knows, and stop.")
        )
        parser.add_argument(
            "--command",
            dest="callback_command",
            help=_(
                "Default: dismiss group. A command (e.g. callbackAfterJoinGroupCommand) or "
                "its webhooks.yml key (afterJoinGroup). Every command the app knows (--list) "
                "gets a body as the server builds it; others need --from-file."
            ),
        )
        parser.add_argument("--group", default="G001", help=_("groupID (default: G001)."))
        parser.add_argument("--owner", default="user123", help=_("ownerID (default: user123)."))
        parser.add_argument("--members", type=int, default=2, help=_("Member count (default: 2)."))
        parser.add_argument(
            "--users",
            help=_(
                "Comma-separated user IDs the callback is about (members, the joiner, the "
                "quitter, the kicked, the new owner); default: --members generated IDs."
            ),
        )
        parser.add_argument(
            "--from-file", metavar="FILE", help=_("Send this JSON body instead ('-': stdin).")
        )
        parser.add_argument(
            "--text", default="hello", help=_("A message command's text (default: hello).")
        )
        parser.add_argument("--operation-id", help=_("Default: generated like OpenIM's."))
        parser.add_argument(
            "--count",
            type=int,
            default=1,
            help=_(
                "Send N callbacks, each for its own group (<group>-0001, ...) with 1 to "
                "2 x --members members drawn from a pool, to seed a demo (default: 1)."
            ),
        )
        parser.add_argument("--timeout", type=float, default=5.0, help=_("Seconds (default 5)."))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            self._list()
            return
        if not options["url"]:
            raise CommandError(_("Give the webhook url (or --list)."))
        if options["callback_command"]:
            options["callback_command"] = self._resolve(
                options["callback_command"], bool(options["from_file"])
            )
        count = options["count"]
        if count < 1:
            raise CommandError(_("--count must be >= 1."))
        if count > 1 and options["from_file"]:
            raise CommandError(_("--count builds varied bodies; it cannot send --from-file."))
        refused = 0
        for index in range(count):
            sent = self._nth(options, index) if count > 1 else dict(options)
            refused += not self._send(sent)
        if refused:
            raise CommandError(
                _("The receiver did not accept %(refused)d of %(count)d callback(s).")
                % {"refused": refused, "count": count}
                if count > 1
                else _("The receiver did not accept the callback.")
            )

    def _resolve(self, name: str, own_body: bool) -> str:
        """The command ``name`` means: a command or its webhooks.yml key; a near miss of
        one is an error naming it, unless the body is the caller's own (a fork's command)."""
        declared = registry.resolve(name)
        if declared is not None:
            return declared.name
        close = registry.suggest(name)
        if own_body:
            if close:
                self.stderr.write(
                    _("Note: %(name)s is not a command the app knows (did you mean %(close)s?).")
                    % {"name": name, "close": _(" or ").join(close)}
                )
            return name
        if close:
            raise CommandError(
                _("Unknown command %(name)s. Did you mean %(close)s?")
                % {"name": name, "close": _(" or ").join(close)}
            )
        raise CommandError(
            _("No body known for %(command)s: give one with --from-file (--list shows the known).")
            % {"command": name}
        )

    def _list(self) -> None:
        for declared in registry.declarations():
            direction = _("before") if declared.before else _("after")
            self.stdout.write(
                f"{declared.name:<52} {declared.yml_key:<36} {direction:<7} {declared.family}"
            )

    def _nth(self, options: dict[str, Any], index: int) -> dict[str, Any]:
        """The ``index``-th of ``--count`` callbacks: its own group and operation ID, and
        members drawn from a pool, 1 to twice ``--members`` of them, so a demo looks real."""
        rng = random.Random(index)  # noqa: S311 - demo data, not secrets
        nth = {**options, "group": f"{options['group']}-{index + 1:04d}", "operation_id": None}
        if options["users"] is None:
            pool = [f"user{i:06d}" for i in range(1, max(50, 4 * options["members"]) + 1)]
            size = rng.randint(1, max(1, 2 * options["members"]))
            nth["users"] = ",".join(sorted(rng.sample(pool, min(size, len(pool)))))
        return nth

    def _send(self, options: dict[str, Any]) -> bool:
        """Post one callback and print the answer; whether the receiver accepted it."""
        options["operation_id"] = options["operation_id"] or openim.operation_id()
        payload = self._payload(options)
        command = options["callback_command"] or payload.get("callbackCommand")
        if not command:
            raise CommandError(_("No command: give --command or a body with callbackCommand."))
        request = openim.build_request(
            options["url"],
            command,
            openim.go_json(payload),
            options["operation_id"],
        )
        self.stderr.write(f"POST {request.url} ({len(request.body)} bytes)")
        status, answer = self._post(request, options["timeout"])
        self.stdout.write(f"HTTP {status}")
        self.stdout.write(answer)
        try:
            parsed = json.loads(answer)
            err_code = parsed.get("errCode")
        except (ValueError, AttributeError):
            parsed, err_code = None, None
        declared = registry.command(command)
        if declared is not None and declared.before and declared.name in BEFORE:
            verdict, readable = self._verdict(declared.name, payload, answer)
            self.stdout.write(verdict)
            return readable
        return status == 200 and err_code == 0

    @staticmethod
    def _verdict(command: str, request: dict[str, Any], answer: str) -> tuple[str, bool]:
        """How the server reads a before-callback's answer, and whether it can."""
        reading = read_answer(command, request, answer)
        if reading.outcome == "refused":
            message = _("OpenIM would REFUSE the action: it cannot read the answer (%(why)s).")
            return message % {"why": reading.reason}, False
        if reading.outcome == "blocked":
            message = _("OpenIM would BLOCK the action (errCode %(code)s, errMsg %(message)r).")
            error = reading.error
            return message % {"code": error["errCode"], "message": error["errMsg"]}, True
        changed = reading.changed(request)
        if changed:
            keys = ", ".join(f"{key}={value!r}" for key, value in changed.items())
            return _("OpenIM would let the action go on, CHANGED: %(keys)s.") % {"keys": keys}, True
        return _("OpenIM would let the action go on, unchanged."), True

    def _payload(self, options: dict[str, Any]) -> dict[str, Any]:
        source = options["from_file"]
        if source:
            try:
                text = sys.stdin.read() if source == "-" else Path(source).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                message = _("Cannot read %(file)s: %(error)s")
                raise CommandError(message % {"file": source, "error": exc}) from exc
            try:
                payload = json.loads(text)
            except ValueError as exc:
                message = _("%(file)s is not JSON: %(error)s")
                raise CommandError(message % {"file": source, "error": exc}) from exc
            if not isinstance(payload, dict):
                raise CommandError(_("%(file)s must hold a JSON object.") % {"file": source})
            return payload
        if options["members"] < 0:
            raise CommandError(_("--members must be >= 0."))
        members = [f"user{i:06d}" for i in range(1, options["members"] + 1)]
        if options["users"] is not None:
            members = [user for user in options["users"].split(",") if user]
        try:
            payload = openim.body(
                options["callback_command"] or openim.DISMISS_GROUP,
                group_id=options["group"],
                user_id=options["owner"],
                user_ids=members,
                text=options["text"],
                operation_id=options["operation_id"],
            )
        except ValueError as exc:  # pragma: no cover - _resolve has ruled it out
            message = _("No body known for %(command)s: give one with --from-file.")
            raise CommandError(message % {"command": options["callback_command"]}) from exc
        return payload

    def _post(self, request: openim.Request, timeout: float) -> tuple[int, str]:
        http_request = urllib.request.Request(  # noqa: S310 - the operator's own url
            request.url, data=request.body, headers=request.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, TimeoutError) as exc:
            message = _("Could not reach %(url)s: %(error)s")
            raise CommandError(message % {"url": request.url, "error": exc}) from exc
