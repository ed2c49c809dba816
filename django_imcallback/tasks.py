"""The Django Task that announces an event on a worker (``IMCALLBACK["DISPATCH"] = "task"``).

Imported only in task mode. Uses ``django.tasks`` on Django 6.0+ and the ``django-tasks``
backport before that, so the host chooses the engine with its ``TASKS`` setting.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: pip install 'django-imcallback[tasks]'
    from django_tasks import task  # type: ignore[no-redef]

from .dispatch import announce_queued


@task()
def announce_event(event_id: int) -> str:
    """Send the signals of one committed event, once, however often this task runs."""
    return announce_queued(event_id)
