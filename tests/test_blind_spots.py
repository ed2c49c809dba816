"""Tests for what the suite did not guard: each one-line bug here once survived it.

Thirty-four one-line bugs were planted in the code one at a time and the suite run on
both databases; these tests catch the nine that survived, and replace two tests that
could not fail.
"""

import io
import threading
from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from django_imcallback.checks import check_settings
from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.replay import replay_events
from django_imcallback.signals import group_dismissed
from django_imcallback.views import CallbackView

from .conftest import SUCCESS, go_json, requires_postgres
from .factories import DISMISS, CallbackEventFactory, DismissedGroupFactory, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch
EVENTS = reverse("admin:django_imcallback_callbackevent_changelist")


@pytest.mark.parametrize("remote", ["not-an-address", "", "999.1.1.1"])
def test_an_unparseable_client_address_is_refused_by_the_allowlist(post, settings, remote):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["0.0.0.0/0", "::/0"]}  # everybody who has an address

    response = post(DismissPayloadFactory(), REMOTE_ADDR=remote)

    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


def test_a_body_without_content_length_is_refused_past_the_limit(settings):
    settings.IMCALLBACK = {"MAX_BODY_BYTES": 100}
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/imcallback/{DISMISS}",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b"x" * 5000),
            "wsgi.url_scheme": "http",
        }
    )

    response = CallbackView.as_view()(request, command=DISMISS)

    assert response.status_code == 413
    event = CallbackEvent.objects.get()
    assert (event.status, event.body_size) == (Status.INVALID, 101)


def test_proxy_authorization_is_never_stored(post):
    post(DismissPayloadFactory(), headers={"Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA=="})

    headers = {name.lower() for name in CallbackEvent.objects.get().headers}
    assert "proxy-authorization" not in headers
    assert "operationid" in headers  # the other headers are kept


def test_the_urls_command_wins_over_the_bodys(post, received_signals):
    body = {**DismissPayloadFactory(), "callbackCommand": "callbackAfterSomethingElseCommand"}

    assert post(body, DISMISS).json() == SUCCESS

    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (DISMISS, Status.PROCESSED)
    assert DismissedGroup.objects.count() == 1


@pytest.mark.parametrize("state", [Dispatch.PENDING, Dispatch.QUEUED, Dispatch.SENDING])
def test_replay_leaves_fresh_owed_events_alone_and_takes_stale_ones(state, received_signals):
    body = go_json(DismissPayloadFactory())
    fresh = CallbackEventFactory(body=body, dispatch_state=state, processed_at=timezone.now())
    stale = CallbackEventFactory(body=body, dispatch_state=state)
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.filter(pk=stale.pk).update(received_at=hour_ago, processed_at=hour_ago)

    report = replay_events(CallbackEvent.objects.order_by("pk"))

    assert report.skipped == [fresh.pk]
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert (fresh.attempts, fresh.dispatch_state) == (0, state)
    assert (stale.attempts, stale.dispatch_state) == (1, Dispatch.SENT)


def test_prune_older_than_counts_days_not_hours():
    kept = CallbackEventFactory()
    gone = CallbackEventFactory()
    now = timezone.now()
    CallbackEvent.objects.filter(pk=kept.pk).update(received_at=now - timedelta(hours=12))
    CallbackEvent.objects.filter(pk=gone.pk).update(received_at=now - timedelta(hours=36))

    call_command("imcallback_prune", "--older-than", "1")

    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_replay_limit_is_honoured(capsys):
    for _ in range(5):
        CallbackEventFactory(body=go_json(DismissPayloadFactory()), status=Status.FAILED)

    call_command("imcallback_replay", "--limit", "2")

    statuses = list(CallbackEvent.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [Status.PROCESSED] * 2 + [Status.FAILED] * 3
    assert "Replayed 2 event(s)" in capsys.readouterr().out


def test_a_bad_dispatch_setting_is_a_check_error(settings):
    settings.IMCALLBACK = {"DISPATCH": "celery"}

    assert "imcallback.E009" in [message.id for message in check_settings()]


def test_a_bad_permission_class_is_a_check_error(settings):
    settings.IMCALLBACK = {"PERMISSION_CLASSES": ["no.such.Permission"]}

    assert "imcallback.E010" in [message.id for message in check_settings()]


def test_events_are_searchable_by_operation_id(admin_client):
    CallbackEventFactory(operation_id="op-wanted")
    CallbackEventFactory(operation_id="op-other")

    response = admin_client.get(EVENTS, {"q": "op-wanted"})

    assert [event.operation_id for event in response.context["cl"].result_list] == ["op-wanted"]


@requires_postgres  # SQLite's in-memory test database is not shared across threads
@pytest.mark.parametrize("record_first_bytes", [0, 64 * 1024])
def test_receivers_run_after_commit_seen_from_another_connection(
    post, settings, record_first_bytes
):
    """Another connection (a task queue, a service) sees the rows a receiver is told of.

    On PostgreSQL this runs both routes: the one statement and the transaction."""
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": record_first_bytes}
    seen = []

    def look(group_id):
        try:
            seen.append(DismissedGroup.objects.filter(group_id=group_id).exists())
        finally:
            connections.close_all()

    def receiver(sender, dismissal, event, **kwargs):
        thread = threading.Thread(target=look, args=(dismissal.group_id,))
        thread.start()
        thread.join()

    group_dismissed.connect(receiver, weak=False)
    try:
        assert post(DismissPayloadFactory(groupID="g-after-commit")).json() == SUCCESS
    finally:
        group_dismissed.disconnect(receiver)

    assert seen == [True]


@pytest.mark.parametrize("model", ["callbackevent", "dismissedgroup", "dismissedgroupmember"])
def test_the_admin_cannot_add_change_or_delete(admin_client, model):
    obj = {
        "callbackevent": CallbackEventFactory,
        "dismissedgroup": DismissedGroupFactory,
        "dismissedgroupmember": lambda: DismissedGroupFactory().members.create(user_id="u"),
    }[model]()
    change = reverse(f"admin:django_imcallback_{model}_change", args=[obj.pk])
    delete = reverse(f"admin:django_imcallback_{model}_delete", args=[obj.pk])

    assert admin_client.get(reverse(f"admin:django_imcallback_{model}_add")).status_code == 403
    assert admin_client.post(change, {}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.usefixtures("received_signals")
def test_replay_without_force_leaves_stale_announced_events_alone():
    body = go_json(DismissPayloadFactory())
    done = CallbackEventFactory(body=body, dispatch_state=Dispatch.SENT)
    failed = CallbackEventFactory(body=body, status=Status.FAILED)
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.update(received_at=hour_ago, processed_at=hour_ago)

    report = replay_events(CallbackEvent.objects.order_by("pk"))

    assert report.skipped == [done.pk]
    assert CallbackEvent.objects.get(pk=failed.pk).attempts == 1


def test_force_replays_failed_events_as_well_as_done_ones():
    body = go_json(DismissPayloadFactory())
    failed = CallbackEventFactory(body=body, status=Status.FAILED)
    done = CallbackEventFactory(body=body, status=Status.PROCESSED)

    report = replay_events(CallbackEvent.objects.order_by("pk"), force=True)

    assert report.skipped == []
    assert {e.pk: e.attempts for e in CallbackEvent.objects.all()} == {failed.pk: 1, done.pk: 1}


def test_a_dry_run_goes_past_events_it_would_skip():
    body = go_json(DismissPayloadFactory())
    skipped = CallbackEventFactory(body=body, status=Status.PROCESSED)
    failed = CallbackEventFactory(body=body, status=Status.FAILED)

    report = replay_events(CallbackEvent.objects.order_by("pk"), dry_run=True)

    assert report.skipped == [skipped.pk]
    assert dict(report.outcomes) == {"to replay": 1}
    assert CallbackEvent.objects.get(pk=failed.pk).attempts == 0
