"""The Django Tasks: ``announce_event`` sends an event's signals on a worker
(``IMCALLBACK["DISPATCH"] = "task"``), ``sync_mirror`` runs ``imcallback_sync``.

Imported only where a task is used. Uses ``django.tasks`` on Django 6.0+ and the ``django-tasks``
backport before that, so the host chooses the engine with its ``TASKS`` setting.

The worker *claims* the event (``queued`` -> ``sending``, a conditional UPDATE) before it
sends anything, so a task that runs twice (a retry, a duplicate enqueue, two workers)
announces once. It runs the handler's idempotent ``apply`` again (route 2 of
``storage``) to learn what to announce, then sends the signals.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: pip install 'django-imcallback[tasks]'
    from django_tasks import task  # type: ignore[no-redef]

from . import announcing, storage
from .commands import Outcome, parse_payload, registry
from .models import CallbackEvent
from .sync import client_from_settings, sync

Dispatch = CallbackEvent.Dispatch


def send_queued(event_id: int) -> str:
    """Claim a queued event, then announce it. Returns what happened."""
    claimed = CallbackEvent.objects.filter(pk=event_id, dispatch_state=Dispatch.QUEUED).update(
        dispatch_state=Dispatch.SENDING, processed_at=timezone.now()
    )
    if not claimed:
        return "skipped: not queued (already sent, or being sent by another worker)"
    event = CallbackEvent.objects.get(pk=event_id)
    payload = parse_payload(bytes(event.body))
    handler = registry.get(event.command)
    data = handler.validate(payload)[0] if handler else None
    outcome = Outcome(event.status)
    if handler is not None and data is not None:
        outcome = storage.store(event, handler, data, record_first_bytes=0)
    if not announcing.send(event, handler, outcome, payload):
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
