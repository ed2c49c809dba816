"""The Django Tasks: ``announce_event`` sends an event's signals on a worker
(``IMCALLBACK["DISPATCH"] = "task"``), ``sync_mirror`` runs ``imcallback_sync``.

Imported only where a task is used. Uses ``django.tasks`` on Django 6.0+ and the ``django-tasks``
backport before that, so the host chooses the engine with its ``TASKS`` setting.

The worker *claims* the event (``queued`` -> ``sending``, ``lifecycle.claim_for_sending``)
before it sends anything, so a task that runs twice (a retry, a duplicate enqueue, two
workers) announces once. It sends what storing kept on the event (``lifecycle.kept``):
nothing is stored again.
"""

from __future__ import annotations

from datetime import timedelta

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: pip install 'django-imcallback[tasks]'
    from django_tasks import task  # type: ignore[no-redef]

from . import announcing, lifecycle
from .commands import Outcome, parse_payload, registry
from .models import CallbackEvent
from .sync import client_from_settings, sync

Dispatch = CallbackEvent.Dispatch


def send_queued(event_id: int) -> str:
    """Claim a queued event, then announce it. Returns what happened."""
    if not lifecycle.claim_for_sending(event_id):
        return "skipped: not queued (already sent, or being sent by another worker)"
    event = CallbackEvent.objects.get(pk=event_id)
    outcome = lifecycle.kept(event) or Outcome(event.status)
    handler = registry.get(event.command)
    if not announcing.send(event, handler, outcome, parse_payload(bytes(event.body))):
        raise RuntimeError(f"A receiver of event {event_id} raised; see the event's error.")
    return "sent"


@task()
def announce_event(event_id: int) -> str:
    """Send the signals of one committed event, once, however often this task runs."""
    return send_queued(event_id)


@task()
def sync_mirror(group_ids: list[str] | None = None, skip_recent_minutes: int | None = None) -> str:
    """``imcallback_sync`` as a task, for a host's scheduler: the mirror made to agree with
    the server's REST API. Returns the summary."""
    skip = timedelta(minutes=skip_recent_minutes) if skip_recent_minutes is not None else None
    return sync(client_from_settings(), group_ids=group_ids, skip_recent=skip).summary()
