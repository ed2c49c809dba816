"""Task mode: acknowledged in the request, announced by a worker."""

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.replay import replay_events
from django_imcallback.tasks import send_queued

from ..conftest import SUCCESS, go_json, requires_postgres
from ..factories import DismissPayloadFactory
from ..testapp.models import Announcement

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


Dispatch = CallbackEvent.Dispatch


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def task_mode(settings):
    settings.IMCALLBACK = {"DISPATCH": "task"}


@pytest.mark.usefixtures("task_mode")
def test_task_mode_acknowledges_and_a_task_announces(post, dismissed_signals, received_signals):
    response = post(DismissPayloadFactory(groupID="g1", membersID=["a"]))

    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.SENT)
    assert [call["dismissal"].group_id for call in dismissed_signals] == ["g1"]
    assert len(received_signals) == 1


@pytest.mark.usefixtures("task_mode")
def test_a_task_that_runs_again_does_not_announce_again(post, dismissed_signals):
    post(DismissPayloadFactory())
    event = CallbackEvent.objects.get()

    outcome = send_queued(event.pk)

    assert outcome.startswith("skipped")
    assert len(dismissed_signals) == 1


@pytest.mark.usefixtures("task_mode")
def test_duplicates_are_not_announced_as_dismissals_by_their_tasks(post, dismissed_signals):
    payload = DismissPayloadFactory()
    post(payload)
    post({**payload, "membersID": None})

    assert len(dismissed_signals) == 1
    states = set(CallbackEvent.objects.values_list("status", "dispatch_state"))
    assert states == {(Status.PROCESSED, Dispatch.SENT), (Status.DUPLICATE, Dispatch.SENT)}


@pytest.mark.usefixtures("task_mode")
def test_a_failing_task_marks_the_event_failed_and_replay_requeues(
    post, failing_receiver, dismissed_signals
):

    post(DismissPayloadFactory(groupID="g1"))
    event = CallbackEvent.objects.get()
    assert (event.status, event.dispatch_state) == (Status.FAILED, Dispatch.FAILED)
    assert "receiver exploded" in event.error
    failing_receiver.fixed = True

    replay_events([event])

    event.refresh_from_db()
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.SENT)
    assert event.attempts == 2
    # The worker retries the receiver that failed, and only it.
    assert failing_receiver.calls == 2
    assert [call["dismissal"].group_id for call in dismissed_signals] == ["g1"]


@pytest.mark.usefixtures("dismissed_signals")
def test_inline_mode_marks_the_announcement_sent(post):
    post(DismissPayloadFactory())

    assert CallbackEvent.objects.get().dispatch_state == Dispatch.SENT


@pytest.mark.usefixtures("dismissed_signals")
def test_a_lost_enqueue_is_logged_and_replayable(post, settings, monkeypatch, caplog):
    settings.IMCALLBACK = {"DISPATCH": "task"}
    from django_imcallback import tasks

    def broken(*args, **kwargs):
        raise ConnectionError("queue down")

    monkeypatch.setattr(tasks, "announce_event", SimpleNamespace(enqueue=broken))

    assert post(DismissPayloadFactory()).status_code == 200

    event = CallbackEvent.objects.get()
    assert event.dispatch_state == Dispatch.QUEUED
    [logged] = [r for r in caplog.records if r.getMessage().startswith("Could not enqueue")]
    assert logged.getMessage() == f"Could not enqueue the announcement of event {event.pk}."
    assert logged.exc_info is not None


@requires_postgres
def test_two_db_workers_drain_a_burst_with_duplicates_exactly_once(post, settings):
    """End to end: django-tasks-db, two real `manage.py db_worker` processes, PostgreSQL."""
    settings.IMCALLBACK = {"DISPATCH": "task"}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    groups = [f"burst-{i}" for i in range(40)]
    for group_id in groups:
        body = go_json(DismissPayloadFactory(groupID=group_id, membersID=["a", "b"]))
        assert post(body).status_code == 200
        assert post(body).status_code == 200  # the same copy again
        empty = go_json({**DismissPayloadFactory(groupID=group_id), "membersID": None})
        assert post(empty).status_code == 200
    assert CallbackEvent.objects.filter(dispatch_state=Dispatch.QUEUED).count() == 120

    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "IMCALLBACK_TEST_TASKS": "db",
        "IMCALLBACK_RECORD_ANNOUNCEMENTS": "1",
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "db_worker",
                "--interval",
                "0.1",
                "--no-startup-delay",
                "--worker-id",
                f"w{i}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            pending = CallbackEvent.objects.exclude(dispatch_state=Dispatch.SENT).count()
            if not pending:
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
        outputs = [worker.communicate(timeout=30)[0].decode() for worker in workers]

    assert pending == 0, outputs
    assert DismissedGroup.objects.count() == 40
    announced = list(Announcement.objects.values_list("group_id", flat=True))
    assert sorted(announced) == sorted(groups), "each dismissal announced exactly once"
    pids = set(Announcement.objects.values_list("pid", flat=True))
    assert os.getpid() not in pids, "announced by the workers, not in the request"


@pytest.fixture
def queued_event(post, settings, monkeypatch):
    """A delivery acknowledged in task mode whose task has not run yet."""
    from django_imcallback import pipeline

    settings.IMCALLBACK = {"DISPATCH": "task"}
    monkeypatch.setattr(pipeline, "_announce", lambda *args: None)  # leave it queued
    post(DismissPayloadFactory())
    monkeypatch.undo()
    return CallbackEvent.objects.get()


@pytest.mark.usefixtures("failing_receiver")
def test_a_task_whose_receiver_raises_fails_in_the_backend_too(queued_event):
    """The worker raises, so the task backend records the failure as well as the event."""
    event = queued_event

    with pytest.raises(RuntimeError, match=f"receiver of event {event.pk} raised"):
        send_queued(event.pk)

    event.refresh_from_db()
    assert (event.status, event.dispatch_state) == (Status.FAILED, Dispatch.FAILED)


def test_a_queued_announcement_sent_by_its_task_reports_sent(queued_event):
    assert send_queued(queued_event.pk) == "sent"
    assert send_queued(queued_event.pk).startswith("skipped: not queued")
