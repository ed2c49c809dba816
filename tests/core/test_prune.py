"""imcallback_prune: what it deletes, what it keeps."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_imcallback import mirror
from django_imcallback.models import (
    CallbackEvent,
    DismissedGroup,
    DismissedGroupMember,
    IMGroup,
)
from django_imcallback.openim import body

from ..factories import (
    CallbackEventFactory,
    DismissedGroupFactory,
    DismissedGroupMemberFactory,
    dismiss_event,
)

CREATE = "callbackAfterCreateGroupCommand"
QUIT = "callbackAfterQuitGroupCommand"

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


def aged(obj, days):
    type(obj).objects.filter(pk=obj.pk).update(received_at=timezone.now() - timedelta(days=days))
    return obj


def test_prune_deletes_old_events_in_batches_and_keeps_dismissals(capsys):
    old = [aged(dismiss_event(), 40) for _ in range(5)]
    recent = dismiss_event()
    dismissal = DismissedGroupFactory(event=old[0])

    call_command("imcallback_prune", "--older-than", "30", "--batch-size", "2")

    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    dismissal.refresh_from_db()
    assert dismissal.event is None
    assert "Deleted 5 event(s)" in capsys.readouterr().out


def test_prune_keeps_failed_events_unless_asked():
    failed = aged(dismiss_event(status=Status.FAILED), 40)

    call_command("imcallback_prune", "--older-than", "30")
    assert CallbackEvent.objects.filter(pk=failed.pk).exists()

    call_command("imcallback_prune", "--older-than", "30", "--include-failed")
    assert not CallbackEvent.objects.exists()


def test_prune_can_include_dismissals_with_their_members():
    old = aged(DismissedGroupFactory(), 40)
    DismissedGroupMemberFactory.create_batch(3, dismissal=old)
    recent = DismissedGroupFactory()
    DismissedGroupMemberFactory(dismissal=recent)

    call_command("imcallback_prune", "--older-than", "30", "--include-dismissals")

    assert list(DismissedGroup.objects.all()) == [recent]
    assert DismissedGroupMember.objects.count() == 1


def test_prune_dry_run_deletes_nothing(capsys):
    aged(dismiss_event(), 40)

    call_command("imcallback_prune", "--older-than", "30", "--dry-run")

    assert CallbackEvent.objects.count() == 1
    assert "Would delete 1 event(s)" in capsys.readouterr().out


def test_prune_older_than_counts_days_not_hours():
    kept = CallbackEventFactory()
    gone = CallbackEventFactory()
    now = timezone.now()
    CallbackEvent.objects.filter(pk=kept.pk).update(received_at=now - timedelta(hours=12))
    CallbackEvent.objects.filter(pk=gone.pk).update(received_at=now - timedelta(hours=36))

    call_command("imcallback_prune", "--older-than", "1")

    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_prune_older_than_zero_deletes_everything_received_before_now():
    earlier = dismiss_event()
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.filter(pk=earlier.pk).update(received_at=hour_ago)

    call_command("imcallback_prune", "--older-than", "0")

    assert not CallbackEvent.objects.filter(pk=earlier.pk).exists()


@pytest.mark.parametrize("dry_run", [True, False])
def test_prune_says_which_group_history_goes_with_the_events(post, capsys, dry_run):
    post(body(CREATE, group_id="g-old", user_id="own", user_ids=["own", "a"]), CREATE)
    post(body(QUIT, group_id="g-old", user_ids=["a"]), QUIT)
    CallbackEvent.objects.update(received_at=timezone.now() - timedelta(days=40))
    mirrored = list(IMGroup.objects.get().members.values_list("user_id", "left_at"))

    call_command("imcallback_prune", "--older-than", "30", *(["--dry-run"] if dry_run else []))

    out = capsys.readouterr().out
    verb = "would leave" if dry_run else "left"
    assert f'With them, 2 group change(s) {verb} the groups\' "events that shaped it"' in out
    assert mirror.history(IMGroup.objects.get()).count() == (2 if dry_run else 0)
    assert list(IMGroup.objects.get().members.values_list("user_id", "left_at")) == mirrored
