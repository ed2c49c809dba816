"""The bulk statements (sql.py): every size stored exactly."""

import pytest

from django_imcallback import sql
from django_imcallback.models import DismissedGroupMember

from ..factories import DismissedGroupFactory

pytestmark = pytest.mark.django_db


def insert_members(dismissal_id, user_ids):
    sql.insert_children(
        DismissedGroupMember, "dismissal", "user_id", dismissal_id, user_ids, "default"
    )


AWKWARD = ["tab\there", "new\nline", "back\\slash", "quote'\"", "ünï©ødé", "\\N", "emoji 🎉", "a,b"]


@pytest.mark.parametrize("size", [1, sql.COPY_THRESHOLD - 1, sql.COPY_THRESHOLD, 12_345])
def test_every_size_is_stored_exactly(size):
    dismissal = DismissedGroupFactory()
    user_ids = AWKWARD + [f"user-{i}" for i in range(size - len(AWKWARD))]
    user_ids = user_ids[:size]

    insert_members(dismissal.pk, user_ids)

    stored = DismissedGroupMember.objects.filter(dismissal=dismissal)
    assert sorted(stored.values_list("user_id", flat=True)) == sorted(user_ids)


def test_small_batches_and_thresholds_still_cover_every_row(monkeypatch):
    monkeypatch.setattr(sql, "BATCH_SIZE", 7)
    monkeypatch.setattr(sql, "COPY_THRESHOLD", 0)
    dismissal = DismissedGroupFactory()
    user_ids = [f"u{i}" for i in range(30)]

    insert_members(dismissal.pk, user_ids)

    assert DismissedGroupMember.objects.filter(dismissal=dismissal).count() == 30


def test_nothing_to_insert_is_a_no_op(django_assert_num_queries):
    with django_assert_num_queries(0):
        insert_members(1, [])
